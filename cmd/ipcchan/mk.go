package main

import (
	"errors"
	"io/fs"
	"math"
	"strconv"

	"github.com/ipcchan/ipcchan/internal/kinds"
	"github.com/ipcchan/ipcchan/ipcchan"
)

var cmdMk = &command{
	name:  "mk",
	usage: "mk queue|ring|topic|sem|shm|mutex|waitgroup NAME [--capacity N] [--msgsize N] [--history N] [--overflow P] [--subscribers N] [--pool BYTES] [--value N] [--size N] [--perm MODE]",
	help:  "create an object; it must not exist yet",
	example: `  $ ipcchan mk queue /jobs --capacity 10 --msgsize 1024 --perm 0660
  $ ipcchan mk ring /events --capacity 4096 --msgsize 256   # a ring of bytes: send and recv take it
  $ ipcchan mk ring /frames --msgsize 256 --pool 67108864   # with a 64 MiB pool: messages up to 64 MiB travel in it
  $ ipcchan mk topic /ticks --capacity 1024 --history 16 --overflow dropoldest   # publish/subscribe: send publishes, recv subscribes
  $ ipcchan mk sem /slots --value 3
  $ ipcchan mk shm /grid --size 65536       # ipcchan's format: bytes at offset 192`,
	run: runMk,
}

// mkKinds are the kinds mk makes, by the words it takes for them, and the
// flags each takes.
var mkKinds = map[string]struct {
	kind  string
	flags []string
}{
	"queue":     {kinds.Queue, []string{"capacity", "msgsize", "perm"}},
	"ring":      {kinds.Ring, []string{"capacity", "msgsize", "pool", "perm"}},
	"topic":     {kinds.Topic, []string{"capacity", "msgsize", "history", "overflow", "subscribers", "perm"}},
	"sem":       {kinds.Semaphore, []string{"value", "perm"}},
	"semaphore": {kinds.Semaphore, []string{"value", "perm"}},
	"shm":       {kinds.Shm, []string{"size", "perm"}},
	"mutex":     {kinds.Mutex, []string{"perm"}},
	"waitgroup": {kinds.WaitGroup, []string{"perm"}},
	"wg":        {kinds.WaitGroup, []string{"perm"}},
}

// overflowPolicies are what mk topic --overflow takes.
var overflowPolicies = map[string]ipcchan.OverflowPolicy{"block": ipcchan.Block, "dropoldest": ipcchan.DropOldest}

// maxSubscribers is the most subscriptions a topic holds (ipcchan.Subscribers).
const maxSubscribers = 4096

func runMk(c *cli, cmd *command, args []string) int {
	flags := c.flags(cmd)
	capacity := flags.Int("capacity", 0, "queue: most messages (default /proc/sys/fs/mqueue/msg_default); ring, topic: slots (default 1024)")
	msgsize := flags.Int("msgsize", 0, "queue: largest message in bytes (default /proc/sys/fs/mqueue/msgsize_default); ring, topic: the same (default 1024)")
	history := flags.Int("history", 0, "topic: messages a new subscriber gets from before it subscribed, at most the capacity")
	overflow := flags.String("overflow", "block", "topic: when a subscriber is a whole capacity behind, block (publishers wait for it) or dropoldest (it loses the oldest)")
	subscribers := flags.Int("subscribers", 64, "topic: most subscriptions at once, 1 to 4096")
	value := flags.Uint64("value", 0, "sem: initial count, at most 2147483647")
	size := flags.Int("size", 0, "shm: bytes (required)")
	pool := flags.Int("pool", 0, "ring: give it a pool of this many bytes of shared memory for messages beyond --msgsize (ipcchan.LargeMessages, ipcchan.PoolSize)")
	perm := flags.String("perm", "0600", "permission bits, octal")
	rest, code, ok := c.parse(flags, args)
	if !ok {
		return code
	}
	if len(rest) != 2 {
		return c.usageErr(cmd, "want a kind and a NAME")
	}
	word, name := rest[0], rest[1]
	mk, known := mkKinds[word]
	if !known {
		return c.usageErr(cmd, "unknown kind %q: want queue, ring, topic, sem, shm, mutex or waitgroup", word)
	}
	if code, ok := c.onlyFlags(cmd, flags, kinds.Describe(mk.kind), mk.flags...); !ok {
		return code
	}
	set := given(flags)
	for _, f := range []struct {
		name string
		v    int
	}{{"capacity", *capacity}, {"msgsize", *msgsize}, {"size", *size}, {"pool", *pool}} {
		if set[f.name] && f.v < 1 {
			return c.usageErr(cmd, "--%s %d: want 1 or more", f.name, f.v)
		}
	}
	policy, known := overflowPolicies[*overflow]
	switch {
	case !known:
		return c.usageErr(cmd, "--overflow %q: want block or dropoldest", *overflow)
	case *history < 0:
		return c.usageErr(cmd, "--history %d: want 0 or more", *history)
	case set["capacity"] && *history > *capacity:
		return c.usageErr(cmd, "--history %d is more than the --capacity, %d: a topic keeps at most its capacity of messages", *history, *capacity)
	case *subscribers < 1 || *subscribers > maxSubscribers:
		return c.usageErr(cmd, "--subscribers %d: want 1 to %d", *subscribers, maxSubscribers)
	}
	if *value > math.MaxInt32 {
		return c.usageErr(cmd, "--value %d: a semaphore counts to at most 2147483647 (SEM_VALUE_MAX)", *value)
	}
	mode, err := strconv.ParseUint(*perm, 8, 32)
	if err != nil || mode > 0o777 {
		return c.usageErr(cmd, "--perm %q: want an octal mode such as 0600 or 0660", *perm)
	}
	if err := ipcchan.CheckName(name); err != nil {
		return c.usageErr(cmd, "%v", err)
	}
	opts := []ipcchan.Option{ipcchan.Create(), ipcchan.Exclusive(), ipcchan.Perm(fs.FileMode(mode))}
	if set["capacity"] {
		opts = append(opts, ipcchan.Capacity(*capacity))
	}
	if set["msgsize"] {
		opts = append(opts, ipcchan.MsgSize(*msgsize))
	}
	if set["pool"] {
		opts = append(opts, ipcchan.LargeMessages(), ipcchan.PoolSize(*pool))
	}
	var closer interface{ Close() error }
	switch mk.kind {
	case kinds.Queue:
		closer, err = ipcchan.OpenQueue[[]byte](name, opts...)
	case kinds.Ring:
		closer, err = ipcchan.OpenRing[[]byte](name, opts...)
	case kinds.Topic:
		closer, err = ipcchan.OpenTopic[[]byte](name, append(opts, ipcchan.History(*history), ipcchan.Overflow(policy), ipcchan.Subscribers(*subscribers))...)
	case kinds.Semaphore:
		closer, err = ipcchan.OpenSemaphore(name, append(opts, ipcchan.Value(uint(*value)))...)
	case kinds.Shm:
		if !set["size"] {
			return c.usageErr(cmd, "shm needs --size N (bytes)")
		}
		closer, err = ipcchan.OpenShmSlice[byte](name, *size, opts...)
	case kinds.Mutex:
		closer, err = ipcchan.OpenMutex(name, opts...)
	case kinds.WaitGroup:
		closer, err = ipcchan.OpenWaitGroup(name, opts...)
	}
	if err != nil {
		// A name, or a value, that the library refuses (--capacity too
		// large for memory, --history over the default capacity).
		if errors.Is(err, ipcchan.ErrInvalidName) || errors.Is(err, ipcchan.ErrInvalid) {
			return c.usageErr(cmd, "%v", err)
		}
		return c.fail(err)
	}
	closer.Close()
	return exitOK
}
