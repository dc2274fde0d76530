package natsq

import (
	"context"
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

// receive gets the next message for a caller: the one a Recv stream of
// this handle holds, if any, or else one from the stream.
func (q *Queue[T]) receive(ctx context.Context, block bool) (T, uint, error) {
	return q.rx.Receive(ctx, block, func() (T, uint, error) {
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
		m, err = q.take(ctx, wait)
		switch {
		case err != nil:
			return nil, v, 0, err
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

// take returns the next message of the highest level: the oldest one this
// handle holds, once it has asked the levels it holds nothing of whether
// they have one now (one round trip, all levels at once). A goroutine per
// request (pump) holds what the request brings; at most one request per
// level is outstanding, so a handle holds the messages of a level in the
// stream's order. If nothing came and wait > 0, take asks again with
// requests that wait up to wait on the server, and returns the first
// message held, nil when those requests ended empty, or an error when ctx
// is done or the handle is closed.
func (q *Queue[T]) take(ctx context.Context, wait time.Duration) (jetstream.Msg, error) {
	q.mu.Lock()
	q.takers++
	q.mu.Unlock()
	defer q.doneTaking()
	asked, err := q.ask(0)
	if err != nil {
		return nil, err
	}
	for _, done := range asked {
		<-done
	}
	m, err := q.popOrErr()
	if m != nil || err != nil || wait == 0 {
		return m, err
	}
	for {
		q.mu.Lock()
		woken := q.wake
		q.mu.Unlock()
		if _, err := q.ask(wait); err != nil {
			return nil, err
		}
		select {
		case <-woken:
		case <-ctx.Done():
			return nil, q.obj.Ended("receive", context.Cause(ctx), "a message")
		case <-q.done:
			return nil, q.obj.Closed("receive")
		}
		m, err := q.popOrErr()
		if m != nil || err != nil {
			return m, err
		}
		q.mu.Lock()
		idle := !q.anyAskingLocked()
		q.mu.Unlock()
		if idle {
			return nil, nil // every request ended empty
		}
	}
}

// ask sends a request for one message to every level that this handle
// holds nothing of and has no request outstanding on; wait 0 asks for
// what is there now. It returns a channel per request, closed when the
// request has ended.
func (q *Queue[T]) ask(wait time.Duration) ([]chan struct{}, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	var asked []chan struct{}
	for l := range Levels {
		if q.levels[l].asking || len(q.levels[l].held) > 0 {
			continue
		}
		var b jetstream.MessageBatch
		var err error
		if wait == 0 {
			b, err = q.cons[l].FetchNoWait(1)
		} else {
			b, err = q.cons[l].Fetch(1, jetstream.FetchMaxWait(wait))
		}
		if err != nil {
			return asked, q.natsError("receive", err, "cannot ask for a message")
		}
		done := make(chan struct{})
		q.levels[l].asking = true
		go q.pump(l, b, done)
		asked = append(asked, done)
	}
	return asked, nil
}

// popOrErr takes the best held message, or else the error of a failed
// request.
func (q *Queue[T]) popOrErr() (jetstream.Msg, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if m := q.popLocked(); m != nil {
		return m, nil
	}
	if err := q.askErr; err != nil {
		q.askErr = nil
		return nil, q.natsError("receive", err, "cannot receive")
	}
	return nil, nil
}

// doneTaking ends a take. When no take is left on this handle, what it
// holds goes back to the stream: a handle that is not receiving (a worker
// busy with its job) keeps nothing from the others.
func (q *Queue[T]) doneTaking() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.takers--; q.takers == 0 {
		q.giveBackHeldLocked()
	}
}

// pump holds what one request of level l brings, and marks the level free
// for the next request when the request ends.
func (q *Queue[T]) pump(l int, b jetstream.MessageBatch, done chan struct{}) {
	for m := range b.Messages() {
		q.mu.Lock()
		if q.closed() || q.takers == 0 {
			m.Nak() // nobody here is waiting for it: back to the stream, for others
		} else {
			q.levels[l].held = append(q.levels[l].held, held{m, time.Now()})
			q.wakeLocked()
		}
		q.mu.Unlock()
	}
	q.mu.Lock()
	if err := b.Error(); err != nil {
		q.askErr = err
	}
	q.levels[l].asking = false
	q.wakeLocked()
	q.mu.Unlock()
	close(done)
}

// level is what a handle knows of one priority level.
type level struct {
	held   []held // delivered to this handle, not yet handed over, oldest first
	asking bool   // a request for a message is outstanding
}

// A held message was delivered to this handle but not handed over yet.
type held struct {
	m    jetstream.Msg
	when time.Time
}

// holdMax is how long a handle keeps a message it holds while a receive
// goes on; one older than that is given back rather than handed over,
// since JetStream may have given it to another receiver after AckWait
// (30 s by default).
const holdMax = 10 * time.Second

// wakeLocked tells the waiting takes that something changed.
func (q *Queue[T]) wakeLocked() {
	close(q.wake)
	q.wake = make(chan struct{})
}

func (q *Queue[T]) anyAskingLocked() bool {
	for l := range Levels {
		if q.levels[l].asking {
			return true
		}
	}
	return false
}

// popLocked takes the oldest held message of the highest level.
func (q *Queue[T]) popLocked() jetstream.Msg {
	for l := Levels - 1; l >= 0; l-- {
		for len(q.levels[l].held) > 0 {
			h := q.levels[l].held[0]
			q.levels[l].held = q.levels[l].held[1:]
			if time.Since(h.when) < holdMax {
				return h.m
			}
			h.m.Nak()
		}
	}
	return nil
}

// giveBackHeldLocked returns every held message to the stream; the
// requests still outstanding give back what they bring (pump).
func (q *Queue[T]) giveBackHeldLocked() {
	for l := range Levels {
		for _, h := range q.levels[l].held {
			h.m.Nak()
		}
		q.levels[l].held = nil
	}
}
