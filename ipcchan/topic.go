package ipcchan

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"runtime"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/ipcchan/ipcchan/internal/ipcerr"
	"github.com/ipcchan/ipcchan/internal/large"
	"github.com/ipcchan/ipcchan/internal/objfmt"
	"github.com/ipcchan/ipcchan/internal/options"
	"github.com/ipcchan/ipcchan/internal/ring"
	"github.com/ipcchan/ipcchan/internal/typed"
)

// A Topic is publish/subscribe in shared memory: every subscription, in
// any process, sees every message published after it subscribed (plus the
// last History(n) published before), in each publisher's order. Any
// number of goroutines and processes publish; a Topic is a Sender, a
// Subscription a Receiver, so code written for a queue or a ring runs on
// a topic unchanged. Its methods are safe for concurrent use.
//
// Its messages are a ring's: a pointer-free T is copied into a slot and
// out, a []byte or string is its bytes, any other T is encoded with its
// codec into slots of MsgSize bytes. A topic made with LargeMessages has
// a pool of shared memory (PoolSize), which carries messages larger than
// MsgSize, up to the pool's size, and lends memory for zero-copy
// publishing (Loan) and reading (Subscription.ReceiveView); without it, a
// topic carries no message larger than MsgSize.
//
// A publish claims the next slot with a compare-and-swap, copies the
// message in and marks it full; each subscription reads the slots at its
// own cursor, without writing to them, so that one more subscriber costs
// the publisher nothing while it keeps up. When a subscriber is a whole
// Capacity behind, the policy decides: with Overflow(Block), the default,
// a publisher waits for the slowest live subscriber (lossless, as a Go
// channel); with Overflow(DropOldest) it never waits and overwrites the
// oldest message, which a subscriber that had not read it counts
// (Subscription.Missed) as it jumps ahead. Either way a message is never
// torn and never delivered twice.
//
// A process killed at any instant wedges nothing: a subscription of a dead
// process stops holding publishers back within 10 ms, and a message half
// written by a dead publisher is passed over (counted in
// TopicAttr.Recovered). Waits are a ring's: a short spin, then asleep on a
// futex word without a thread (the shared waiter).
//
// The topic is the file /dev/shm/ipcchan.topic.NAME: the ipcchan header,
// a control block, a table of Subscribers(n) entries (pid, cursor,
// missed) and the slots, laid out for C and Python to join (see
// docs/FORMATS.md and testdata/topicpeer.c).
type Topic[T any] struct {
	core
	topic *ring.Topic // the algorithm, on this handle's mapping
	pool  *pooled     // its pool of large messages (LargeMessages), or nil
	w     *typed.Wire[T]
	bufs  sync.Pool // *[]byte of MaxLen, for encoded values

	mu   sync.Mutex
	subs map[*subState]struct{} // open subscriptions, which Close closes
}

// TopicAttr describes a topic.
type TopicAttr struct {
	Capacity      int            // slots
	MsgSize       int            // largest message, bytes
	History       int            // messages a new subscription gets from before it
	Overflow      OverflowPolicy // Block or DropOldest
	Subscribers   int            // subscriptions it holds at once
	Subscriptions int            // live subscriptions now, in every process
	Published     uint64         // messages published so far, about
	Recovered     uint64         // slots and subscriptions taken back from dead processes
	Ended         bool           // CloseSend was called

	// Its pool of large messages (LargeMessages), if it has one.
	PoolSize      int    // bytes; 0: no pool
	PoolInUse     int    // bytes that messages (a slot's each, until it is overwritten), loans and views hold now
	PoolRecovered uint64 // runs of the pool taken back
}

var (
	_ Sender[[]byte]   = (*Topic[[]byte])(nil)
	_ Receiver[[]byte] = (*Subscription[[]byte])(nil)
)

// Defaults and limits of a created topic.
const (
	defaultSubscribers = 64
	maxSubscribers     = 4096
)

// OpenTopic opens the topic name ("/ticks"). It takes the options Create,
// Exclusive, Perm, Capacity (slots, any number from 1; default 1024),
// MsgSize (of a []byte, string or encoded T, default 1024; a pointer-free
// T's slots are its size), WithCodec, History (default 0, at most
// Capacity), Overflow (Block or DropOldest; default Block), Subscribers
// (default 64), and LargeMessages, PoolSize and WipeOnRelease (a pool of
// large messages, made with the topic: see Topic.Loan). Opening an existing topic checks that it
// carries T, and that it has the shape and policy of the options given.
func OpenTopic[T any](name string, opts ...Option) (*Topic[T], error) {
	obj := ipcerr.Object{Kind: "topic", Name: name}
	cfg, err := options.Apply(obj, options.Topic, opts)
	if err != nil {
		return nil, err
	}
	rt := reflect.TypeFor[T]()
	w, err := typed.NewCopyWire[T](obj, cfg.Codec, true) // CloseSend ends the stream, not an empty message
	if err != nil {
		return nil, err
	}
	if cfg.Has(options.Large) && w.Kind() == typed.Layout {
		return nil, obj.Err("open", ErrInvalid, "LargeMessages does not apply to a topic of "+w.TypeName()+", a pointer-free type: every message is its size")
	}
	g, err := topicShape(obj, cfg, w)
	if err != nil {
		return nil, err
	}
	pooled, err := wantsPool(obj, cfg, w.Kind())
	if err != nil {
		return nil, err
	}
	if pooled {
		g.Flags |= objfmt.TopicPooled // if this call makes it
	}
	spec := objSpec{kind: objfmt.Topic, size: uint64(objfmt.TopicSize(int(g.Capacity), int(g.Stride), int(g.SubsMax))), align: 64,
		fingerprint: w.Fingerprint(), typeName: rt.String()}
	mem, created, err := openObject(obj, cfg, spec, func(p []byte) { objfmt.TopicInit(p, g) })
	if err != nil {
		return nil, err
	}
	payload := objfmt.Payload(mem)
	if !created {
		if err := checkTopic(obj, cfg, payload, g); err != nil {
			unix.Munmap(mem) // no handle took it
			return nil, err
		}
	}
	t := &Topic[T]{core: core{obj: obj}, w: w, subs: map[*subState]struct{}{}}
	t.topic = ring.NewTopic(payload, uint32(os.Getpid()), &t.waiters)
	if err := t.openPool(cfg, created, objfmt.ReadTopicGeometry(payload).Flags&objfmt.TopicPooled != 0); err != nil {
		unix.Munmap(mem)
		return nil, err
	}
	maxLen := t.topic.MaxLen()
	if t.pool != nil {
		w.SetLimit(t.pool.pool.Size(), fmt.Sprintf("the size of its pool, %d bytes", t.pool.pool.Size()), func() string {
			return "send smaller messages, or make the topic again with a larger PoolSize (ipcchan.UnlinkTopic, then OpenTopic with PoolSize)"
		})
	} else {
		w.SetLimit(maxLen, fmt.Sprintf("its MsgSize of %d", maxLen), func() string {
			return "send smaller messages, or make the topic again with a larger MsgSize (ipcchan.UnlinkTopic, then OpenTopic with MsgSize)"
		})
	}
	t.bufs.New = func() any { b := make([]byte, 0, maxLen); return &b }
	attach(t, &t.m, mem, addUser(mem))
	if t.pool != nil {
		runtime.AddCleanup(t, func(mem []byte) { unix.Munmap(mem) }, t.pool.pool.Mem()) // not the pool: it points into t
	}
	return t, nil
}

// topicShape is the geometry that the options ask of a new topic of the
// wire's values.
func topicShape[T any](obj ipcerr.Object, cfg *options.Config, w *typed.Wire[T]) (objfmt.TopicGeometry, error) {
	capacity, maxLen, err := ringShape(obj, cfg, w)
	if err != nil {
		return objfmt.TopicGeometry{}, err
	}
	if cfg.History > capacity {
		return objfmt.TopicGeometry{}, obj.Err("open", ErrInvalid, fmt.Sprintf("History(%d) is more than the Capacity, %d: a topic keeps at most Capacity messages", cfg.History, capacity))
	}
	subs := defaultSubscribers
	if cfg.Has(options.Subscribers) {
		subs = cfg.Subscribers
	}
	stride := objfmt.RingStride(maxLen)
	if uint64(capacity)*uint64(stride) > maxRingBytes {
		return objfmt.TopicGeometry{}, obj.Err("open", ErrInvalid, fmt.Sprintf("Capacity %d of %d-byte slots is %d bytes, more than a topic may have (%d)", capacity, stride, uint64(capacity)*uint64(stride), uint64(maxRingBytes)))
	}
	g := objfmt.TopicGeometry{Capacity: uint32(capacity), Stride: uint32(stride), MaxLen: uint32(maxLen), History: uint32(cfg.History), SubsMax: uint32(subs)}
	if w.Kind() == typed.Layout {
		g.Flags |= objfmt.TopicFixed
	}
	if cfg.Overflow == options.DropOldest {
		g.Flags |= objfmt.TopicDropOldest
	}
	return g, nil
}

// checkTopic checks the control block of a topic that exists: its layout,
// that its shape fits the file, and the shape and policy asked for.
func checkTopic(obj ipcerr.Object, cfg *options.Config, payload []byte, want objfmt.TopicGeometry) error {
	if len(payload) < objfmt.TopicCtlSize {
		return obj.Err("open", ErrCorrupt, fmt.Sprintf("its file holds %d bytes of payload, less than a topic's control block; remove it (ipcchan.UnlinkTopic(%q))", len(payload), obj.Name))
	}
	g := objfmt.ReadTopicGeometry(payload)
	var differ []string
	if cfg.Has(options.Capacity) && g.Capacity != want.Capacity {
		differ = append(differ, fmt.Sprintf("Capacity %d", g.Capacity))
	}
	if cfg.Has(options.MsgSize) && g.MaxLen != want.MaxLen {
		differ = append(differ, fmt.Sprintf("MsgSize %d", g.MaxLen))
	}
	if cfg.Has(options.History) && g.History != want.History {
		differ = append(differ, fmt.Sprintf("History %d", g.History))
	}
	if cfg.Has(options.Overflow) && g.Flags&objfmt.TopicDropOldest != want.Flags&objfmt.TopicDropOldest {
		differ = append(differ, "Overflow "+policyOf(g.Flags).String())
	}
	if cfg.Has(options.Subscribers) && g.SubsMax != want.SubsMax {
		differ = append(differ, fmt.Sprintf("Subscribers %d", g.SubsMax))
	}
	switch {
	case g.Layout != objfmt.TopicLayout:
		return obj.Err("open", ErrTypeMismatch, fmt.Sprintf("its slots have layout %d; this library reads layout %d", g.Layout, objfmt.TopicLayout))
	case g.Capacity == 0 || g.SubsMax == 0 || g.History > g.Capacity || int(g.Stride) < objfmt.RingStride(int(g.MaxLen)) || g.Stride%64 != 0 ||
		uint64(objfmt.TopicSize(int(g.Capacity), int(g.Stride), int(g.SubsMax))) > uint64(len(payload)):
		return obj.Err("open", ErrCorrupt, fmt.Sprintf("its control block says %d slots of %d bytes and %d subscriptions, which its file (%d bytes of payload) does not hold; it is damaged: remove it (ipcchan.UnlinkTopic(%q))",
			g.Capacity, g.Stride, g.SubsMax, len(payload), obj.Name))
	case len(differ) > 0:
		e := obj.Err("open", ErrExist, "it exists with "+joinList(differ)+", not what was asked for")
		e.Hint = fmt.Sprintf("open it without those options, or remove it first (ipcchan.UnlinkTopic(%q))", obj.Name)
		return e
	}
	return nil
}

func policyOf(flags uint32) OverflowPolicy {
	if flags&objfmt.TopicDropOldest != 0 {
		return DropOldest
	}
	return Block
}

// joinList joins items in a sentence: "a", "a and b", "a, b and c".
func joinList(items []string) string {
	switch len(items) {
	case 0:
		return ""
	case 1:
		return items[0]
	}
	s := items[0]
	for _, it := range items[1 : len(items)-1] {
		s += ", " + it
	}
	return s + " and " + items[len(items)-1]
}

// Name returns the topic's name, as given to OpenTopic.
func (t *Topic[T]) Name() string { return t.obj.Name }

// Attr describes the topic.
func (t *Topic[T]) Attr() (TopicAttr, error) {
	if t.closed() {
		return TopicAttr{}, t.closedErr("attr")
	}
	tp := t.topic
	a := TopicAttr{Capacity: tp.Capacity(), MsgSize: tp.MaxLen(), History: tp.History(), Overflow: Block, Subscribers: tp.Subscribers(),
		Published: tp.Published(), Recovered: tp.Recovered(), Ended: tp.Ended()}
	if tp.DropOldest() {
		a.Overflow = DropOldest
	}
	a.Subscriptions = tp.Live()
	if t.pool != nil {
		t.pool.pool.Reclaim() // what dead processes held, and what no slot holds, is not in use
		a.PoolSize, a.PoolInUse, a.PoolRecovered = t.pool.pool.Size(), t.pool.pool.InUse(), t.pool.pool.Recovered()
	}
	return a, nil
}

// Send publishes v. Under Block it waits while a live subscriber is a
// whole Capacity behind, until it reads, ctx is done or the handle is
// closed; under DropOldest it does not wait for subscribers (only, for
// the moment it takes, for a publisher a whole Capacity before it that is
// still writing the slot it needs). After CloseSend (by any
// process) it fails with ErrClosed.
func (t *Topic[T]) Send(ctx context.Context, v T) error { return t.send(ctx, &v, true) }

// TrySend publishes v, or returns ErrFull at once where Send would wait:
// under Block, while a live subscriber is a whole Capacity behind; under
// DropOldest, only in the rare instant when another publisher is still
// writing the slot it needs, a whole Capacity before.
func (t *Topic[T]) TrySend(v T) error { return t.send(context.Background(), &v, false) }

func (t *Topic[T]) send(ctx context.Context, v *T, block bool) error {
	if t.closed() {
		return t.closedErr("send")
	}
	var buf []byte
	if t.w.Kind() == typed.Typed {
		bp := t.bufs.Get().(*[]byte)
		defer t.bufs.Put(bp)
		buf = (*bp)[:0]
	}
	msg, err := t.w.Encode(buf, v) // checked against MsgSize (or the pool's size) before a slot is claimed
	if err != nil {
		return err
	}
	if len(msg) > t.topic.MaxLen() { // into the pool
		run, err := t.pool.alloc(ctx, len(msg), block, "send")
		if err != nil {
			return err
		}
		copy(t.pool.pool.Bytes(run, len(msg)), msg)
		if err := t.pool.publish(ctx, run, len(msg), block, "send"); err != nil {
			t.pool.pool.Free(run)
			return err
		}
		return nil
	}
	c, err := t.topic.ClaimPublish(ctx, block)
	if err != nil {
		return t.err("send", err)
	}
	t.retire(c)
	copy(t.topic.Buf(c), msg)
	t.topic.Publish(c, len(msg))
	return nil
}

// CloseSend ends the stream for every subscription, present and future,
// as closing a Go channel does: each gets the messages published before,
// then Receive returns io.EOF and Recv and All end; later sends fail with
// ErrClosed. It is final until the topic is removed.
func (t *Topic[T]) CloseSend(ctx context.Context) error {
	if t.closed() {
		return t.closedErr("close send")
	}
	t.topic.End()
	return nil
}

// Close closes this process's handle, and the subscriptions made with it;
// the topic stays until Unlink. Every goroutine blocked on the handle or
// its subscriptions returns ErrClosed. Calling Close twice is harmless.
func (t *Topic[T]) Close() error {
	t.mu.Lock()
	subs := t.subs
	t.subs = nil
	t.mu.Unlock()
	var errs []error
	for st := range subs {
		errs = append(errs, st.close())
	}
	t.close()
	return errors.Join(errs...)
}

// Unlink removes the topic's name; handles already open keep working.
func (t *Topic[T]) Unlink() error { return UnlinkTopic(t.obj.Name) }

// UnlinkTopic removes the topic name, and its pool.
func UnlinkTopic(name string) error {
	err := unlinkObject("topic", name)
	if err == nil || errors.Is(err, ErrNotExist) {
		large.RemovePool(ipcerr.Object{Kind: "topic", Name: name})
	}
	return err
}

// err turns an error of the topic's algorithm into the handle's.
func (t *Topic[T]) err(op string, err error) error {
	switch err {
	case nil, io.EOF:
		return err
	case ring.ErrFull:
		return t.obj.Err(op, ErrFull, fmt.Sprintf("a subscriber is %d messages (the Capacity) behind, and the topic blocks (Overflow(Block)) until it reads", t.topic.Capacity()))
	case ring.ErrEmpty:
		return t.obj.Err(op, ErrEmpty, "no message is there yet")
	case ring.ErrEnded:
		return t.obj.Err(op, ErrClosed, "the stream has ended (CloseSend): no message may follow")
	case ring.ErrClosed:
		return t.closedErr(op)
	case ring.ErrCorrupt:
		return t.obj.Err(op, ErrCorrupt, "the topic's slots are in states the protocol never leaves them in: something else wrote into it; remove it (ipcchan.UnlinkTopic) and make it again")
	case ring.ErrNoEntry:
		e := t.obj.Err(op, ErrLimit, fmt.Sprintf("all %d subscriptions it holds are taken by live processes (Subscribers(%d) when it was made)", t.topic.Subscribers(), t.topic.Subscribers()))
		e.Hint = "close subscriptions that are done, or make the topic again with a larger Subscribers(n) (ipcchan.UnlinkTopic, then OpenTopic with Subscribers)"
		return e
	case ring.ErrReleased:
		return t.obj.Err(op, ErrClosed, "the subscription was taken back by another process, which found this process dead (a pid namespace the others do not share?)")
	}
	what := "a message"
	if op == "send" {
		what = "room in the topic"
	}
	return t.obj.Ended(op, err, what)
}
