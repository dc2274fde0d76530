package ipcchan

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"os"
	"reflect"
	"runtime"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/ipcchan/ipcchan/internal/ipcerr"
	"github.com/ipcchan/ipcchan/internal/large"
	"github.com/ipcchan/ipcchan/internal/objfmt"
	"github.com/ipcchan/ipcchan/internal/options"
	"github.com/ipcchan/ipcchan/internal/ring"
	"github.com/ipcchan/ipcchan/internal/typed"
)

// A Ring is a typed channel in shared memory between goroutines and
// processes: a bounded queue with many senders and many receivers, in
// any processes, that costs no system call while both sides are busy. It
// is a Sender and a Receiver, like Queue, without priorities. Its methods
// are safe for concurrent use.
//
// A pointer-free T (numbers, bools, fixed arrays, structs of those: what
// Shm takes) is copied into a slot and out, with no encoding and no
// allocation. A []byte or string is its bytes, up to MsgSize. Any other T
// is encoded with its codec (MessagePack by default), behind the type
// header, into slots of MsgSize bytes.
//
// A send claims the next slot with a compare-and-swap, copies the message
// in and marks it full; a receive claims the next full slot, copies it out
// and frees it. A side that finds the ring empty (or full) looks again a
// few times, then sleeps on a futex, holding its goroutine's thread as a
// blocked Semaphore.Acquire does; the other side wakes it with one system
// call, only when someone sleeps. A context or Close ends a sleep at once.
//
// SendBatch and ReceiveBatch move many messages with one claim: a run of
// slots, which a single message is the run of one.
//
// A process killed at any instant does not wedge the ring: a slot it held
// (a message half-written, or half-read; a whole run for a batch) is taken back by the next process
// that waits on it, within 10 ms, and counted (RingAttr.Recovered). A
// message is never torn and never delivered twice; it is lost only if it
// was in the killed process's hands: a send that had not returned, or a
// receive that had taken it. A process whose pid is reused by another
// before the ring is looked at again looks alive (as for Mutex).
//
// The ring is the file /dev/shm/ipcchan.ring.NAME: the 192-byte ipcchan
// header (its users table tells ipcchan rm --stale who uses it), then the
// control block and the slots, laid out for a C program to join (see the
// package objfmt documentation, and testdata/ringpeer.c):
//
//	offset   0  layout 2, capacity, stride, maxLen, flags (uint32 each)
//	offset  20  ended (uint32), recovered (uint64)
//	offset  64  head (uint64);  offset 128: tail (uint64)
//	offset 192  data futex word; offset 256: room futex word
//	offset 320  slots: state (uint64: position, run, state, pid), length (uint32), data
//
// (offsets from the end of the header, file offset 192).
type Ring[T any] struct {
	core
	ring  *ring.Ring // the algorithm, on this handle's mapping and waits
	w     *typed.Wire[T]
	rx    typed.Receiving[T]
	bufs  sync.Pool    // *[]byte of MaxLen, for encoded values
	store *large.Store // messages beyond MaxLen, or nil when the ring carries none
	pool  *pooled      // its pool of large messages (LargeMessages), or nil
}

// RingAttr describes a ring.
type RingAttr struct {
	Capacity  int    // slots
	MsgSize   int    // largest message, bytes
	Len       int    // messages in it now, about
	Recovered uint64 // slots taken back from processes that died holding them
	Ended     bool   // CloseSend was called

	// Its pool of large messages (LargeMessages), if it has one.
	PoolSize      int    // bytes; 0: no pool
	PoolInUse     int    // bytes that messages, loans and views hold now
	PoolRecovered uint64 // runs of the pool taken back from dead processes
}

var (
	_ Sender[[]byte]   = (*Ring[[]byte])(nil)
	_ Receiver[[]byte] = (*Ring[[]byte])(nil)
)

// Defaults of a created ring.
const (
	defaultRingCapacity = 1024
	defaultRingMsgSize  = 1024
	maxRingBytes        = 1 << 40
)

// OpenRing opens the ring name ("/ticks"). It takes the options Create,
// Exclusive, Perm, Capacity (slots, any number from 1; default 1024),
// MsgSize (the largest message of a []byte, string or encoded T, default
// 1024; a pointer-free T's slots are its size), WithCodec and
// LargeMessages. Opening an existing ring checks that it carries T; with
// Capacity or MsgSize, that it has that shape.
//
// An encoded T larger than MsgSize, and with LargeMessages a []byte or
// string, up to 1 GiB, travels as a queue's large message does (see
// Queue): in a /dev/shm file of its own (ipcchan.large-ring.NAME.TOKEN),
// its slot holding a 32-byte reference; UnlinkRing removes the files of
// messages never received.
func OpenRing[T any](name string, opts ...Option) (*Ring[T], error) {
	obj := ipcerr.Object{Kind: "ring", Name: name}
	const allowed = options.Create | options.Exclusive | options.Perm | options.Capacity | options.MsgSize | options.Codec | options.Large |
		options.PoolSize | options.Wipe
	cfg, err := options.Apply(obj, allowed, opts)
	if err != nil {
		return nil, err
	}
	path, err := objPath(obj, "open")
	if err != nil {
		return nil, err
	}
	rt := reflect.TypeFor[T]()
	w, err := typed.NewCopyWire[T](obj, cfg.Codec, true) // CloseSend ends a ring's stream, not an empty message
	if err != nil {
		return nil, err
	}
	if cfg.Has(options.Large) && w.Kind() == typed.Layout {
		return nil, obj.Err("open", ErrInvalid, "LargeMessages does not apply to a ring of "+w.TypeName()+", a pointer-free type: every message is its size")
	}
	pooled, err := wantsPool(obj, cfg, w.Kind())
	if err != nil {
		return nil, err
	}
	var flags uint32
	if w.Kind() == typed.Layout {
		flags |= objfmt.RingFixed
	}
	if pooled {
		flags |= objfmt.RingPooled // if this call makes it
	}
	capacity, maxLen, err := ringShape(obj, cfg, w)
	if err != nil {
		return nil, err
	}
	stride := objfmt.RingStride(maxLen)
	size := objfmt.RingSize(capacity, stride)
	if uint64(capacity)*uint64(stride) > maxRingBytes {
		return nil, obj.Err("open", ErrInvalid, fmt.Sprintf("Capacity %d of %d-byte slots is %d bytes, more than a ring may have (%d)", capacity, stride, uint64(capacity)*uint64(stride), uint64(maxRingBytes)))
	}
	spec := objSpec{kind: objfmt.Ring, size: uint64(size), align: 64, fingerprint: w.Fingerprint(), typeName: rt.String()}
	mem, created, err := openObject(obj, cfg, spec, func(p []byte) {
		objfmt.RingInit(p, capacity, stride, maxLen, flags)
	})
	if err != nil {
		return nil, err
	}
	payload := objfmt.Payload(mem)
	if !created {
		if err := checkRing(obj, cfg, payload, capacity, maxLen); err != nil {
			unix.Munmap(mem) // no handle took it
			return nil, err
		}
	}
	r := &Ring[T]{core: core{obj: obj}, w: w}
	r.ring = ring.New(payload, uint32(os.Getpid()), &r.waiters)
	r.rx.Obj = obj
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		unix.Munmap(mem)
		return nil, obj.Fail("open", nil, err, "")
	}
	if r.pool, err = openRingPool(obj, cfg, created, objfmt.ReadRingGeometry(payload).Flags, &st, r.ring, &r.waiters, r.err, r.closed); err != nil {
		unix.Munmap(mem)
		if created {
			unix.Unlink(path) // made by this call, and of no use without its pool
		}
		return nil, err
	}
	if r.pool != nil {
		cfg.Given |= options.Large // a ring with a pool carries large messages, whoever opens it
	}
	if r.store, err = largeStore(obj, w, cfg, r.ring.MaxLen(), &st, func() string {
		return "send smaller messages, or make the ring again with a larger MsgSize (ipcchan.UnlinkRing, then OpenRing with MsgSize)"
	}); err != nil {
		unix.Munmap(mem)
		if r.pool != nil {
			r.pool.pool.Close()
		}
		return nil, err
	}
	r.bufs.New = func() any { b := make([]byte, 0, r.ring.MaxLen()); return &b }
	attach(r, &r.m, mem, addUser(mem))
	if r.pool != nil {
		runtime.AddCleanup(r, func(mem []byte) { unix.Munmap(mem) }, r.pool.pool.Mem()) // not the pool: it points into r
	}
	return r, nil
}

// ringShape is the capacity and message size that the options ask of a
// ring of the wire's values.
func ringShape[T any](obj ipcerr.Object, cfg *options.Config, w *typed.Wire[T]) (capacity, maxLen int, err error) {
	capacity, maxLen = defaultRingCapacity, defaultRingMsgSize
	if cfg.Has(options.Capacity) {
		capacity = cfg.Capacity
	}
	if capacity > objfmt.RingCapMax {
		return 0, 0, obj.Err("open", ErrInvalid, fmt.Sprintf("Capacity(%d): a ring holds at most %d messages", capacity, objfmt.RingCapMax))
	}
	switch {
	case w.Kind() == typed.Layout:
		maxLen = w.Size()
		if cfg.Has(options.MsgSize) && cfg.MsgSize != maxLen {
			return 0, 0, obj.Err("open", ErrInvalid, fmt.Sprintf(
				"MsgSize(%d) does not apply to a ring of %s, a pointer-free type: its slots are its size, %d bytes; leave MsgSize out", cfg.MsgSize, w.TypeName(), maxLen))
		}
	case cfg.Has(options.MsgSize):
		maxLen = cfg.MsgSize
		if err := w.CheckMsgSize(maxLen, fmt.Sprintf("MsgSize(%d)", maxLen)); err != nil {
			return 0, 0, err
		}
	}
	if maxLen > 1<<30 {
		return 0, 0, obj.Err("open", ErrInvalid, fmt.Sprintf("MsgSize(%d): a ring's messages are at most 1 GiB", maxLen))
	}
	return capacity, maxLen, nil
}

// checkRing checks the control block of a ring that exists: its layout,
// that its shape fits the file, and the shape asked for.
func checkRing(obj ipcerr.Object, cfg *options.Config, payload []byte, capacity, maxLen int) error {
	g := objfmt.ReadRingGeometry(payload)
	switch {
	case g.Layout != objfmt.RingLayout:
		e := obj.Err("open", ErrTypeMismatch, fmt.Sprintf("its slots have layout %d; this library reads layout %d", g.Layout, objfmt.RingLayout))
		if g.Layout == 1 {
			e.Hint = fmt.Sprintf("layout 1 is the ring of ipcchan before batches (SendBatch); drain it with that version, or remove it (ipcchan.UnlinkRing(%q)) and make it again", obj.Name)
		}
		return e
	case g.Capacity == 0 || g.Capacity > objfmt.RingCapMax || int(g.Stride) < objfmt.RingStride(int(g.MaxLen)) || g.Stride%64 != 0 || objfmt.RingSize(int(g.Capacity), int(g.Stride)) > len(payload):
		return obj.Err("open", ErrCorrupt, fmt.Sprintf("its control block says %d slots of %d bytes, which its file (%d bytes of payload) does not hold; it is damaged: remove it (ipcchan.UnlinkRing(%q))",
			g.Capacity, g.Stride, len(payload), obj.Name))
	case (cfg.Has(options.Capacity) && int(g.Capacity) != capacity) || (cfg.Has(options.MsgSize) && int(g.MaxLen) != maxLen):
		e := obj.Err("open", ErrExist, fmt.Sprintf("it exists with Capacity %d and MsgSize %d, not those asked for", g.Capacity, g.MaxLen))
		e.Hint = fmt.Sprintf("open it without Capacity/MsgSize, or remove it first (ipcchan.UnlinkRing(%q))", obj.Name)
		return e
	}
	return nil
}

// Name returns the ring's name, as given to OpenRing.
func (r *Ring[T]) Name() string { return r.obj.Name }

// Attr describes the ring.
func (r *Ring[T]) Attr() (RingAttr, error) {
	if r.closed() {
		return RingAttr{}, r.closedErr("attr")
	}
	a := RingAttr{Capacity: r.ring.Capacity(), MsgSize: r.ring.MaxLen(), Len: r.ring.Len(), Recovered: r.ring.Recovered(), Ended: r.ring.Ended()}
	if r.pool != nil {
		r.pool.pool.Reclaim() // what dead processes held is not in use
		a.PoolSize, a.PoolInUse, a.PoolRecovered = r.pool.pool.Size(), r.pool.pool.InUse(), r.pool.pool.Recovered()
	}
	return a, nil
}

// Send sends v, waiting while the ring is full until there is room, ctx is
// done or the handle is closed. After CloseSend (by any process) it fails
// with ErrClosed.
func (r *Ring[T]) Send(ctx context.Context, v T) error { return r.send(ctx, &v, true, "send") }

// TrySend sends v, or returns ErrFull at once if the ring is full.
func (r *Ring[T]) TrySend(v T) error { return r.send(context.Background(), &v, false, "send") }

// CloseSend ends the stream, for every receiver, present and future, as
// closing a Go channel does: receivers get the messages the ring holds,
// then Receive returns io.EOF and Recv and All end; later sends fail with
// ErrClosed. It is final until the ring is removed. (A send that a
// CloseSend overtakes delivers its message after the end: it is not lost,
// a later receive gets it.)
func (r *Ring[T]) CloseSend(ctx context.Context) error {
	if r.closed() {
		return r.closedErr("close send")
	}
	r.ring.End()
	return nil
}

func (r *Ring[T]) send(ctx context.Context, v *T, block bool, op string) error {
	if r.closed() {
		return r.closedErr(op)
	}
	var buf []byte
	if r.w.Kind() == typed.Typed {
		bp := r.bufs.Get().(*[]byte)
		defer r.bufs.Put(bp)
		buf = (*bp)[:0]
	}
	msg, err := r.w.Encode(buf, v) // checked against MsgSize (or 1 GiB) before a slot is claimed
	if err != nil {
		return err
	}
	var out *large.Outgoing
	if len(msg) > r.ring.MaxLen() && r.pool != nil && len(msg) <= r.pool.pool.Size() { // into the pool
		run, err := r.pool.alloc(ctx, len(msg), block, op)
		if err != nil {
			return err
		}
		copy(r.pool.pool.Bytes(run, len(msg)), msg)
		if err := r.pool.publish(ctx, run, len(msg), block, op); err != nil {
			r.pool.pool.Free(run)
			return err
		}
		return nil
	}
	if len(msg) > r.ring.MaxLen() { // a large message in a file of its own: the slot takes its reference
		if out, err = r.store.Put(msg); err != nil {
			return err
		}
		msg = out.Ref
	}
	if err := r.ring.Send(ctx, block, msg); err != nil {
		if out != nil {
			out.Drop()
		}
		return r.err(op, err)
	}
	if out != nil {
		out.Sent()
	}
	return nil
}

// Receive returns the next message, waiting while the ring is empty until
// one comes, ctx is done or the handle is closed; io.EOF after the end of
// the stream. A message that does not decode as T (of another codec's
// type) is a *MessageError holding its bytes.
func (r *Ring[T]) Receive(ctx context.Context) (T, error) {
	if r.direct() {
		var v T
		err := r.receiveInto(ctx, true, &v)
		return v, err
	}
	v, _, err := r.rx.Receive(ctx, true, func() (T, uint, error) { return r.receive(ctx, true) })
	return v, err
}

// TryReceive returns the next message, or ErrEmpty at once if there is
// none (io.EOF after the end of the stream).
func (r *Ring[T]) TryReceive() (T, error) {
	ctx := context.Background()
	if r.direct() {
		var v T
		err := r.receiveInto(ctx, false, &v)
		return v, err
	}
	v, _, err := r.rx.Receive(ctx, false, func() (T, uint, error) { return r.receive(ctx, false) })
	return v, err
}

// direct reports whether a receive may copy a message straight from its
// slot into the caller's value (receiveInto): a pointer-free T, and no
// Recv stream.
func (r *Ring[T]) direct() bool { return r.w.Kind() == typed.Layout && !r.rx.Streaming() }

// receiveInto is receive of a pointer-free T into *v, with no value passed
// up through the layers (the fast path of Receive and TryReceive: see
// Subscription.receiveInto).
func (r *Ring[T]) receiveInto(ctx context.Context, block bool, v *T) error {
	if r.closed() {
		return r.closedErr("receive")
	}
	c, data, err := r.ring.ClaimRead(ctx, block)
	if err != nil {
		return r.err("receive", err)
	}
	if len(data) == r.w.Size() {
		copy(unsafe.Slice((*byte)(unsafe.Pointer(v)), len(data)), data)
	} else { // a foreign sender's message of another size: Decode's error
		*v, err = r.w.Decode(data, 0)
	}
	r.ring.Release(c)
	return err
}

func (r *Ring[T]) receive(ctx context.Context, block bool) (T, uint, error) {
	var zero T
	if r.closed() {
		return zero, 0, r.closedErr("receive")
	}
	c, data, err := r.ring.ClaimRead(ctx, block)
	if err != nil {
		return zero, 0, r.err("receive", err)
	}
	if run, size, ok := r.pool.take(c, data); ok { // the slot is free while the message is copied out
		msg := append([]byte(nil), r.pool.pool.Bytes(run, size)...) // growslice leaves memory it overwrites uncleared
		r.pool.pool.Free(run)
		v, err := r.w.DecodeOwned(msg, 0)
		return v, 0, err
	}
	if msg, ok, err := r.takeFile(c, data); ok {
		if err != nil {
			return zero, 0, err
		}
		v, err := r.w.DecodeOwned(msg, 0)
		return v, 0, err
	}
	v, err := r.w.Decode(data, 0)
	r.ring.Release(c)
	return v, 0, err
}

// takeFile reports whether data, the message in the slot c, refers to a
// large message in a file of its own, and if so frees the slot and reads
// the message into new memory.
func (r *Ring[T]) takeFile(c ring.Claim, data []byte) ([]byte, bool, error) {
	if r.store == nil || !large.IsRef(data) {
		return nil, false, nil
	}
	ref := append(make([]byte, 0, large.RefSize), data...)
	r.ring.Release(c) // the slot is free while the message is read from its file
	msg, _, err := takeLarge(r.store, ref, 0, nil)
	return msg, true, err
}

// Recv returns a channel that delivers the ring's messages, as Queue.Recv
// does: one goroutine takes a message only after it has handed over the
// previous one, which goes to the next receive on this handle or back into
// the ring on Close (at its end: a ring has no front to put it back at).
func (r *Ring[T]) Recv() <-chan T { return r.rx.Recv(r.take) }

// Err returns the error that ended the Recv channel, or nil.
func (r *Ring[T]) Err() error { return r.rx.Err() }

// All returns an iterator over the ring's messages, as Queue.All: it takes
// a message only when the loop asks for the next one.
func (r *Ring[T]) All(ctx context.Context) iter.Seq2[T, error] {
	return typed.All(ctx, r.Receive)
}

// take receives the next message for the Recv stream.
func (r *Ring[T]) take(ctx context.Context) (typed.Taken[T], error) {
	v, _, err := r.receive(ctx, true)
	if err != nil {
		return typed.Taken[T]{}, err
	}
	return typed.Taken[T]{Value: v, PutBack: func() error { return r.putBack(v) }}, nil
}

// putBack returns a message that Recv took but did not deliver to the
// ring, waiting up to a second for room; if there is none, the error
// holds it.
func (r *Ring[T]) putBack(v T) error {
	ctx, cancel := context.WithTimeout(context.Background(), putBackPatience)
	defer cancel()
	err := r.send(ctx, &v, true, "close")
	if err == nil {
		return nil
	}
	msg, _ := r.w.Encode(nil, &v)
	return &MessageError{Kind: r.obj.Kind, Queue: r.obj.Name, Op: "close", Data: append([]byte(nil), msg...), Value: v, Err: ErrFull, Cause: err,
		Detail: "Recv had taken it but could not put it back: " + err.Error() + "; it is in this error's Value"}
}

// Close closes this process's handle; the ring stays until Unlink. A
// message that Recv had taken goes back into the ring; every goroutine
// blocked on the handle returns ErrClosed. The memory stays mapped until
// the handle is garbage, so that a call still running on it is safe.
// Calling Close twice is harmless.
func (r *Ring[T]) Close() error {
	err := r.rx.Close()
	r.close()
	return err
}

// Unlink removes the ring's name; handles already open keep working.
func (r *Ring[T]) Unlink() error { return UnlinkRing(r.obj.Name) }

// UnlinkRing removes the ring name.
func UnlinkRing(name string) error {
	err := unlinkObject("ring", name)
	if err == nil || errors.Is(err, ErrNotExist) {
		large.RemoveAll("ring", name) // its large messages and its pool go with it
		large.RemovePool(ipcerr.Object{Kind: "ring", Name: name})
	}
	return err
}

// err turns an error of the ring's algorithm into the handle's.
func (r *Ring[T]) err(op string, err error) error {
	switch err {
	case ring.ErrFull:
		return r.obj.Err(op, ErrFull, fmt.Sprintf("the ring is full (%d messages)", r.ring.Capacity()))
	case ring.ErrEmpty:
		return r.obj.Err(op, ErrEmpty, "the ring is empty")
	case ring.ErrEnded:
		return r.obj.Err(op, ErrClosed, "the stream has ended (CloseSend): no message may follow")
	case ring.ErrClosed:
		return r.closedErr(op)
	case ring.ErrCorrupt:
		return r.obj.Err(op, ErrCorrupt, "the ring's slots are in states the protocol never leaves them in: something else wrote into it; remove it (ipcchan.UnlinkRing) and make it again")
	}
	if err == nil || err == io.EOF {
		return err
	}
	what := "a message"
	if op != "receive" {
		what = "room in the ring"
	}
	return r.obj.Ended(op, err, what)
}
