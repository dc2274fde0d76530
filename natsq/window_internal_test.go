package natsq

import (
	"testing"
	"time"

	"github.com/ipcchan/ipcchan/internal/natstest"
	"github.com/ipcchan/ipcchan/internal/testutil"
	"github.com/ipcchan/ipcchan/ipcchan"
)

// The tests of this file drive a window step by step, on a real server:
// they give back only when they say (a linger of an hour), and take
// windows of the size they choose.

// openHeld opens a queue of ints holding 0 to n-1 at level 0, whose window
// gives back only when the test says.
func openHeld(t *testing.T, n int) *Queue[int] {
	t.Helper()
	js := natstest.Connect(t, natstest.Server(t))
	name := testutil.Name(t, func(n string) error { return Unlink(t.Context(), js, n) })
	q, err := Open[int](t.Context(), js, name, ipcchan.Create())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	q.win.mu.Lock()
	q.win.linger = time.Hour
	q.win.mu.Unlock()
	for i := range n {
		if err := q.Send(t.Context(), i); err != nil {
			t.Fatal(err)
		}
	}
	for { // the consumer sees them all (it learns of a stored message a moment later)
		info, err := q.win.cons[0].Info(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if info.NumPending == uint64(n) {
			return q
		}
		select {
		case <-t.Context().Done():
			t.Fatalf("the consumer sees %d messages, not %d", info.NumPending, n)
		case <-time.After(time.Millisecond):
		}
	}
}

// takeWindow has the window ask level 0 for up to n messages at once, and
// hands over (acknowledges) the first, which must be want; the window
// holds the others.
func takeWindow(t *testing.T, q *Queue[int], n, want int) {
	t.Helper()
	w := q.win
	w.beginTake()
	defer w.endTake()
	w.mu.Lock()
	w.batch = n
	w.mu.Unlock()
	m, err := w.take(t.Context(), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if _, v, _, err := q.decode(m); err != nil || v != want {
		t.Fatalf("the window's first message is %d, %v; want %d", v, err, want)
	}
	q.ack(m)
}

// giveBackNow gives back what the window holds, as at the end of a
// linger; then, if wait, it waits until the server has taken it back.
func giveBackNow(q *Queue[int], wait bool) {
	w := q.win
	w.mu.Lock()
	w.giveBackHeldLocked()
	back := w.returningLocked()
	w.mu.Unlock()
	for _, c := range back {
		if wait {
			<-c
		}
	}
}

// heldCount counts the messages the window holds.
func heldCount(q *Queue[int]) int {
	q.win.mu.Lock()
	defer q.win.mu.Unlock()
	n := 0
	for l := range Levels {
		n += len(q.win.levels[l].held)
	}
	return n
}

// receiveInOrder receives from r the values from to to-1, in that order.
func receiveInOrder(t *testing.T, r *Queue[int], from, to int) {
	t.Helper()
	for i := from; i < to; i++ {
		if v, err := r.Receive(t.Context()); err != nil || v != i {
			t.Fatalf("Receive = %d, %v; want %d: out of the order of sending", v, err, i)
		}
	}
}

// TestGiveBackTakesBackTheRestFirst: a window that gives back part of
// what it gave back before, while the rest is still in JetStream's queue
// of messages to deliver again, takes that rest back first and gives back
// all in order; else the part it held would come after the rest.
func TestGiveBackTakesBackTheRestFirst(t *testing.T) {
	q := openHeld(t, 6)
	takeWindow(t, q, 8, 0) // holds 1 to 5
	giveBackNow(q, true)
	takeWindow(t, q, 2, 1) // holds 2; 3 to 5 wait for delivery again
	if n := heldCount(q); n != 1 {
		t.Fatalf("the window holds %d messages, want 1", n)
	}
	giveBackNow(q, true)
	receiveInOrder(t, q, 2, 6)
}

// TestHeldTooLongGivesBackItsLevel: a held message too old to be handed
// over goes back with the newer ones of its level, which come back after
// it, in order.
func TestHeldTooLongGivesBackItsLevel(t *testing.T) {
	q := openHeld(t, 4)
	takeWindow(t, q, 8, 0) // holds 1 to 3
	q.win.mu.Lock()
	q.win.levels[0].held[0].when = time.Now().Add(-2 * q.win.holdFor) // 1 is too old, 2 and 3 are not
	q.win.mu.Unlock()
	receiveInOrder(t, q, 1, 4)
}

// TestCloseGivesBackRecvFirst: at Close, the message that Recv read ahead
// goes back before the newer ones of its level, those the window holds and
// those it gave back before, and another handle receives them in order.
func TestCloseGivesBackRecvFirst(t *testing.T) {
	for _, lingered := range []bool{false, true} {
		t.Run(map[bool]string{false: "window held", true: "window given back"}[lingered], func(t *testing.T) {
			q := openHeld(t, 5)
			takeWindow(t, q, 8, 0) // holds 1 to 4
			q.Recv()               // reads 1 ahead, and holds it: nobody reads the channel
			for heldCount(q) != 3 {
				select {
				case <-t.Context().Done():
					t.Fatalf("the Recv goroutine did not take a message from the window")
				case <-time.After(time.Millisecond):
				}
			}
			if lingered {
				giveBackNow(q, false) // 2 to 4, and Close comes while the server takes them back
			}
			if err := q.Close(); err != nil {
				t.Fatal(err)
			}
			r, err := Open[int](t.Context(), q.js, q.Name())
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			receiveInOrder(t, r, 1, 5)
		})
	}
}
