package ipcchan

import (
	"context"
	"iter"
	"runtime"
	"sync/atomic"
	"unsafe"

	"github.com/ipcchan/ipcchan/internal/futex"
	"github.com/ipcchan/ipcchan/internal/ring"
	"github.com/ipcchan/ipcchan/internal/typed"
	"github.com/ipcchan/ipcchan/loop"
)

// A Subscription is one subscriber's view of a topic: the messages
// published since it subscribed (plus the topic's history), in each
// publisher's order, each once. It is a Receiver; its methods are safe
// for concurrent use, and each message goes to one of the goroutines that
// receive on it (for every message to reach several goroutines, give each
// its own subscription).
//
// A subscription holds an entry of the topic's table until Close (or its
// process's end): under Block, publishers wait for it. One dropped
// without Close is closed when it is garbage.
//
// A subscription reads ahead: when it takes a message, it takes every
// message after it that is there too (up to 64, and 16 KiB), into its own
// memory, moving its cursor and waking publishers once for them all. The
// messages are its own (each subscription reads its own copy of the
// stream), so nothing is taken from anyone; what it read ahead and had
// not handed out when it closes is dropped with it.
type Subscription[T any] struct {
	t  *Topic[T]
	st *subState
	rx typed.Receiving[T]
}

// subState is what the topic handle knows of a subscription, and what
// closes it: the topic, not the Subscription, holds it, so that a
// Subscription dropped without Close can be closed when it is garbage.
type subState struct {
	sub     *ring.Sub
	waiters futex.Set // the subscription's waits: its Close ends them
	done    atomic.Bool
	viewing atomic.Bool     // a view holds the subscription at its message (ReceiveView)
	drop    func(*subState) // takes it off its topic's list
}

// close frees the subscription's entry and wakes its waiters, once.
func (st *subState) close() error {
	if st.done.CompareAndSwap(false, true) {
		st.sub.Close()
		st.waiters.Close()
		st.drop(st)
	}
	return nil
}

// Subscribe starts a subscription: from the next message published, after
// the last History(n) messages the topic holds. It fails with ErrLimit
// when the topic holds as many live subscriptions as its Subscribers.
func (t *Topic[T]) Subscribe() (*Subscription[T], error) {
	if t.closed() {
		return nil, t.closedErr("subscribe")
	}
	st := &subState{drop: func(st *subState) {
		t.mu.Lock()
		delete(t.subs, st)
		t.mu.Unlock()
	}}
	sub, err := t.topic.Subscribe(&st.waiters)
	if err != nil {
		return nil, t.err("subscribe", err)
	}
	st.sub = sub
	t.mu.Lock()
	if t.subs == nil { // Close ran meanwhile
		t.mu.Unlock()
		sub.Close()
		return nil, t.closedErr("subscribe")
	}
	t.subs[st] = struct{}{}
	t.mu.Unlock()
	s := &Subscription[T]{t: t, st: st}
	s.rx.Obj = t.obj
	runtime.AddCleanup(s, func(st *subState) { st.close() }, st)
	return s, nil
}

// Name returns the topic's name.
func (s *Subscription[T]) Name() string { return s.t.obj.Name }

// Missed is how many messages this subscription lost: under DropOldest,
// those overwritten before it read them (it jumped over them); under
// Block, always 0. A message whose publisher died writing it was never
// sent, and is not counted, unless it was overwritten before this
// subscription looked at it.
func (s *Subscription[T]) Missed() uint64 { return s.st.sub.Missed() }

// Lag is about how many messages are published and not yet received from
// this subscription (at most the Capacity, plus what it read ahead).
func (s *Subscription[T]) Lag() int { return int(s.st.sub.Lag()) }

func (s *Subscription[T]) closed() bool { return s.st.done.Load() || s.t.closed() }

// Receive returns the next message, waiting until one is published, ctx is
// done or the subscription is closed; io.EOF after the end of the stream
// (CloseSend) once every message published before it is received. A
// message that does not decode as T is a *MessageError holding its bytes.
func (s *Subscription[T]) Receive(ctx context.Context) (T, error) {
	if s.direct() {
		var v T
		err := s.receiveInto(ctx, true, &v)
		return v, err
	}
	v, _, err := s.rx.Receive(ctx, true, func() (T, uint, error) { return s.receive(ctx, true) })
	return v, err
}

// TryReceive returns the next message, or ErrEmpty at once if there is
// none (io.EOF after the end of the stream).
func (s *Subscription[T]) TryReceive() (T, error) {
	ctx := context.Background()
	if s.direct() {
		var v T
		err := s.receiveInto(ctx, false, &v)
		return v, err
	}
	v, _, err := s.rx.Receive(ctx, false, func() (T, uint, error) { return s.receive(ctx, false) })
	return v, err
}

// direct reports whether a receive may copy a message straight into the
// caller's value (receiveInto): a pointer-free T, and no Recv stream.
func (s *Subscription[T]) direct() bool {
	return s.t.w.Kind() == typed.Layout && !s.rx.Streaming()
}

// receiveInto is receive of a pointer-free T into *v, copied from the
// topic (or the read-ahead) with no value passed up through the layers:
// the fast path of Receive and TryReceive (profiled: the copies of T
// from frame to frame were a third of a receive).
func (s *Subscription[T]) receiveInto(ctx context.Context, block bool, v *T) error {
	if s.closed() {
		return s.t.closedErr("receive")
	}
	if s.st.viewing.Load() {
		return s.viewHeld()
	}
	dst := unsafe.Slice((*byte)(unsafe.Pointer(v)), s.t.w.Size())
	var odd []byte // a message of another size (a foreign publisher's)
	err := s.st.sub.Take(ctx, block, func(data []byte) {
		if len(data) != len(dst) {
			odd = append(odd[:0], data...)
			return
		}
		odd = nil
		copy(dst, data)
	})
	if err != nil {
		var zero T
		*v = zero // what a copy that did not count left there
		return s.t.err("receive", err)
	}
	if odd != nil {
		var derr error
		*v, derr = s.t.w.Decode(odd, 0)
		return derr
	}
	return nil
}

func (s *Subscription[T]) receive(ctx context.Context, block bool) (T, uint, error) {
	var zero T
	if s.closed() {
		return zero, 0, s.t.closedErr("receive")
	}
	if s.st.viewing.Load() {
		return zero, 0, s.viewHeld()
	}
	w := s.t.w
	var (
		v    T
		derr error
		msg  []byte
		bp   *[]byte
	)
	kind := w.Kind()
	if kind == typed.Typed {
		bp = s.t.bufs.Get().(*[]byte)
		defer s.t.bufs.Put(bp)
	}
	var gone []byte
	err := s.st.sub.TakeAt(ctx, block, func(pos uint64, data []byte) {
		m, lost := s.t.inPool(pos, data) // a large message: in the pool
		if gone = nil; lost {
			gone = append(gone, data...)
		}
		data = m
		switch kind {
		case typed.Layout: // copied into v; a torn copy is taken again
			v, derr = w.Decode(data, 0)
		case typed.Typed: // decoded once the bytes are surely whole
			*bp = append((*bp)[:0], data...)
		default:
			msg = append(make([]byte, 0, len(data)), data...)
		}
	})
	if err != nil {
		return zero, 0, s.t.err("receive", err)
	}
	if gone != nil {
		return zero, 0, s.t.goneError(gone)
	}
	switch kind {
	case typed.Typed:
		v, derr = w.Decode(*bp, 0)
	case typed.Bytes, typed.String:
		v, derr = w.DecodeOwned(msg, 0)
	}
	return v, 0, derr
}

// Recv returns a channel that delivers the subscription's messages, as
// Queue.Recv does: one goroutine takes a message only after it has handed
// over the previous one. It is closed at the end of the stream, on Close,
// or on an error (then Err says which). A message it held when the
// subscription closed is not delivered: the subscription is over, and the
// other subscriptions have their own.
func (s *Subscription[T]) Recv() <-chan T { return s.rx.Recv(s.take) }

func (s *Subscription[T]) take(ctx context.Context) (typed.Taken[T], error) {
	v, _, err := s.receive(ctx, true)
	return typed.Taken[T]{Value: v}, err
}

// Err returns the error that ended the Recv channel, or nil.
func (s *Subscription[T]) Err() error { return s.rx.Err() }

// All returns an iterator over the subscription's messages, as Queue.All:
// it takes a message only when the loop asks for the next one.
func (s *Subscription[T]) All(ctx context.Context) iter.Seq2[T, error] {
	return typed.All(ctx, s.Receive)
}

// Close ends the subscription: publishers stop waiting for it at once,
// and every goroutine blocked on it returns ErrClosed. Calling Close twice
// is harmless.
func (s *Subscription[T]) Close() error {
	err := s.rx.Close()
	s.st.close()
	return err
}

// Watch runs cb on l's goroutine when a receive would not wait (a message
// is there, or the stream has ended): ev must be loop.Readable. As for a
// Ring, it is level-triggered: cb takes what it wants with TryReceive
// until ErrEmpty. stop ends the watch; so do Close and l's end. A watched
// subscription costs a goroutine, parked on the shared futex waiter.
func (s *Subscription[T]) Watch(l *loop.Loop, ev loop.Events, cb func(loop.Events)) (stop func(), err error) {
	if ev != loop.Readable {
		return nil, s.t.obj.Err("watch", ErrInvalid, "watch a subscription for loop.Readable")
	}
	return watchReady(s.t.obj, s.closed, l, ev, cb, func(ctx context.Context) error {
		return s.st.sub.WaitReady(ctx)
	})
}
