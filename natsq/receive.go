package natsq

import (
	"context"
	"errors"
	"io"
	"strconv"
	"time"

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
// ipcchan.ErrEmpty if there is not. It still makes one round trip to the
// server.
func (q *Queue[T]) TryReceive() (T, error) {
	v, _, err := q.receive(context.Background(), false)
	return v, err
}

// TryReceivePriority is TryReceive that also returns the message's priority.
func (q *Queue[T]) TryReceivePriority() (T, uint, error) {
	return q.receive(context.Background(), false)
}

func (q *Queue[T]) receive(ctx context.Context, block bool) (T, uint, error) {
	m, v, prio, err := q.next(ctx, block)
	if m != nil {
		q.ack(m)
	}
	return v, prio, err
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
			return nil, v, 0, q.closedError("receive")
		}
		m, err = q.take(ctx, 0)
		if err == nil && m == nil && block {
			wait := pollWindow
			if dl, ok := ctx.Deadline(); ok {
				wait = max(min(wait, time.Until(dl)), 10*time.Millisecond)
			}
			m, err = q.take(ctx, wait)
		}
		switch {
		case err != nil:
			return nil, v, 0, err
		case m != nil:
			return q.decode(m)
		case !block:
			return nil, v, 0, &ipcchan.Error{Kind: kind, Name: q.name, Op: "receive", Err: ipcchan.ErrEmpty, Detail: "the queue is empty"}
		}
	}
}

// decode turns a message into a value; at the end of the stream it gives
// the mark back at once, for the other receivers, and returns io.EOF.
func (q *Queue[T]) decode(m jetstream.Msg) (jetstream.Msg, T, uint, error) {
	var zero T
	prio := q.priority(m)
	data := m.Data()
	if len(data) == 0 && !q.noEOF {
		m.Nak()
		return nil, zero, prio, io.EOF
	}
	v, err := q.w.Decode(data)
	var me *ipcchan.MessageError
	if errors.As(err, &me) {
		me.Queue, me.Op, me.Priority = q.name, "receive", prio
	}
	return m, v, prio, err
}

// priority is the priority m was sent with: its header, or else the
// lowest priority of its level.
func (q *Queue[T]) priority(m jetstream.Msg) uint {
	if h := m.Headers().Get(priorityHeader); h != "" {
		if p, err := strconv.ParseUint(h, 10, 16); err == nil && p <= MaxPriority {
			return uint(p)
		}
	}
	for l, s := range q.subject {
		if m.Subject() == s {
			return [Levels]uint{0, 1, 10, 100}[l]
		}
	}
	return 0
}

// ack acknowledges a message that has been handed over, and waits for
// the server to confirm: once Receive has returned, the stream has room
// again and will not deliver the message a second time. If the
// confirmation fails (the connection dropped), the value is still the
// caller's, and JetStream may deliver the message again after AckWait.
func (q *Queue[T]) ack(m jetstream.Msg) {
	ctx, cancel := context.WithTimeout(context.Background(), ackTimeout)
	defer cancel()
	m.DoubleAck(ctx)
}

// ackTimeout bounds the wait for an acknowledgement's confirmation.
const ackTimeout = 5 * time.Second

// take returns the next message of the highest level: one this handle
// holds already, or one it asks for now. It asks every level it holds
// nothing of at once; what a level brings beyond the message taken is held
// for the next receive on this handle (in order within its level), so the
// stream's order is kept. With wait 0 it takes only what is there now (one
// round trip); otherwise it waits up to wait for the first message of any
// level, ctx or Close. It returns nil, nil when nothing came.
func (q *Queue[T]) take(ctx context.Context, wait time.Duration) (jetstream.Msg, error) {
	var batches [Levels]jetstream.MessageBatch
	held := q.heldLevels()
	for l := range Levels {
		if held[l] {
			continue
		}
		var err error
		if wait == 0 {
			batches[l], err = q.cons[l].FetchNoWait(1)
		} else {
			batches[l], err = q.cons[l].Fetch(1, jetstream.FetchMaxWait(wait))
		}
		if err != nil {
			q.holdLater(batches)
			return nil, q.natsError("receive", err, "cannot ask for a message")
		}
	}
	if wait == 0 {
		err := q.collect(batches)
		if m := q.pop(); m != nil {
			return m, nil
		}
		return nil, err
	}
	return q.first(ctx, batches)
}

// collect waits for every level's answer to a no-wait request and holds
// what they bring.
func (q *Queue[T]) collect(batches [Levels]jetstream.MessageBatch) error {
	var firstErr error
	for l, b := range batches {
		if b == nil {
			continue
		}
		for m := range b.Messages() {
			q.hold(l, m)
		}
		if err := b.Error(); err != nil && firstErr == nil {
			firstErr = q.natsError("receive", err, "cannot receive")
		}
	}
	return firstErr
}

// The select in first has one case per level.
var _ = [1]int{}[Levels-4]

// first waits for the first message of any level; the requests still
// pending go on in the background, and what they bring is held.
func (q *Queue[T]) first(ctx context.Context, batches [Levels]jetstream.MessageBatch) (jetstream.Msg, error) {
	if m := q.pop(); m != nil { // another receive on this handle held one meanwhile
		q.holdLater(batches)
		return m, nil
	}
	var ch [Levels]<-chan jetstream.Msg
	open := 0
	for l, b := range batches {
		if b != nil {
			ch[l] = b.Messages()
			open++
		}
	}
	defer q.holdLater(batches)
	for open > 0 {
		var m jetstream.Msg
		var ok bool
		var l int
		select {
		case m, ok = <-ch[3]:
			l = 3
		case m, ok = <-ch[2]:
			l = 2
		case m, ok = <-ch[1]:
			l = 1
		case m, ok = <-ch[0]:
			l = 0
		case <-ctx.Done():
			return nil, &ipcchan.Error{Kind: kind, Name: q.name, Op: "receive", Err: context.Cause(ctx),
				Detail: context.Cause(ctx).Error() + " while waiting for a message"}
		case <-q.done:
			return nil, q.closedError("receive")
		}
		if ok {
			return m, nil
		}
		ch[l] = nil
		open--
		if err := batches[l].Error(); err != nil {
			return nil, q.natsError("receive", err, "cannot receive")
		}
	}
	return nil, nil
}

// holdLater holds, in the background, whatever the batches still bring: a
// request nobody waits for any more may still deliver a message.
func (q *Queue[T]) holdLater(batches [Levels]jetstream.MessageBatch) {
	go func() {
		for l, b := range batches {
			if b == nil {
				continue
			}
			for m := range b.Messages() {
				q.hold(l, m)
			}
		}
	}()
}

// A held message was delivered to this handle but not handed over yet.
type held struct {
	m    jetstream.Msg
	when time.Time
}

// holdMax is how long a handle keeps a message it holds; one older than
// that is given back rather than handed over, since JetStream may have
// given it to another receiver after AckWait (30 s by default).
const holdMax = 10 * time.Second

func (q *Queue[T]) hold(l int, m jetstream.Msg) {
	q.heldMu.Lock()
	defer q.heldMu.Unlock()
	if q.closed() {
		m.Nak()
		return
	}
	q.held[l] = append(q.held[l], held{m, time.Now()})
}

func (q *Queue[T]) heldLevels() (levels [Levels]bool) {
	q.heldMu.Lock()
	defer q.heldMu.Unlock()
	for l := range Levels {
		levels[l] = len(q.held[l]) > 0
	}
	return levels
}

// pop takes the oldest held message of the highest level.
func (q *Queue[T]) pop() jetstream.Msg {
	q.heldMu.Lock()
	defer q.heldMu.Unlock()
	for l := Levels - 1; l >= 0; l-- {
		for len(q.held[l]) > 0 {
			h := q.held[l][0]
			q.held[l] = q.held[l][1:]
			if time.Since(h.when) < holdMax {
				return h.m
			}
			h.m.Nak()
		}
	}
	return nil
}

// giveBackHeld returns every held message to the stream (Close).
func (q *Queue[T]) giveBackHeld() {
	q.heldMu.Lock()
	defer q.heldMu.Unlock()
	for l := range Levels {
		for _, h := range q.held[l] {
			h.m.Nak()
		}
		q.held[l] = nil
	}
}
