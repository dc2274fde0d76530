package futex

import (
	"context"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ipcchan/ipcchan/internal/budget"
)

// eachWay runs test with each way a wait may wait: a slice in the kernel
// then parked (the default), parked at once (no budget), and as on a
// kernel without futex_waitv (slices of FUTEX_WAIT on the goroutine's
// thread throughout).
func eachWay(t *testing.T, test func(t *testing.T)) {
	t.Run("kernel", test)
	t.Run("parked", func(t *testing.T) {
		defer budget.Set(0)()
		test(t)
	})
	t.Run("no-futex_waitv", func(t *testing.T) {
		noWaitv.Store(true)
		defer noWaitv.Store(false)
		test(t)
	})
}

// TestWaitEnds: a wait ends Woken when its word changes and is woken, and
// with the reason of its context, its set's Close, or its timeout, in each
// way of waiting.
func TestWaitEnds(t *testing.T) {
	eachWay(t, func(t *testing.T) {
		var word uint32
		var s Set
		got := make(chan uint32, 1)
		wait := func(ctx context.Context, timeout time.Duration) {
			go func() { got <- s.Wait(ctx, &word, atomic.LoadUint32(&word), -1, timeout) }()
		}
		deadline := func() <-chan time.Time { return time.After(10 * time.Second) }

		wait(context.Background(), 0)
		select {
		case r := <-got:
			t.Fatalf("the wait ended (%d) before its word changed", r)
		case <-time.After(30 * time.Millisecond): // past a slice in the kernel: parked, where it parks
		}
		atomic.AddUint32(&word, 1)
		Wake(&word, 1)
		select {
		case r := <-got:
			if r != Woken {
				t.Errorf("woken: %d", r)
			}
		case <-deadline():
			t.Fatal("a change and a wake did not end the wait")
		}

		ctx, cancel := context.WithCancel(context.Background())
		wait(ctx, 0)
		cancel()
		if r := <-got; r != ByContext {
			t.Errorf("cancelled: %d, want ByContext", r)
		}

		start := time.Now()
		wait(context.Background(), 20*time.Millisecond)
		if r := <-got; r != ByTimeout || time.Since(start) < 20*time.Millisecond {
			t.Errorf("timeout: %d after %v, want ByTimeout after 20 ms", r, time.Since(start))
		}

		wait(context.Background(), 0)
		s.Close()
		select {
		case r := <-got:
			if r != ByClose {
				t.Errorf("closed: %d, want ByClose", r)
			}
		case <-deadline():
			t.Fatal("Close did not end the wait")
		}
		if r := s.Wait(context.Background(), &word, atomic.LoadUint32(&word), -1, 0); r != ByClose {
			t.Errorf("a wait on a closed set: %d, want ByClose", r)
		}
	})
}

// TestParkedWakesByPolicy: goroutines parked on one word are woken as its
// policy says: all of them on a change (WakeEvery), as many as the value
// counts (WakeCount).
func TestParkedWakesByPolicy(t *testing.T) {
	defer budget.Set(0)()
	for _, c := range []struct {
		name   string
		policy Policy
		val    uint32 // the word's value after the change
		want   int    // goroutines woken
	}{{"every", WakeEvery, 1, 5}, {"count", WakeCount, 2, 2}} {
		t.Run(c.name, func(t *testing.T) {
			var word uint32
			var s Set
			s.SetPolicy(c.policy)
			defer s.Close()
			woken := make(chan uint32, 5)
			for range 5 {
				go func() { woken <- s.Wait(context.Background(), &word, 0, -1, 0) }()
			}
			waitParked(t, &word, 5)
			atomic.StoreUint32(&word, c.val)
			Wake(&word, 1)
			for range c.want {
				select {
				case r := <-woken:
					if r != Woken {
						t.Fatalf("woken: %d", r)
					}
				case <-time.After(10 * time.Second):
					t.Fatal("fewer woken than the policy says")
				}
			}
			atomic.StoreUint32(&word, 0) // as the woken take what they were woken for
			select {
			case <-woken:
				t.Errorf("more than %d woken", c.want)
			case <-time.After(3 * levelCheck): // a level policy's look again: it must not wake more
			}
		})
	}
}

// waitParked waits until n goroutines are parked on addr.
func waitParked(t *testing.T, addr *uint32, n int) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; {
		shared.mu.Lock()
		w := shared.words[addr]
		parked := 0
		if w != nil {
			parked = w.parked
		}
		shared.mu.Unlock()
		if parked == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines parked, want %d", parked, n)
		}
		time.Sleep(time.Millisecond) // polling the waiter's own count
	}
}

// TestParkAfterAnUnseenChange: a goroutine that parks on a word with a
// newer value than those parked before it saw wakes them: the change came
// while the slot's leader was awake (its FUTEX_WAKE found nobody asleep),
// and the leader, which sleeps on the value the newest parker saw, would
// never see it. (Three subscribers of a topic in one process, parked on
// its data word, lost a wake-up this way.) The change here comes without
// a FUTEX_WAKE at all: only the second park can end the first wait.
func TestParkAfterAnUnseenChange(t *testing.T) {
	defer budget.Set(0)()
	var word uint32
	var s Set
	first := make(chan uint32, 1)
	go func() { first <- s.Wait(t.Context(), &word, 0, -1, 0) }()
	for parked := false; !parked; {
		shared.mu.Lock()
		w := shared.words[&word]
		parked = w != nil && w.parked == 1
		shared.mu.Unlock()
		if !parked {
			runtime.Gosched() // nothing but the shared waiter's own state tells
		}
	}
	atomic.StoreUint32(&word, 1) // changed while nobody looked
	second := make(chan uint32, 1)
	go func() { second <- s.Wait(t.Context(), &word, 1, -1, 0) }()
	select {
	case r := <-first:
		if r != Woken {
			t.Errorf("the first wait ended %d, want Woken", r)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the first wait missed the change that the second one saw")
	}
	atomic.StoreUint32(&word, 2)
	Wake(&word, WakeAll)
	if r := <-second; r != Woken {
		t.Errorf("the second wait ended %d", r)
	}
}
