package natsq

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ipcchan/ipcchan/ipcchan"
)

// Receive returns the next message: the oldest of the highest priority
// level that has one. It waits while the queue is empty until a message
// arrives, ctx is done, or the handle is closed, and returns io.EOF after
// the end of the stream. The message is acknowledged as Receive returns it
// (at least once: see the package documentation).
//
// A message that cannot be decoded as T is returned as a
// *ipcchan.MessageError (ErrTypeMismatch or ErrCorrupt) holding its bytes,
// and acknowledged: like a POSIX queue, the stream does not offer it again.
// A receive on a queue whose stream, or one of whose consumers, was
// deleted fails with ipcchan.ErrNotExist.
func (q *Queue[T]) Receive(ctx context.Context) (T, error) {
	v, _, err := q.receive(ctx, true)
	return v, err
}

// ReceivePriority is Receive that also returns the priority the message
// was sent with.
func (q *Queue[T]) ReceivePriority(ctx context.Context) (T, uint, error) {
	return q.receive(ctx, true)
}

// TryReceive returns the next message if there is one, and
// ipcchan.ErrEmpty if there is not. Unless the handle holds messages and
// knows the levels above them empty, it makes one round trip to the
// server (and, just after the handle gave back what it held, first waits
// until the server has taken it back).
func (q *Queue[T]) TryReceive() (T, error) {
	v, _, err := q.receive(context.Background(), false)
	return v, err
}

// TryReceivePriority is TryReceive that also returns the message's priority.
func (q *Queue[T]) TryReceivePriority() (T, uint, error) {
	return q.receive(context.Background(), false)
}

// receive gets the next message for a caller: the one a Recv stream of
// this handle holds, if any, or else one from the stream.
func (q *Queue[T]) receive(ctx context.Context, block bool) (T, uint, error) {
	return q.rx.Receive(ctx, block, func() (T, uint, error) {
		q.win.beginTake()
		defer q.win.endTake() // after the acknowledgement: the handle holds its window until then
		m, v, prio, err := q.next(ctx, block)
		if m != nil {
			q.ack(m)
		}
		return v, prio, err
	})
}

// pollWindow is how long a waiting receiver's pull requests wait on an
// empty queue before they are renewed.
const pollWindow = 5 * time.Second

// next takes the next message from the stream and decodes it, without
// acknowledging it: the caller acknowledges m once it has handed the value
// over. m is nil at the end of the stream (which stays in the stream for
// the other receivers) and on errors other than a *MessageError.
func (q *Queue[T]) next(ctx context.Context, block bool) (m jetstream.Msg, v T, prio uint, err error) {
	for {
		if q.closed() {
			return nil, v, 0, q.obj.Closed("receive")
		}
		var wait time.Duration // 0: only what is there now
		if block {
			wait = pollWindow
			if dl, ok := ctx.Deadline(); ok {
				wait = max(min(wait, time.Until(dl)), 10*time.Millisecond)
			}
		}
		m, err = q.win.take(ctx, wait)
		switch {
		case err != nil:
			return nil, v, 0, q.requestFailed(ctx, err)
		case m != nil:
			return q.decode(m)
		case !block:
			return nil, v, 0, q.obj.Err("receive", ipcchan.ErrEmpty, "the queue is empty")
		}
	}
}

// decode turns a message into a value; at the end of the stream it gives
// the mark back at once, for the other receivers, and returns io.EOF.
func (q *Queue[T]) decode(m jetstream.Msg) (jetstream.Msg, T, uint, error) {
	var zero T
	prio := q.priority(m)
	data := m.Data()
	if q.w.IsEOF(data) {
		m.Nak()
		return nil, zero, prio, io.EOF
	}
	v, err := q.w.Decode(data, prio)
	return m, v, prio, err
}

// priority is the priority m was sent with: its header, or else (a
// message another client published without it, or with one that is not a
// number from 0 to MaxPriority) the lowest priority of its subject's
// level: 0, 1, 10 or 100. A valid header is taken even outside the level.
func (q *Queue[T]) priority(m jetstream.Msg) uint {
	if h := m.Headers().Get(priorityHeader); h != "" {
		if p, err := strconv.ParseUint(h, 10, 16); err == nil && p <= MaxPriority {
			return uint(p)
		}
	}
	return [Levels]uint{0, 1, 10, 100}[q.level(m)]
}

// level is the level of m's subject (0 for a subject that is not one of
// the queue's, which its consumers do not deliver).
func (q *Queue[T]) level(m jetstream.Msg) int {
	for l, s := range q.subject {
		if m.Subject() == s {
			return l
		}
	}
	return 0
}

// ack acknowledges a message that has been handed over. On a stream with
// a Capacity it waits for the server to confirm: once Receive has
// returned, the stream has room again (a TrySend that follows succeeds).
// Without one, room never runs out, and the acknowledgement goes without
// waiting (a round trip less per message). Either way, if the
// acknowledgement is lost (the connection dropped), the value is still the
// caller's, and JetStream delivers the message again after AckWait.
func (q *Queue[T]) ack(m jetstream.Msg) {
	if !q.bounded {
		m.Ack()
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), ackTimeout)
	defer cancel()
	m.DoubleAck(ctx)
}

// ackTimeout bounds the wait for an acknowledgement's confirmation.
const ackTimeout = 5 * time.Second

// requestFailed explains err, a failure of a receive's take: the
// handle's error for a *requestError, err itself for any other.
func (q *Queue[T]) requestFailed(ctx context.Context, err error) error {
	var re *requestError
	switch {
	case !errors.As(err, &re):
		return err
	case !re.sent:
		return q.natsError("receive", re.err, "cannot ask for a message")
	}
	return q.askFailed(ctx, re.level, re.err)
}

// diagnoseTimeout bounds the request of askFailed.
const diagnoseTimeout = 5 * time.Second

// askFailed is the error of a request for level l's messages that failed
// with err. A request that nobody took (no responders) while the
// connection is up leaves open why: the server has no JetStream or stops
// it (shutting down), or the level's consumer, or its stream, is gone. So
// does the end of a request because its consumer was deleted: with its
// stream? A request for the consumer's description tells.
func (q *Queue[T]) askFailed(ctx context.Context, l int, err error) error {
	const what = "cannot receive"
	if (!errors.Is(err, nats.ErrNoResponders) && !errors.Is(err, jetstream.ErrConsumerDeleted)) || q.connDown() != "" {
		return q.natsError("receive", err, what)
	}
	ctx, cancel := context.WithTimeout(ctx, diagnoseTimeout)
	defer cancel()
	_, ierr := q.js.Consumer(ctx, q.stream, consumerName(l))
	switch {
	case errors.Is(ierr, jetstream.ErrStreamNotFound):
		return q.natsError("receive", ierr, what)
	case errors.Is(ierr, jetstream.ErrConsumerNotFound):
		e := q.natsError("receive", ierr, what)
		e.Detail = fmt.Sprintf("%s: the consumer %s of the stream %s (priority level %d) no longer exists (deleted?)", what, consumerName(l), q.stream, l)
		e.Hint = "open the queue again: Open makes the consumers it lacks"
		return e
	case ierr == nil && errors.Is(err, nats.ErrNoResponders):
		// JetStream answers and has the consumer: it did not take the
		// request for a moment (a server starting or stopping).
		e := q.natsError("receive", err, what)
		e.Detail = what + ": JetStream did not take the request for a message, though it answers and has the consumer (a server starting or stopping?)"
		return e
	}
	return q.natsError("receive", err, what)
}
