// Package options is what the Open functions of every ipcchan object and
// transport are asked for: the Config that ipcchan's Option values fill
// in, and Apply, which builds it and refuses what does not apply.
package options

import (
	"fmt"
	"io/fs"

	"github.com/ipcchan/ipcchan/codec"
	"github.com/ipcchan/ipcchan/internal/ipcerr"
)

// An Option sets part of a Config; package ipcchan makes them (Create,
// Capacity, ...).
type Option func(*Config)

// A Set is a set of options, by what they set.
type Set uint

// The options.
const (
	Create Set = 1 << iota
	Exclusive
	Perm
	Capacity
	MsgSize
	Codec
	Value
	NoEOF
	Large
	Pipeline
	History
	Overflow
	Subscribers
	PoolSize
	Wipe
)

// names are the options' names as a user writes them, in bit order.
var names = []string{"Create", "Exclusive", "Perm", "Capacity", "MsgSize", "WithCodec", "Value", "NoEndOfStream", "LargeMessages", "natsq.Pipelined", "History", "Overflow", "Subscribers", "PoolSize", "WipeOnRelease"}

// Queue is the set a queue-like transport takes (Queue, natsq).
const Queue = Create | Exclusive | Perm | Capacity | MsgSize | Codec | NoEOF | Large | PoolSize | Wipe

// Topic is the set a topic takes (ipcchan.OpenTopic, natsq.OpenTopic).
const Topic = Create | Exclusive | Perm | Capacity | MsgSize | Codec | History | Overflow | Subscribers | Large | PoolSize | Wipe

// The overflow policies of a topic (Config.Overflow).
const (
	Block      = 0 // a publisher waits for the slowest subscriber
	DropOldest = 1 // a publisher overwrites what a slow subscriber has not read
)

// Config is what a list of options asks for.
type Config struct {
	Given    Set
	Perm     fs.FileMode // Perm's mode; 0o600 unless given
	Capacity int         // Capacity(n), or 0
	MsgSize  int         // MsgSize(n), or 0
	Codec    codec.Codec // WithCodec(c), or nil for the default
	Value    uint        // Value(n)
	Pipeline int         // natsq.Pipelined(n)

	History     int // History(n): messages a new subscription gets from before it
	Overflow    int // Overflow(p): Block or DropOldest
	Subscribers int // Subscribers(n): subscriptions a topic holds at once
	PoolSize    int // PoolSize(n): bytes of a ring's pool of large messages

	// DefaultMsgSize is the message size the transport chose for a new
	// queue when MsgSize is not given (a Layout queue's: the size of T),
	// or 0 for the machine's default.
	DefaultMsgSize int

	bad string // the first out-of-range argument
}

// Has reports whether the option o was given.
func (c *Config) Has(o Set) bool { return c.Given&o != 0 }

// Bad records an out-of-range argument; Apply reports the first one.
func (c *Config) Bad(msg string) {
	if c.bad == "" {
		c.bad = msg
	}
}

// Apply builds the Config of opts for the object obj (as errors name it),
// and refuses options outside allowed, out-of-range arguments, and
// Exclusive without Create, with an *ipcerr.Error (ErrInvalid).
func Apply(obj ipcerr.Object, allowed Set, opts []Option) (*Config, error) {
	c := &Config{Perm: 0o600}
	for _, o := range opts {
		if o == nil {
			return nil, obj.Err("open", ipcerr.ErrInvalid, "nil Option")
		}
		o(c)
	}
	if c.bad != "" {
		return nil, obj.Err("open", ipcerr.ErrInvalid, c.bad)
	}
	if extra := c.Given &^ allowed; extra != 0 {
		for i, n := range names {
			if extra&(1<<i) != 0 {
				return nil, obj.Err("open", ipcerr.ErrInvalid, fmt.Sprintf("option %s does not apply to a %s", n, obj.Kind))
			}
		}
	}
	if c.Has(Exclusive) && !c.Has(Create) {
		return nil, obj.Err("open", ipcerr.ErrInvalid, "Exclusive() needs Create(): it means create, and fail if it exists")
	}
	return c, nil
}
