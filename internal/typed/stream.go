package typed

import (
	"context"
	"errors"
	"io"
	"iter"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ipcchan/ipcchan/internal/ipcerr"
)

// A Taken message has left its transport for a receiver but is not handed
// over yet. Whoever hands it over calls Delivered; if it cannot be handed
// over, PutBack returns it to the transport.
type Taken[T any] struct {
	Value     T
	Prio      uint
	Delivered func()       // once handed over (natsq acknowledges it); may be nil
	PutBack   func() error // when it is not handed over; the error holds it if it cannot go back
	Renew     func()       // every Receiving.RenewEvery while it is held (natsq: in progress); may be nil
}

// A Source takes the next message of a transport for a Recv stream,
// waiting while there is none, until ctx ends (Close cancels it). It
// returns io.EOF at the end of the stream.
type Source[T any] func(ctx context.Context) (Taken[T], error)

// Receiving is the Recv side of one handle of any transport: the
// goroutine behind the Recv channel, which holds at most one message, and
// the hand-over of that message to the other receives of the handle.
//
// The goroutine holds the handle's receive token while it takes a message
// and until it has handed it over: to the channel, or to a Receive call on
// the same handle (Acquire), so that the stream never keeps a message from
// a caller that waits for one and the handle receives in order. A Receive
// that takes from the transport itself holds the token meanwhile.
type Receiving[T any] struct {
	Obj        ipcerr.Object // for errors
	RenewEvery time.Duration // how often a held message is renewed

	mu  sync.Mutex // serialises Recv and Close
	cur atomic.Pointer[stream[T]]
	end bool // Close was called
}

type stream[T any] struct {
	ch         chan T
	handoff    chan Taken[T]
	token      chan struct{} // capacity 1: full while someone takes for this handle
	ctx        context.Context
	stop       context.CancelFunc
	exited     chan struct{} // closed when the goroutine has returned
	ended      chan struct{} // closed before the channel is: err is final
	err        error         // why the stream ended; read after exited
	putBackErr error         // a held message that could not go back at Close
}

// Recv returns the channel of the stream, starting one that takes its
// messages from take. Every call returns the same channel until the stream
// ends; after it ended on an error, the next call starts a new one.
func (r *Receiving[T]) Recv(take Source[T]) <-chan T {
	r.mu.Lock()
	defer r.mu.Unlock()
	if s := r.cur.Load(); s != nil {
		select {
		case <-s.exited:
			if s.err == nil || r.end {
				return s.ch // ended for good: end of stream or closed
			}
		default:
			return s.ch
		}
	}
	ctx, stop := context.WithCancel(context.Background())
	s := &stream[T]{ch: make(chan T), handoff: make(chan Taken[T]), token: make(chan struct{}, 1),
		ctx: ctx, stop: stop, exited: make(chan struct{}), ended: make(chan struct{})}
	if r.end {
		stop()
	}
	r.cur.Store(s)
	go r.feed(s, take)
	return s.ch
}

// Err returns the error that ended the Recv channel, or nil if it ended at
// the end of the stream or on Close (or has not ended).
func (r *Receiving[T]) Err() error {
	s := r.cur.Load()
	if s == nil {
		return nil
	}
	select {
	case <-s.ended: // whoever saw the channel closed sees this closed
		return s.err
	default:
		return nil
	}
}

// Acquire lets a receive of the handle in while a stream runs: it returns
// the message the stream holds (already marked delivered), or nil and a
// release func once this caller holds the token and may take from the
// transport itself. Without a stream it returns nil and a no-op release.
// Without block it does not wait: ErrEmpty when the stream holds the token
// and no message.
func (r *Receiving[T]) Acquire(ctx context.Context, block bool) (*Taken[T], func(), error) {
	s := r.cur.Load()
	if s == nil {
		return nil, noop, nil
	}
	var t Taken[T]
	if !block {
		select {
		case t = <-s.handoff:
		case s.token <- struct{}{}:
			return nil, s.release, nil
		default:
			return nil, nil, r.Obj.Err("receive", ipcerr.ErrEmpty, "the queue is empty")
		}
	} else {
		select {
		case t = <-s.handoff:
		case s.token <- struct{}{}:
			return nil, s.release, nil
		case <-ctx.Done():
			return nil, nil, r.Obj.Ended("receive", context.Cause(ctx), "a message")
		}
	}
	if t.Delivered != nil {
		t.Delivered()
	}
	return &t, noop, nil
}

func noop() {}

// Streaming reports whether a stream (Recv) runs: without one, a receive
// may take from the transport directly, with no token to hold.
func (r *Receiving[T]) Streaming() bool { return r.cur.Load() != nil }

// Receive is a receive of the handle: it takes the message a stream holds,
// if any, or else calls direct, which takes one from the transport, while
// it holds the token.
func (r *Receiving[T]) Receive(ctx context.Context, block bool, direct func() (T, uint, error)) (T, uint, error) {
	held, release, err := r.Acquire(ctx, block)
	if err != nil {
		var zero T
		return zero, 0, err
	}
	if held != nil {
		return held.Value, held.Prio, nil
	}
	defer release()
	return direct()
}

func (s *stream[T]) release() { <-s.token }

// Close stops the stream, if one runs: a message it holds goes back to the
// transport (PutBack), before Close returns the error of one that could
// not. The transport must keep what PutBack needs until then.
func (r *Receiving[T]) Close() error {
	r.mu.Lock()
	r.end = true
	s := r.cur.Load()
	r.mu.Unlock()
	if s == nil {
		return nil
	}
	s.stop()
	<-s.exited
	return s.putBackErr
}

func (r *Receiving[T]) feed(s *stream[T], take Source[T]) {
	defer close(s.exited)
	defer close(s.ch)
	defer close(s.ended)
	for {
		select {
		case s.token <- struct{}{}:
		case <-s.ctx.Done():
			return
		}
		t, err := take(s.ctx)
		if err != nil {
			s.release()
			if err != io.EOF && s.ctx.Err() == nil && !errors.Is(err, ipcerr.ErrClosed) {
				s.err = err
			}
			return
		}
		if !r.deliver(s, t) {
			return
		}
		s.release()
	}
}

// deliver hands t over, to the channel or to an Acquire, or puts it back
// when the stream stops first; it reports whether the stream goes on.
func (r *Receiving[T]) deliver(s *stream[T], t Taken[T]) bool {
	var renew <-chan time.Time
	if t.Renew != nil && r.RenewEvery > 0 {
		tick := time.NewTicker(r.RenewEvery)
		defer tick.Stop()
		renew = tick.C
	}
	for {
		select {
		case s.ch <- t.Value:
			if t.Delivered != nil {
				t.Delivered()
			}
			return true
		case s.handoff <- t:
			return true
		case <-renew:
			t.Renew()
		case <-s.ctx.Done():
			if t.PutBack != nil {
				s.putBackErr = t.PutBack()
			}
			s.release()
			return false
		}
	}
}

// All returns the iterator of `for v, err := range q.All(ctx)` over the
// receive of any transport: it takes a message only when the loop asks for
// the next one, so breaking out loses nothing. It ends at the end of the
// stream (io.EOF); a message that cannot be decoded is yielded as a
// *ipcerr.MessageError and the iteration goes on if the loop does; any
// other error is yielded, and ends it.
func All[T any](ctx context.Context, receive func(context.Context) (T, error)) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		for {
			v, err := receive(ctx)
			if err == io.EOF {
				return
			}
			var me *ipcerr.MessageError
			if err != nil && !errors.As(err, &me) {
				var zero T
				yield(zero, err)
				return
			}
			if !yield(v, err) {
				return
			}
		}
	}
}
