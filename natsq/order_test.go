package natsq_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/ipcchan/ipcchan/internal/natstest"
	"github.com/ipcchan/ipcchan/ipcchan"
	"github.com/ipcchan/ipcchan/natsq"
)

// TestOrderAcrossStalls: a receiver that stalls now and then (the bridge
// in front of a full local queue) gets each level's messages in the order
// they were sent, while a sender goes on sending: what its window gave
// back in a stall comes back before what was sent after it, with Receive
// and with Recv.
func TestOrderAcrossStalls(t *testing.T) {
	js := natstest.Connect(t, natstest.Server(t))
	for _, recv := range []bool{false, true} {
		t.Run(map[bool]string{false: "Receive", true: "Recv"}[recv], func(t *testing.T) {
			tr := transport{name: "nats", js: js}
			name := tr.newName(t)
			r := mustOpen[int](t, tr, name, ipcchan.Create())
			s, err := natsq.Open[int](t.Context(), js, name)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			const n = 400
			sent := make(chan error, 1)
			go func() {
				for i := range n {
					if err := s.SendPriority(t.Context(), i, uint(i%2*5)); err != nil { // levels 0 and 1 in turn
						sent <- err
						return
					}
				}
				sent <- nil
			}()
			receive := func() (int, error) { return r.Receive(t.Context()) }
			if recv {
				ch := r.(*natsq.Queue[int]).Recv()
				receive = func() (int, error) {
					if v, ok := <-ch; ok {
						return v, nil
					}
					return 0, fmt.Errorf("the Recv channel closed: %v", r.Err())
				}
			}
			seed := uint64(time.Now().UnixNano())
			rnd := rand.New(rand.NewPCG(seed, 0))
			last := [2]int{-2, -1}
			for range n {
				if rnd.IntN(8) == 0 {
					// The stall is the condition under test: from nothing to
					// more than twice the 2 ms after which a handle gives
					// back what it holds, while the messages keep coming.
					time.Sleep(time.Duration(rnd.IntN(5000)) * time.Microsecond)
				}
				v, err := receive()
				if err != nil {
					t.Fatal(err)
				}
				if l := v % 2; v <= last[l] {
					t.Fatalf("received %d after %d at level %d: out of the order they were sent (stalls of seed %d)", v, last[l], l, seed)
				} else {
					last[l] = v
				}
			}
			if err := <-sent; err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestOrderAfterStallWhileWaiting: a receiver that waits on an empty level
// when a burst of messages comes, takes one and stalls, gets the rest of
// that level in the order they were sent: what it was given and gave back
// comes before what is sent after the stall.
func TestOrderAfterStallWhileWaiting(t *testing.T) {
	js := natstest.Connect(t, natstest.Server(t))
	tr := transport{name: "nats", js: js}
	name := tr.newName(t)
	r := mustOpen[int](t, tr, name, ipcchan.Create())
	s, err := natsq.Open[int](t.Context(), js, name, natsq.Pipelined(16))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	send := func(from, to int) error {
		for i := from; i < to; i++ {
			if err := s.Send(t.Context(), i); err != nil {
				return err
			}
		}
		return s.Flush(t.Context())
	}
	receive := func(want int) {
		t.Helper()
		v, err := r.Receive(t.Context())
		if err != nil || v != want {
			t.Fatalf("Receive = %d, %v; want %d, the next of its level in the order of sending", v, err, want)
		}
	}
	// Receives in a row: the handle asks for more than one message at a
	// time, and the next receive waits on the empty level.
	if err := send(0, 3); err != nil {
		t.Fatal(err)
	}
	settle(t, tr, r, 3)
	for i := range 3 {
		receive(i)
	}
	type received struct {
		v   int
		err error
	}
	got := make(chan received, 1)
	go func() {
		v, err := r.Receive(t.Context())
		got <- received{v, err}
	}()
	c, err := js.Consumer(t.Context(), r.(*natsq.Queue[int]).Stream(), "p0")
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { // the waiting receive's request is on the server
		info, err := c.Info(t.Context())
		return err == nil && info.NumWaiting > 0
	})
	if err := send(3, 6); err != nil { // a burst: the waiting receive takes the first
		t.Fatal(err)
	}
	if g := <-got; g.v != 3 || g.err != nil {
		t.Fatalf("the waiting Receive = %d, %v; want 3", g.v, g.err)
	}
	// The stall is the condition under test: longer than the 2 ms after
	// which a handle gives back what it holds.
	time.Sleep(5 * time.Millisecond)
	const n = 30
	sent := make(chan error, 1)
	go func() { sent <- send(6, n) }()
	for i := 4; i < n; i++ {
		receive(i)
	}
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
}

// TestOrderOfOneComingWhileIdle: a message that comes to a receiver's
// request after it stopped receiving (it waited on two levels, took the
// other level's message, and is busy) goes back once, ahead of the newer
// ones of its level: the request asked for that one message, and does
// not take it back again and again (which would exceed a consumer's
// MaxDeliver, as an operator may set it, and lose it).
func TestOrderOfOneComingWhileIdle(t *testing.T) {
	js := natstest.Connect(t, natstest.Server(t))
	tr := transport{name: "nats", js: js}
	name := tr.newName(t)
	r := mustOpen[string](t, tr, name, ipcchan.Create())
	s := mustOpen[string](t, tr, name)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	c, err := js.Consumer(ctx, r.(*natsq.Queue[string]).Stream(), "p0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := c.CachedInfo().Config
	cfg.MaxDeliver = 3
	if _, err := js.UpdateConsumer(ctx, r.(*natsq.Queue[string]).Stream(), cfg); err != nil {
		t.Fatal(err)
	}
	waiting := func(want bool) {
		t.Helper()
		for {
			info, err := c.Info(ctx)
			if err == nil && (info.NumWaiting > 0) == want {
				return
			}
			select {
			case <-ctx.Done():
				t.Fatalf("a request of the receiver waits on level 0: %v, want %v", !want, want)
			case <-time.After(time.Millisecond):
			}
		}
	}
	receive := func(want string) {
		t.Helper()
		if v, err := r.Receive(ctx); v != want || err != nil {
			t.Fatalf("Receive = %q, %v; want %q, in the order of sending", v, err, want)
		}
	}
	for _, v := range []string{"a", "b", "c"} {
		if err := s.Send(ctx, v); err != nil {
			t.Fatal(err)
		}
	}
	settle(t, tr, r, 3)
	for _, v := range []string{"a", "b", "c"} { // receives in a row: the next asks for more at a time
		receive(v)
	}
	got := make(chan string, 1)
	go func() { v, _ := r.Receive(ctx); got <- v }()
	waiting(true) // the receive's request on level 0 waits on the server
	if err := s.SendPriority(ctx, "urgent", 5); err != nil {
		t.Fatal(err)
	}
	if v := <-got; v != "urgent" {
		t.Fatalf("Receive = %q, want urgent", v)
	}
	// The receiver is busy: idle for longer than the 2 ms after which it
	// keeps nothing, which is the condition under test. Its request on
	// level 0 is still on the server, and takes what comes.
	time.Sleep(5 * time.Millisecond)
	if err := s.Send(ctx, "first"); err != nil {
		t.Fatal(err)
	}
	waiting(false) // "first" came to the request, which ended
	if err := s.Send(ctx, "second"); err != nil {
		t.Fatal(err)
	}
	receive("first")
	receive("second")
}
