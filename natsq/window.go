package natsq

import (
	"context"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ipcchan/ipcchan/internal/ipcerr"
)

// A window is the receiving side of a handle, as a pipeline is its
// pipelined sending: per priority level, the messages JetStream delivered
// to the handle that it has not handed over yet, its requests for more,
// and the linger that gives back what it holds once receives stop. Its
// methods are safe for concurrent use.
//
// It keeps each level's messages in the order of sending. At most one
// request per level is outstanding, so it holds a level's messages in the
// stream's order and hands them over in that order. JetStream delivers
// what was given back (a negative acknowledgement) before any newer
// message, in the order it came back, not in the stream's; so the window
// gives back a level's messages oldest first, all at once (never with a
// delay, which lets newer messages pass), after taking back first what is
// left of those it gave back before (giveBackLocked), and asks the level
// again only once the server has taken them back. A request that waits
// asks for one message (see ask).
type window struct {
	obj     ipcerr.Object              // the handle's, for errors
	nc      *nats.Conn                 // the handle's connection: its acknowledgements go through it
	cons    [Levels]jetstream.Consumer // level l's durable consumer
	done    chan struct{}              // the handle's: closed by close
	holdFor time.Duration              // the longest a held message may wait to be handed over
	linger  time.Duration              // how long it keeps what it holds once receives stop: the constant linger (tests lengthen it)

	mu        sync.Mutex // guards what follows
	takers    int        // receives going on (take)
	levels    [Levels]level
	failed    *requestError // the last failed request, for a take to report
	wake      chan struct{} // closed and replaced when a request brings or ends
	idle      *time.Timer   // the linger: gives back what is held when no receive is going on
	idleArmed bool          // the linger runs: what comes is held
	batch     int           // how many messages a request that does not wait asks for (see windowMax)
	lastTake  time.Time     // when the last receive ended
}

// level is what a window knows of one priority level.
type level struct {
	held      []held        // delivered to this handle, not yet handed over, oldest first
	asking    bool          // a request is outstanding
	waiting   bool          // and it covers the level: it waits on the server, which passes it what is stored
	drained   bool          // the last request found the level empty
	returning chan struct{} // closed once the server has taken back what was given back last; nil then
	owed      int           // given back, and not delivered again to this handle yet (as far as it knows)
}

// A held message was delivered to this handle but not handed over yet.
type held struct {
	m    jetstream.Msg
	when time.Time
}

// A requestError is the failure of a request of a window for level's
// messages, for the handle to explain (Queue.requestFailed): the request
// could not be sent (sent is false), or it ended with err.
type requestError struct {
	level int
	sent  bool
	err   error
}

func (e *requestError) Error() string { return e.err.Error() }

func (e *requestError) Unwrap() error { return e.err }

// windowMax is the most messages a handle asks one level for at once, and
// so the most it holds of a level. A handle asks for one message at a time
// unless its receives come within streamGap of each other; then it doubles
// the number with each receive, up to windowMax: a worker busy with each
// job takes one job at a time, and a stream one request per window.
const (
	windowMax = 16
	streamGap = time.Millisecond
)

// coverWait is how long a request covering an empty level waits on the
// server: a handle that takes a window of messages from one level learns
// of a higher level's message without asking for each take, and, once it
// stops receiving, leaves no request behind for long.
const coverWait = 5 * time.Millisecond

// newWindow makes the window of a handle that reads its levels through
// cons on the connection nc, and whose Close closes done (close).
func newWindow(obj ipcerr.Object, nc *nats.Conn, cons [Levels]jetstream.Consumer, done chan struct{}) *window {
	w := &window{obj: obj, nc: nc, cons: cons, done: done, holdFor: holdMax, linger: linger, wake: make(chan struct{}), batch: 1}
	for _, c := range cons {
		if aw := c.CachedInfo().Config.AckWait; aw > 0 {
			w.holdFor = min(w.holdFor, aw/3)
		}
	}
	w.idle = time.AfterFunc(time.Hour, w.idleEnded)
	w.idle.Stop()
	return w
}

// close closes the handle's done and gives back what the window holds, at
// once for the pumps (what comes afterwards goes back as it comes, after
// these), and waits until the server has taken it back: a receive that
// follows, on another handle, finds it in its order.
func (w *window) close() {
	w.mu.Lock()
	close(w.done)
	w.giveBackHeldLocked()
	back := w.returningLocked()
	w.mu.Unlock()
	for _, c := range back {
		<-c
	}
}

func (w *window) closed() bool {
	select {
	case <-w.done:
		return true
	default:
		return false
	}
}

// take returns the next message of the highest level. A held message is
// handed over at once when every higher level is covered: it holds
// messages, or a request of this handle, sent after the level was found
// empty, waits on it on the server, which then passes this handle whatever
// is stored there. Else take first asks the uncovered levels what they
// have now (one round trip, all of them at once), and, while it holds a
// window, leaves a short request (coverWait) on those that had nothing, so
// that the next takes are covered. If nothing came and wait > 0, take waits
// up to wait for a message, and returns the first one held, nil when the
// requests ended empty, or an error: a *requestError, or the handle's when
// ctx is done or the handle is closed.
func (w *window) take(ctx context.Context, wait time.Duration) (jetstream.Msg, error) {
	w.mu.Lock()
	m := w.popCoveredLocked()
	back := w.returningLocked()
	w.mu.Unlock()
	if m != nil {
		return m, nil
	}
	for _, c := range back { // what it gave back is in the stream again before it asks
		select {
		case <-c:
		case <-ctx.Done():
			return nil, w.obj.Ended("receive", context.Cause(ctx), "a message")
		case <-w.done:
			return nil, w.obj.Closed("receive")
		}
	}
	asked, err := w.ask(0, false)
	if err != nil {
		return nil, err
	}
	for _, done := range asked {
		<-done
	}
	m, err = w.popOrErr()
	if w.holdsAny() { // a window is being taken: cover the empty levels for the next takes
		if _, cerr := w.ask(coverWait, true); cerr != nil && m == nil && err == nil {
			return nil, cerr // with a message in hand, the next take reports it
		}
	}
	if m != nil || err != nil || wait == 0 {
		return m, err
	}
	for {
		w.mu.Lock()
		woken := w.wake
		w.mu.Unlock()
		if _, err := w.ask(wait, false); err != nil {
			return nil, err
		}
		select {
		case <-woken:
		case <-ctx.Done():
			return nil, w.obj.Ended("receive", context.Cause(ctx), "a message")
		case <-w.done:
			return nil, w.obj.Closed("receive")
		}
		m, err := w.popOrErr()
		if m != nil || err != nil {
			return m, err
		}
		w.mu.Lock()
		idle := !w.anyAskingLocked()
		w.mu.Unlock()
		if idle {
			return nil, nil // every request ended empty
		}
	}
}

// ask sends a request to every level that this handle holds nothing of,
// has no request outstanding on and is not giving back (with drainedOnly,
// of those that its last request found empty); wait 0 asks for up to
// batch messages that are there now, and a request with a wait stays on
// the server until then, passing this handle what is stored meanwhile. It
// returns a channel per request, closed when the request has ended.
//
// A request that waits asks for one message, and ends with it. It may
// outlive the receive that sent it; one for several would still be open on
// the server when the window gives back what it brought, take the given
// back messages straight back, and bring the newer ones that were on their
// way before them. A request that does not wait ends at once (take waits
// for it).
func (w *window) ask(wait time.Duration, drainedOnly bool) ([]chan struct{}, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := w.batch
	if wait > 0 {
		n = 1
	}
	var asked []chan struct{}
	for l := range Levels {
		if lv := &w.levels[l]; lv.asking || len(lv.held) > 0 || lv.returning != nil || (drainedOnly && !lv.drained) {
			continue
		}
		var b jetstream.MessageBatch
		var err error
		if wait == 0 {
			b, err = w.cons[l].FetchNoWait(n)
		} else {
			b, err = w.cons[l].Fetch(n, jetstream.FetchMaxWait(wait))
		}
		if err != nil {
			return asked, &requestError{level: l, err: err}
		}
		done := make(chan struct{})
		lv := &w.levels[l]
		// A waiting request covers its level only if the level was found
		// empty just before: what was stored already may come later.
		lv.asking, lv.waiting, lv.drained = true, wait > 0 && lv.drained, false
		go w.pump(l, b, n, wait == 0, done)
		asked = append(asked, done)
	}
	return asked, nil
}

// pump holds what one request of level l brings, and marks the level free
// for the next request when the request ends. What comes in the linger
// after a receive is held too; what comes later, while no receive is going
// on, or after Close, goes back at once.
func (w *window) pump(l int, b jetstream.MessageBatch, asked int, noWait bool, done chan struct{}) {
	got := 0
	for m := range b.Messages() {
		got++
		w.mu.Lock()
		switch {
		case w.closed():
			m.Nak() // back to the stream, for others
		case w.takers == 0 && !w.idleArmed:
			// Nobody here has received for a while: back to the stream,
			// ahead of its newer messages. Nothing here takes it straight
			// back: a request that outlives the linger waited, so it asked
			// for this one message (ask).
			w.holdLocked(l, m)
			w.giveBackLocked(l)
		default:
			w.holdLocked(l, m)
			w.wakeLocked()
		}
		w.mu.Unlock()
	}
	w.mu.Lock()
	err := b.Error()
	if err != nil {
		w.failed = &requestError{level: l, sent: true, err: err}
	}
	lv := &w.levels[l]
	lv.asking, lv.waiting = false, false
	lv.drained = noWait && got < asked && err == nil
	w.wakeLocked()
	w.mu.Unlock()
	close(done)
}

// holdLocked holds m, delivered for level l.
func (w *window) holdLocked(l int, m jetstream.Msg) {
	lv := &w.levels[l]
	lv.held = append(lv.held, held{m, time.Now()})
	if lv.owed > 0 {
		if md, err := m.Metadata(); err == nil && md.NumDelivered > 1 {
			lv.owed-- // one of those given back, back
		}
	}
}

// beginTake starts a receive on the handle (take, and what the caller does
// with the message before the receive ends: acknowledging it).
func (w *window) beginTake() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.takers++
	if time.Since(w.lastTake) < streamGap { // a stream of receives: ask for more at once
		w.batch = min(2*w.batch, windowMax)
	} else {
		w.batch = 1
	}
}

// endTake ends a receive. When no receive is left on this handle, what it
// holds goes back to the stream after linger, unless a receive has begun
// by then.
func (w *window) endTake() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.takers--; w.takers == 0 {
		w.lastTake = time.Now()
		if !w.idleArmed {
			w.idleArmed = true
			w.idle.Reset(w.linger)
		}
	}
}

// popCoveredLocked takes the oldest held message of the highest level if
// every level above it is covered (see take), or returns nil.
func (w *window) popCoveredLocked() jetstream.Msg {
	for l := Levels - 1; l >= 0; l-- {
		lv := &w.levels[l]
		if len(lv.held) > 0 {
			if m := w.shiftLocked(l); m != nil {
				return m
			}
		}
		if !lv.waiting {
			return nil // a level that may have a message this handle has not heard of
		}
	}
	return nil
}

// popLocked takes the oldest held message of the highest level.
func (w *window) popLocked() jetstream.Msg {
	for l := Levels - 1; l >= 0; l-- {
		if len(w.levels[l].held) > 0 {
			if m := w.shiftLocked(l); m != nil {
				return m
			}
		}
	}
	return nil
}

// shiftLocked takes the oldest message held of level l. If that one has
// been held too long to be handed over, it gives back every message held
// of the level instead, oldest first, so that they come back in their
// order, and returns nil.
func (w *window) shiftLocked(l int) jetstream.Msg {
	lv := &w.levels[l]
	if h := lv.held[0]; time.Since(h.when) < w.holdFor {
		lv.held = lv.held[1:]
		return h.m
	}
	w.giveBackLocked(l)
	return nil
}

// popOrErr takes the best held message, or else reports the failure of a
// request, once.
func (w *window) popOrErr() (jetstream.Msg, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if m := w.popLocked(); m != nil {
		return m, nil
	}
	f := w.failed
	w.failed = nil
	if f == nil {
		return nil, nil
	}
	return nil, f
}

// holdsAny reports whether the handle holds messages.
func (w *window) holdsAny() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	for l := range Levels {
		if len(w.levels[l].held) > 0 {
			return true
		}
	}
	return false
}

// anyAskingLocked reports whether a request is outstanding, or a give-back
// is on its way (it wakes the takes when it is through).
func (w *window) anyAskingLocked() bool {
	for l := range Levels {
		if w.levels[l].asking || w.levels[l].returning != nil {
			return true
		}
	}
	return false
}

// wakeLocked tells the waiting takes that something changed.
func (w *window) wakeLocked() {
	close(w.wake)
	w.wake = make(chan struct{})
}
