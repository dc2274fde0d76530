package ipcchan

import (
	"fmt"
	"io/fs"

	"github.com/ipcchan/ipcchan/codec"
)

// An Option configures the opening of an object. Each Open function lists
// the options it takes; passing another is an error, not silently ignored.
type Option func(*config)

type optionSet uint

const (
	optCreate optionSet = 1 << iota
	optExclusive
	optPerm
	optCapacity
	optMsgSize
	optCodec
	optValue
	optNoEOF
)

var optionNames = []string{"Create", "Exclusive", "Perm", "Capacity", "MsgSize", "WithCodec", "Value", "NoEndOfStream"}

type config struct {
	set      optionSet
	perm     fs.FileMode
	capacity int
	msgSize  int
	codec    codec.Codec
	value    uint
	badArg   string // first out-of-range argument, reported by the Open function
}

// Create creates the object if it does not exist (O_CREAT). Without it,
// Open functions open an existing object and fail with ErrNotExist.
func Create() Option { return func(c *config) { c.set |= optCreate } }

// Exclusive, with Create, fails with ErrExist if the object exists (O_EXCL).
func Exclusive() Option { return func(c *config) { c.set |= optExclusive } }

// Perm sets the permission bits of a created object (default 0o600, owner
// only). Unlike open(2), the process umask does not apply: the object gets
// exactly this mode, so Perm(0o666) really lets every user open it.
func Perm(mode fs.FileMode) Option {
	return func(c *config) {
		c.set |= optPerm
		if mode&^fs.ModePerm != 0 {
			c.bad(fmt.Sprintf("Perm(%#o) has bits beyond the permission bits 0o777", uint32(mode)))
		}
		c.perm = mode & fs.ModePerm
	}
}

// Capacity is the most messages a queue holds (mq_maxmsg). It is used when
// creating the queue; when the queue exists, its capacity must match. The
// default is /proc/sys/fs/mqueue/msg_default, and an unprivileged process
// may ask for at most /proc/sys/fs/mqueue/msg_max (10 by default).
func Capacity(n int) Option {
	return func(c *config) {
		c.set |= optCapacity
		if n < 1 {
			c.bad(fmt.Sprintf("Capacity(%d): a queue holds at least 1 message", n))
		}
		c.capacity = n
	}
}

// MsgSize is the largest message a queue accepts, in bytes (mq_msgsize),
// including the 12-byte header of typed queues. It is used when creating
// the queue; when the queue exists, its message size must match. The
// default is /proc/sys/fs/mqueue/msgsize_default, and an unprivileged
// process may ask for at most /proc/sys/fs/mqueue/msgsize_max (8192).
func MsgSize(n int) Option {
	return func(c *config) {
		c.set |= optMsgSize
		if n < 1 {
			c.bad(fmt.Sprintf("MsgSize(%d): messages hold at least 1 byte", n))
		}
		c.msgSize = n
	}
}

// WithCodec chooses how a queue encodes its values. The default is
// codec.Raw for []byte and string (the bytes as they are, as C sends them)
// and codec.Msgpack for every other type.
func WithCodec(cd codec.Codec) Option {
	return func(c *config) {
		c.set |= optCodec
		if cd == nil {
			c.bad("WithCodec(nil)")
		}
		c.codec = cd
	}
}

// NoEndOfStream makes a zero-byte message an ordinary, empty message on
// this handle instead of the end of the stream: Receive returns it, Send
// accepts an empty value, and CloseSend is refused. It suits a server that
// reads whatever its clients send and never ends, such as cmd/mqserver.
func NoEndOfStream() Option { return func(c *config) { c.set |= optNoEOF } }

// Value is the initial count of a created semaphore.
func Value(n uint) Option { return func(c *config) { c.set |= optValue; c.value = n } }

func (c *config) bad(msg string) {
	if c.badArg == "" {
		c.badArg = msg
	}
}

// apply builds the configuration and rejects options that kind does not
// take, and out-of-range arguments.
func apply(kind, name string, allowed optionSet, opts []Option) (*config, error) {
	c := &config{perm: 0o600}
	for _, o := range opts {
		if o == nil {
			return nil, &Error{Kind: kind, Name: name, Op: "open", Err: ErrInvalid, Detail: "nil Option"}
		}
		o(c)
	}
	if c.badArg != "" {
		return nil, &Error{Kind: kind, Name: name, Op: "open", Err: ErrInvalid, Detail: c.badArg}
	}
	if extra := c.set &^ allowed; extra != 0 {
		for i, n := range optionNames {
			if extra&(1<<i) != 0 {
				return nil, &Error{Kind: kind, Name: name, Op: "open", Err: ErrInvalid,
					Detail: fmt.Sprintf("option %s does not apply to a %s", n, kind)}
			}
		}
	}
	if c.set&optExclusive != 0 && c.set&optCreate == 0 {
		return nil, &Error{Kind: kind, Name: name, Op: "open", Err: ErrInvalid,
			Detail: "Exclusive() needs Create(): it means create, and fail if it exists"}
	}
	return c, nil
}

func (c *config) has(o optionSet) bool { return c.set&o != 0 }
