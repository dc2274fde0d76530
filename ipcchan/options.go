package ipcchan

import (
	"fmt"
	"io/fs"

	"github.com/ipcchan/ipcchan/codec"
	"github.com/ipcchan/ipcchan/internal/options"
)

// An Option configures the opening of an object. Each Open function lists
// the options it takes; passing another is an error, not silently ignored.
// The queue options also configure the queues of other transports
// (natsq.Open).
type Option = options.Option

// Create creates the object if it does not exist (O_CREAT). Without it,
// Open functions open an existing object and fail with ErrNotExist.
func Create() Option { return func(c *options.Config) { c.Given |= options.Create } }

// Exclusive, with Create, fails with ErrExist if the object exists (O_EXCL).
func Exclusive() Option { return func(c *options.Config) { c.Given |= options.Exclusive } }

// Perm sets the permission bits of a created object (default 0o600, owner
// only). Unlike open(2), the process umask does not apply: the object gets
// exactly this mode, so Perm(0o666) really lets every user open it.
func Perm(mode fs.FileMode) Option {
	return func(c *options.Config) {
		c.Given |= options.Perm
		if mode&^fs.ModePerm != 0 {
			c.Bad(fmt.Sprintf("Perm(%#o) has bits beyond the permission bits 0o777", uint32(mode)))
		}
		c.Perm = mode & fs.ModePerm
	}
}

// Capacity is the most messages a queue holds (mq_maxmsg). It is used when
// creating the queue; when the queue exists, its capacity must match. The
// default is /proc/sys/fs/mqueue/msg_default, and an unprivileged process
// may ask for at most /proc/sys/fs/mqueue/msg_max (10 by default).
func Capacity(n int) Option {
	return func(c *options.Config) {
		c.Given |= options.Capacity
		if n < 1 {
			c.Bad(fmt.Sprintf("Capacity(%d): a queue holds at least 1 message", n))
		}
		c.Capacity = n
	}
}

// MsgSize is the largest message a queue accepts, in bytes (mq_msgsize),
// including the 12-byte header of typed queues. It is used when creating
// the queue; when the queue exists, its message size must match. The
// default is /proc/sys/fs/mqueue/msgsize_default, and an unprivileged
// process may ask for at most /proc/sys/fs/mqueue/msgsize_max (8192).
func MsgSize(n int) Option {
	return func(c *options.Config) {
		c.Given |= options.MsgSize
		if n < 1 {
			c.Bad(fmt.Sprintf("MsgSize(%d): messages hold at least 1 byte", n))
		}
		c.MsgSize = n
	}
}

// WithCodec chooses how a queue encodes its values. The default is
// codec.Raw for []byte and string (the bytes as they are, as C sends them)
// and codec.Msgpack for every other type.
func WithCodec(cd codec.Codec) Option {
	return func(c *options.Config) {
		c.Given |= options.Codec
		if cd == nil {
			c.Bad("WithCodec(nil)")
		}
		c.Codec = cd
	}
}

// NoEndOfStream makes a zero-byte message an ordinary, empty message on
// this handle instead of the end of the stream: Receive returns it, Send
// accepts an empty value, and CloseSend is refused. It suits a server that
// reads whatever its clients send and never ends, such as cmd/mqserver.
func NoEndOfStream() Option { return func(c *options.Config) { c.Given |= options.NoEOF } }

// LargeMessages lets a Queue[[]byte] or Queue[string] carry messages
// larger than its MsgSize, up to 1 GiB, as typed queues always do: such a
// message travels in a /dev/shm file of its own and the queue carries a
// 32-byte reference to it (see Queue). Without it, these queues carry
// exactly C's bytes and refuse a larger message with ErrTooLarge. A C
// program on a queue that carries large messages receives references, not
// the messages. natsq takes the option too, and carries any message up to
// the server's max_payload with or without it.
func LargeMessages() Option { return func(c *options.Config) { c.Given |= options.Large } }

// Value is the initial count of a created semaphore.
func Value(n uint) Option {
	return func(c *options.Config) { c.Given |= options.Value; c.Value = n }
}

// PoolSize sizes the pool of shared memory that a ring made with
// LargeMessages, or a queue that carries large messages, writes its large
// messages into and reads them from, and that a ring's loans (Ring.Loan)
// take: n bytes (rounded up to 64 KiB blocks; default 16 MiB), allocated
// in /dev/shm when the pool is made (a ring's with the ring, a queue's at
// its first large message) and reused message after message. A message
// takes whole blocks; one larger than the pool (or, on a queue, one that
// finds the pool full) travels in a file of its own, as without a pool.
// PoolSize(0) is no pool: every large message in a file of its own. The
// pool's size is set when it is made; when it exists, it must match.
func PoolSize(n int) Option {
	return func(c *options.Config) {
		c.Given |= options.PoolSize
		if n < 0 || n > 1<<40 {
			c.Bad(fmt.Sprintf("PoolSize(%d): a pool holds up to 1 TiB (0: no pool)", n))
		}
		c.PoolSize = n
	}
}

// WipeOnRelease clears a large message's memory in its ring's pool when
// its receiver is done with it, before another message may use it. A
// pool is readable by every process that may open its ring (it has the
// ring's owner and mode), so a message stays there, readable by them,
// until its blocks are reused; WipeOnRelease is for those who must not
// leave it there that long. It is this handle's: it wipes what this
// handle's receives release.
func WipeOnRelease() Option { return func(c *options.Config) { c.Given |= options.Wipe } }

// History is how many messages already sent a new subscription of a topic
// gets before those sent after it subscribed: the last n the topic holds
// (at most its Capacity; default 0, only what comes next). It is the
// topic's, set when it is created; when the topic exists, it must match.
func History(n int) Option {
	return func(c *options.Config) {
		c.Given |= options.History
		if n < 0 {
			c.Bad(fmt.Sprintf("History(%d): a history holds 0 or more messages", n))
		}
		c.History = n
	}
}

// An OverflowPolicy says what a topic's publisher does when a subscriber
// is a whole Capacity behind.
type OverflowPolicy int

// The overflow policies.
const (
	// Block (the default) makes a publisher wait for the slowest live
	// subscriber, as a full Go channel makes its sender wait: nothing is
	// lost.
	Block OverflowPolicy = options.Block
	// DropOldest never makes a publisher wait: it overwrites the oldest
	// message, and a subscriber that had not read it jumps ahead and
	// counts it (Subscription.Missed).
	DropOldest OverflowPolicy = options.DropOldest
)

func (p OverflowPolicy) String() string {
	switch p {
	case Block:
		return "Block"
	case DropOldest:
		return "DropOldest"
	}
	return fmt.Sprintf("OverflowPolicy(%d)", int(p))
}

// Overflow sets a topic's overflow policy, Block or DropOldest. It is the
// topic's, set when it is created; when the topic exists, it must match.
func Overflow(p OverflowPolicy) Option {
	return func(c *options.Config) {
		c.Given |= options.Overflow
		if p != Block && p != DropOldest {
			c.Bad(fmt.Sprintf("Overflow(%d): the policies are ipcchan.Block and ipcchan.DropOldest", int(p)))
		}
		c.Overflow = int(p)
	}
}

// Subscribers is the most subscriptions a topic in shared memory holds at
// once, in any processes (default 64); a Subscribe beyond them fails with
// ErrLimit. It is set when the topic is created.
func Subscribers(n int) Option {
	return func(c *options.Config) {
		c.Given |= options.Subscribers
		if n < 1 || n > maxSubscribers {
			c.Bad(fmt.Sprintf("Subscribers(%d): a topic holds 1 to %d subscriptions", n, maxSubscribers))
		}
		c.Subscribers = n
	}
}
