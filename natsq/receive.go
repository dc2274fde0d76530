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
		q.beginTake()
		defer q.endTake() // after the acknowledgement: the handle holds its window until then
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
	for l, s := range q.subject {
		if m.Subject() == s {
			return [Levels]uint{0, 1, 10, 100}[l]
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

// take returns the next message of the highest level. A handle asks a
// level for up to window messages at once and holds what comes (a
// goroutine per request, pump, holds it), so a stream of messages costs
// one request per window; at most one request per level is outstanding,
// so a handle holds the messages of a level in the stream's order.
//
// A held message is handed over at once when every higher level is
// covered: it holds messages, or a request of this handle, sent after the
// level was found empty, waits on it on the server, which then passes this
// handle whatever is stored there. Else take first asks the uncovered
// levels what they have now (one round trip, all of them at once), and,
// while it holds a window, leaves a short request (coverWait) on those that
// had nothing, so that the next takes are covered. If nothing came and
// wait > 0, take waits up to wait for a message, and returns the first one
// held, nil when the requests ended empty, or an error when ctx is done or
// the handle is closed.
func (q *Queue[T]) take(ctx context.Context, wait time.Duration) (jetstream.Msg, error) {
	q.mu.Lock()
	m := q.popCoveredLocked()
	q.mu.Unlock()
	if m != nil {
		return m, nil
	}
	asked, err := q.ask(0, false)
	if err != nil {
		return nil, err
	}
	for _, done := range asked {
		<-done
	}
	m, err = q.popOrErr(ctx)
	if q.holdsAny() { // a window is being taken: cover the empty levels for the next takes
		if _, err := q.ask(coverWait, true); err != nil {
			return m, err
		}
	}
	if m != nil || err != nil || wait == 0 {
		return m, err
	}
	for {
		q.mu.Lock()
		woken := q.wake
		q.mu.Unlock()
		if _, err := q.ask(wait, false); err != nil {
			return nil, err
		}
		select {
		case <-woken:
		case <-ctx.Done():
			return nil, q.obj.Ended("receive", context.Cause(ctx), "a message")
		case <-q.done:
			return nil, q.obj.Closed("receive")
		}
		m, err := q.popOrErr(ctx)
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

// coverWait is how long a request covering an empty level waits on the
// server: a handle that takes a window of messages from one level learns
// of a higher level's message without asking for each take, and, once it
// stops receiving, leaves no request behind for long.
const coverWait = 5 * time.Millisecond

// holdsAny reports whether the handle holds messages.
func (q *Queue[T]) holdsAny() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	for l := range Levels {
		if len(q.levels[l].held) > 0 {
			return true
		}
	}
	return false
}

// window is the most messages a handle asks one level for at once, and so
// the most it holds of a level. A handle asks for one message at a time
// unless its receives come within streamGap of each other; then it doubles
// the number with each receive, up to window: a worker busy with each job
// takes one job at a time, and a stream one request per window.
const (
	window    = 16
	streamGap = time.Millisecond
)

// ask sends a request for up to batch messages to every level that this
// handle holds nothing of and has no request outstanding on (with
// drainedOnly, of those that its last request found empty); wait 0 asks
// for what is there now, and a request with a wait stays on the server
// until then, passing this handle what is stored meanwhile. It returns a
// channel per request, closed when the request has ended.
func (q *Queue[T]) ask(wait time.Duration, drainedOnly bool) ([]chan struct{}, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	var asked []chan struct{}
	for l := range Levels {
		if lv := &q.levels[l]; lv.asking || len(lv.held) > 0 || (drainedOnly && !lv.drained) {
			continue
		}
		var b jetstream.MessageBatch
		var err error
		if wait == 0 {
			b, err = q.cons[l].FetchNoWait(q.batch)
		} else {
			b, err = q.cons[l].Fetch(q.batch, jetstream.FetchMaxWait(wait))
		}
		if err != nil {
			return asked, q.natsError("receive", err, "cannot ask for a message")
		}
		done := make(chan struct{})
		lv := &q.levels[l]
		// A waiting request covers its level only if the level was found
		// empty just before: what was stored already may come later.
		lv.asking, lv.waiting, lv.drained = true, wait > 0 && lv.drained, false
		go q.pump(l, b, q.batch, wait == 0, done)
		asked = append(asked, done)
	}
	return asked, nil
}

// popCoveredLocked takes the oldest held message of the highest level if
// every level above it is covered (see take), or returns nil.
func (q *Queue[T]) popCoveredLocked() jetstream.Msg {
	for l := Levels - 1; l >= 0; l-- {
		lv := &q.levels[l]
		for len(lv.held) > 0 {
			if m := q.shiftLocked(l); m != nil {
				return m
			}
		}
		if !lv.waiting {
			return nil // a level that may have a message this handle has not heard of
		}
	}
	return nil
}

// shiftLocked takes the oldest message held of level l, or gives it back
// and returns nil if it has been held too long to be handed over.
func (q *Queue[T]) shiftLocked(l int) jetstream.Msg {
	h := q.levels[l].held[0]
	q.levels[l].held = q.levels[l].held[1:]
	if time.Since(h.when) < q.holdFor {
		return h.m
	}
	h.m.Nak()
	return nil
}

// popOrErr takes the best held message, or else the error of a failed
// request.
func (q *Queue[T]) popOrErr(ctx context.Context) (jetstream.Msg, error) {
	q.mu.Lock()
	m, err, l := q.popLocked(), q.askErr, q.askLevel
	if m == nil {
		q.askErr = nil
	}
	q.mu.Unlock()
	if m != nil || err == nil {
		return m, nil
	}
	return nil, q.askFailed(ctx, l, err)
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

// linger is how long a handle keeps what it holds once no receive is going
// on, for the next receive; then it gives it back (negative
// acknowledgement) to the stream, for other receivers. It is what lets a
// stream of receives take a window at a time, and what a busy worker can
// keep from an idle one: what it was given beyond the message it took, for
// linger (and a worker whose receives are further apart than streamGap is
// given one message at a time).
const linger = 2 * time.Millisecond

// beginTake starts a receive on the handle (take, and what the caller does
// with the message before the receive ends: acknowledging it).
func (q *Queue[T]) beginTake() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.takers++
	if time.Since(q.lastTake) < streamGap { // a stream of receives: ask for more at once
		q.batch = min(2*q.batch, window)
	} else {
		q.batch = 1
	}
}

// endTake ends a receive. When no receive is left on this handle, what it
// holds goes back to the stream after linger, unless a receive has begun
// by then.
func (q *Queue[T]) endTake() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.takers--; q.takers == 0 {
		q.lastTake = time.Now()
		q.armIdleLocked()
	}
}

// armIdleLocked starts the linger timer, if it is not running.
func (q *Queue[T]) armIdleLocked() {
	if !q.idleArmed {
		q.idleArmed = true
		q.idle.Reset(linger)
	}
}

// idleEnded gives back what the handle holds if no take is going on.
func (q *Queue[T]) idleEnded() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.idleArmed = false
	if q.takers == 0 {
		q.giveBackHeldLocked()
	}
}

// pump holds what one request of level l brings, and marks the level free
// for the next request when the request ends. What comes in the linger
// after a receive is held too; what comes later, while no receive is going
// on, goes back.
func (q *Queue[T]) pump(l int, b jetstream.MessageBatch, asked int, noWait bool, done chan struct{}) {
	got := 0
	for m := range b.Messages() {
		got++
		q.mu.Lock()
		switch {
		case q.closed():
			m.Nak() // back to the stream, for others
		case q.takers == 0 && !q.idleArmed:
			// Nobody here has received for a while: back to the stream, a
			// little later, so that this handle's request (if it is the
			// only one waiting) does not take it straight back.
			m.NakWithDelay(linger)
		default:
			q.levels[l].held = append(q.levels[l].held, held{m, time.Now()})
			q.wakeLocked()
		}
		q.mu.Unlock()
	}
	q.mu.Lock()
	if err := b.Error(); err != nil {
		q.askErr, q.askLevel = err, l
	}
	lv := &q.levels[l]
	lv.asking, lv.waiting = false, false
	lv.drained = noWait && got < asked && b.Error() == nil
	q.wakeLocked()
	q.mu.Unlock()
	close(done)
}

// level is what a handle knows of one priority level.
type level struct {
	held    []held // delivered to this handle, not yet handed over, oldest first
	asking  bool   // a request is outstanding
	waiting bool   // and it covers the level: it waits on the server, which passes it what is stored
	drained bool   // the last request found the level empty
}

// A held message was delivered to this handle but not handed over yet.
type held struct {
	m    jetstream.Msg
	when time.Time
}

// holdMax is the longest a handle keeps a message it holds; one older
// than that is given back rather than handed over, since JetStream may
// have given it to another receiver after AckWait (30 s by default). A
// consumer with a shorter AckWait holds for a third of it (holdFor).
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
			if m := q.shiftLocked(l); m != nil {
				return m
			}
		}
	}
	return nil
}

// giveBackHeldLocked returns every held message to the stream; the
// requests still outstanding bring what they bring to the handle, which
// holds it for linger (pump).
func (q *Queue[T]) giveBackHeldLocked() {
	for l := range Levels {
		for _, h := range q.levels[l].held {
			h.m.Nak()
		}
		q.levels[l].held = nil
	}
}
