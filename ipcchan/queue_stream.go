package ipcchan

import (
	"context"
	"errors"
	"io"
	"iter"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ipcchan/ipcchan/internal/posix"
	"github.com/ipcchan/ipcchan/loop"
)

// A stream is the goroutine behind Recv. It holds the handle's receive
// token while it reads a message from the kernel and until it has handed
// the message over, to the Recv channel or to a Receive call on the same
// handle; a Receive call that wants to read from the kernel itself takes
// the token when the stream does not hold it.
type stream[T any] struct {
	ch         chan T
	handoff    chan item[T]  // the held message, with its priority, for Receive
	token      chan struct{} // capacity 1: full while someone reads for this handle
	exited     chan struct{} // closed when the goroutine has returned
	err        error         // why the stream ended; read after exited
	putBackErr error         // a held message that could not be returned on Close
}

type item[T any] struct {
	v    T
	prio uint
}

// acquire lets a Receive call in: it returns the message the stream holds,
// or nil with the token taken (give it back with release).
func (s *stream[T]) acquire(ctx context.Context, block bool) (*item[T], error) {
	if !block {
		select {
		case it := <-s.handoff:
			return &it, nil
		case s.token <- struct{}{}:
			return nil, nil
		default:
			return nil, ErrEmpty
		}
	}
	select {
	case it := <-s.handoff:
		return &it, nil
	case s.token <- struct{}{}:
		return nil, nil
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	}
}

func (s *stream[T]) release() { <-s.token }

func (q *Queue[T]) streamWaitError(err error) error {
	if err == ErrEmpty {
		return &Error{Kind: "queue", Name: q.name, Op: "receive", Err: ErrEmpty, Detail: "the queue is empty"}
	}
	return q.waitError("receive", err, "a message")
}

// Recv returns a channel that delivers the queue's messages, for
// `for v := range q.Recv()` and select. The channel is closed at the end of
// the stream (CloseSend), when the handle is closed, or on an error; Err
// then tells which. Every call returns the same channel until it is closed.
//
// Behind the channel, one goroutine reads a message from the kernel only
// after it has handed over the previous one, so it holds at most one
// message that the program has not taken yet. That message goes to the
// next receive on this handle (from the channel, Receive or All), or back
// into the queue on Close: breaking out of a range loop loses nothing. If
// the queue stays full for a second (a busy sender and no other receiver),
// Close cannot put it back and returns it instead, in a *MessageError whose
// Value is the message. If the process dies without Close, the message
// dies with it; code that must not lose a message to SIGKILL should use
// Receive or All, which read a message only when asked for one.
func (q *Queue[T]) Recv() <-chan T {
	q.streamMu.Lock()
	defer q.streamMu.Unlock()
	if s := q.stream.Load(); s != nil {
		select {
		case <-s.exited:
			if s.err == nil || q.closing.Load() {
				return s.ch // ended for good: end of stream or closed
			}
		default:
			return s.ch
		}
	}
	s := &stream[T]{ch: make(chan T), handoff: make(chan item[T]), token: make(chan struct{}, 1), exited: make(chan struct{})}
	q.stream.Store(s)
	go q.feed(s)
	return s.ch
}

// Err returns the error that ended the Recv channel, or nil if it ended
// because of the end of the stream or Close (or has not ended). After an
// error, the next Recv starts a new stream.
func (q *Queue[T]) Err() error {
	s := q.stream.Load()
	if s == nil {
		return nil
	}
	select {
	case <-s.exited:
		return s.err
	default:
		return nil
	}
}

func (q *Queue[T]) feed(s *stream[T]) {
	defer close(s.exited)
	defer close(s.ch)
	bp := q.bufs.Get().(*[]byte)
	defer q.bufs.Put(bp)
	ctx := context.Background()
	for {
		select {
		case s.token <- struct{}{}:
		case <-q.done:
			return
		}
		tok := q.wait.Token()
		v, prio, raw, err := q.tryReceive(ctx, true, *bp, true)
		for err == syscall.EAGAIN {
			if err = q.wait.Wait(ctx, loop.Readable, tok); err == nil {
				tok = q.wait.Token()
				v, prio, raw, err = q.tryReceive(ctx, true, *bp, true)
			}
		}
		if err != nil {
			<-s.token
			if err != io.EOF && !errors.Is(err, ErrClosed) && !errors.Is(err, loop.ErrClosed) {
				s.err = err
			}
			return
		}
		select {
		case s.ch <- v:
		case s.handoff <- item[T]{v, prio}:
		case <-q.done:
			s.putBackErr = q.putBack(v, raw, prio)
			<-s.token
			return
		}
		<-s.token
	}
}

// putBack returns a message that was read but not delivered to the queue,
// at its priority. Close calls it while the descriptor is still open. If
// the queue stays full, the message is returned in the error instead.
func (q *Queue[T]) putBack(v T, msg []byte, prio uint) error {
	deadline := time.Now().Add(putBackPatience)
	for {
		q.mu.RLock()
		err := posix.MqSend(q.fd, msg, prio)
		q.mu.RUnlock()
		if err != syscall.EAGAIN {
			if err != nil {
				return &MessageError{Queue: q.name, Op: "close", Priority: prio, Data: msg, Value: v, Err: err,
					Detail: "Recv had read it ahead but could not put it back: " + err.Error() + "; it is in this error's Value"}
			}
			return nil
		}
		left := time.Until(deadline)
		if left <= 0 {
			return &MessageError{Queue: q.name, Op: "close", Priority: prio, Data: msg, Value: v, Err: ErrFull,
				Detail: "Recv had read it ahead but could not put it back: the queue stayed full for " + putBackPatience.String() + "; it is in this error's Value"}
		}
		// The reactor registration is gone with Close; poll the descriptor.
		fds := []unix.PollFd{{Fd: int32(q.fd), Events: unix.POLLOUT}}
		unix.Poll(fds, int(left.Milliseconds())+1)
	}
}

// putBackPatience bounds how long Close waits for room to return a message.
var putBackPatience = time.Second

// All returns an iterator over the queue's messages for
// `for v, err := range q.All(ctx)`. It reads a message only when the loop
// asks for the next one, so breaking out loses nothing. It ends at the end
// of the stream; when ctx is done, the handle is closed or a system call
// fails, it yields the error and ends. A message that cannot be decoded is
// yielded as a *MessageError and the iteration goes on if the loop does.
func (q *Queue[T]) All(ctx context.Context) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		for {
			v, err := q.Receive(ctx)
			if err == io.EOF {
				return
			}
			var me *MessageError
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
