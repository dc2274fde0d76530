package natsq

import (
	"context"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// What a window gives back, and when: what it holds once receives stop
// (the linger), a message held too long (shiftLocked), a message that
// comes while no receive is going on (pump), the message Recv read ahead
// (putBack), and everything at Close.

// linger is how long a handle keeps what it holds once no receive is going
// on, for the next receive; then it gives it back (negative
// acknowledgement) to the stream, for other receivers. It is what lets a
// stream of receives take a window at a time, and what a busy worker can
// keep from an idle one: what it was given beyond the message it took, for
// linger (and a worker whose receives are further apart than streamGap is
// given one message at a time).
const linger = 2 * time.Millisecond

// holdMax is the longest a handle keeps a message it holds; one older
// than that is given back rather than handed over, since JetStream may
// have given it to another receiver after AckWait (30 s by default). A
// consumer with a shorter AckWait holds for a third of it (holdFor).
const holdMax = 10 * time.Second

// idleEnded gives back what the handle holds if no take is going on and
// the last one ended linger ago; if one ended since the linger began, the
// linger goes on until linger after it.
func (w *window) idleEnded() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.takers > 0 {
		w.idleArmed = false // the take's end arms it again
		return
	}
	if left := w.linger - time.Since(w.lastTake); left > 0 {
		w.idle.Reset(left)
		return
	}
	w.idleArmed = false
	w.giveBackHeldLocked()
}

// giveBackHeldLocked returns every held message to the stream; what the
// requests still outstanding bring is held or given back as it comes
// (pump).
func (w *window) giveBackHeldLocked() {
	for l := range Levels {
		w.giveBackLocked(l)
	}
}

// giveBackLocked returns the messages held of level l to the stream,
// oldest first: JetStream delivers them again in that order, before the
// level's newer messages, once it has taken them back. Its queue of
// messages to deliver again keeps the order in which they came back, not
// the stream's: if some of what the window gave back before is still in
// it, these (older: they were delivered again first) would go behind; so
// the window takes those back first, and gives them back after these
// (giveBack). Until the server has taken them all back, the level is
// returning, and the window does not ask it.
func (w *window) giveBackLocked(l int) {
	lv := &w.levels[l]
	if len(lv.held) == 0 {
		return
	}
	msgs, rest := lv.held, min(lv.owed, windowMax)
	lv.held, lv.owed = nil, 0
	if rest == 0 { // all but the last at once, ahead of what requests still bring (Close)
		for _, h := range msgs[:len(msgs)-1] {
			h.m.Nak()
		}
		lv.owed, msgs = len(msgs)-1, msgs[len(msgs)-1:]
	}
	done := make(chan struct{})
	lv.returning = done
	go w.giveBack(l, msgs, rest, done)
}

// nakBody is a negative acknowledgement, as jetstream.Msg.Nak sends it.
var nakBody = []byte("-NAK")

// giveBack takes back up to rest messages of level l (the rest of what the
// window gave back before), gives back msgs and then them, and ends the
// level's returning once the server has taken them all back. The last
// negative acknowledgement goes as a request, whose answer tells it: the
// server takes a level's acknowledgements in the order they come, but
// serves its requests for messages apart, so a request sent just after
// them might be served first, and pass them a newer message. Without an
// answer within ackTimeout, the window asks again all the same (a message
// JetStream did not take back comes again after AckWait).
func (w *window) giveBack(l int, msgs []held, rest int, done chan struct{}) {
	if rest > 0 {
		if b, err := w.cons[l].FetchNoWait(rest); err == nil {
			for m := range b.Messages() {
				msgs = append(msgs, held{m: m})
			}
		}
	}
	last := len(msgs) - 1
	for _, h := range msgs[:last] {
		h.m.Nak()
	}
	ctx, cancel := context.WithTimeout(context.Background(), ackTimeout)
	defer cancel()
	w.nc.RequestWithContext(ctx, msgs[last].m.Reply(), nakBody) // the answer is empty; its coming is what counts
	w.mu.Lock()
	lv := &w.levels[l]
	lv.owed += len(msgs)
	if lv.returning == done { // no later give-back of the level is on its way
		lv.returning = nil
	}
	w.wakeLocked()
	w.mu.Unlock()
	close(done)
}

// putBack gives back m, of level l, which the handle took and did not
// hand over (the message Recv read ahead, at Close), and returns once the
// server has taken it back. It goes back first: it is older than what the
// window holds of its level, and than what the window gave back before
// and is still to come again (giveBackLocked takes those back first, once
// a give-back on its way is through).
func (w *window) putBack(l int, m jetstream.Msg) {
	w.mu.Lock()
	lv := &w.levels[l]
	for lv.returning != nil {
		back := lv.returning
		w.mu.Unlock()
		<-back
		w.mu.Lock()
	}
	lv.held = append([]held{{m, time.Now()}}, lv.held...)
	w.giveBackLocked(l)
	back := lv.returning
	w.mu.Unlock()
	<-back
}

// returningLocked returns the channels of the give-backs on their way.
func (w *window) returningLocked() []chan struct{} {
	var back []chan struct{}
	for l := range Levels {
		if c := w.levels[l].returning; c != nil {
			back = append(back, c)
		}
	}
	return back
}
