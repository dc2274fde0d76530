package natsq

import (
	"context"
	"iter"
	"time"

	"github.com/ipcchan/ipcchan/internal/typed"
)

// Recv returns a channel that delivers the queue's messages, for
// `for v := range q.Recv()` and select. The channel is closed at the end of
// the stream, when the handle is closed, or on an error; Err then tells
// which. Every call returns the same channel until it is closed.
//
// Behind the channel, one goroutine takes a message from the stream only
// after it has handed over the previous one (to the channel, or to the
// next Receive on this handle), and acknowledges each message when it is
// handed over. The message it holds meanwhile stays reserved to this
// handle (it tells JetStream it is in progress) and goes back to the
// stream on Close, ahead of the newer messages of its level; if the
// process dies, JetStream delivers it again after the consumer's AckWait.
func (q *Queue[T]) Recv() <-chan T { return q.rx.Recv(q.takeForStream) }

// Err returns the error that ended the Recv channel, or nil if it ended
// because of the end of the stream or Close (or has not ended). After an
// error, the next Recv starts a new stream.
func (q *Queue[T]) Err() error { return q.rx.Err() }

// holdRenew is how often the Recv goroutine tells JetStream that the
// message it holds is still in progress: well within the default AckWait
// of 30 s.
const holdRenew = 10 * time.Second

// takeForStream takes the next message for the Recv stream; it is
// acknowledged when handed over, and given back, ahead of the newer ones
// of its level, if the handle closes first.
func (q *Queue[T]) takeForStream(ctx context.Context) (typed.Taken[T], error) {
	q.win.beginTake()
	m, v, prio, err := q.next(ctx, true)
	q.win.endTake()
	if err != nil {
		if m != nil {
			q.ack(m) // an undecodable message, handed over in the error
		}
		return typed.Taken[T]{}, err
	}
	return typed.Taken[T]{Value: v, Prio: prio,
		Delivered: func() { q.ack(m) },
		PutBack:   func() error { q.win.putBack(q.level(m), m); return nil },
		Renew:     func() { m.InProgress() },
	}, nil
}

// All returns an iterator over the queue's messages for
// `for v, err := range q.All(ctx)`. It takes a message only when the loop
// asks for the next one, so breaking out leaves the rest in the stream. It
// ends at the end of the stream; when ctx is done, the handle is closed or
// NATS fails, it yields the error and ends. A message that cannot be
// decoded is yielded as a *ipcchan.MessageError and the iteration goes on
// if the loop does.
func (q *Queue[T]) All(ctx context.Context) iter.Seq2[T, error] {
	return typed.All(ctx, q.Receive)
}
