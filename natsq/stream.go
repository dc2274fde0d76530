package natsq

import (
	"context"
	"errors"
	"io"
	"iter"
	"time"

	"github.com/ipcchan/ipcchan/ipcchan"
)

// A feed is the goroutine behind Recv.
type feed[T any] struct {
	ch     chan T
	exited chan struct{} // closed when the goroutine has returned
	err    error         // why it ended; read after exited
}

// Recv returns a channel that delivers the queue's messages, for
// `for v := range q.Recv()` and select. The channel is closed at the end of
// the stream, when the handle is closed, or on an error; Err then tells
// which. Every call returns the same channel until it is closed.
//
// Behind the channel, one goroutine takes a message from the stream only
// after it has handed over the previous one, and acknowledges each message
// when the channel delivers it. The message it holds meanwhile stays
// reserved to this handle (it tells JetStream it is in progress) and goes
// back to the stream at once on Close; if the process dies, JetStream
// delivers it again after the consumer's AckWait.
func (q *Queue[T]) Recv() <-chan T {
	q.streamMu.Lock()
	defer q.streamMu.Unlock()
	if f := q.feed; f != nil {
		select {
		case <-f.exited:
			if f.err == nil || q.closed() {
				return f.ch
			}
		default:
			return f.ch
		}
	}
	f := &feed[T]{ch: make(chan T), exited: make(chan struct{})}
	q.feed = f
	go q.run(f)
	return f.ch
}

// Err returns the error that ended the Recv channel, or nil if it ended
// because of the end of the stream or Close (or has not ended). After an
// error, the next Recv starts a new stream.
func (q *Queue[T]) Err() error {
	q.streamMu.Lock()
	f := q.feed
	q.streamMu.Unlock()
	if f == nil {
		return nil
	}
	select {
	case <-f.exited:
		return f.err
	default:
		return nil
	}
}

// holdRenew is how often the Recv goroutine tells JetStream that the
// message it holds is still in progress: well within the default AckWait
// of 30 s.
const holdRenew = 10 * time.Second

func (q *Queue[T]) run(f *feed[T]) {
	defer close(f.exited)
	defer close(f.ch)
	ctx := context.Background()
	for {
		m, v, _, err := q.next(ctx, true)
		if err != nil {
			if m != nil {
				q.ack(m) // an undecodable message, handed over in the error
			}
			if err != io.EOF && !errors.Is(err, ipcchan.ErrClosed) {
				f.err = err
			}
			return
		}
		renew := time.NewTicker(holdRenew)
	hold:
		for {
			select {
			case f.ch <- v:
				q.ack(m)
				break hold
			case <-renew.C:
				m.InProgress()
			case <-q.done:
				renew.Stop()
				m.Nak()
				return
			}
		}
		renew.Stop()
	}
}

// All returns an iterator over the queue's messages for
// `for v, err := range q.All(ctx)`. It takes a message only when the loop
// asks for the next one, so breaking out leaves the rest in the stream. It
// ends at the end of the stream; when ctx is done, the handle is closed or
// NATS fails, it yields the error and ends. A message that cannot be
// decoded is yielded as a *ipcchan.MessageError and the iteration goes on
// if the loop does.
func (q *Queue[T]) All(ctx context.Context) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		for {
			v, err := q.Receive(ctx)
			if err == io.EOF {
				return
			}
			var me *ipcchan.MessageError
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
