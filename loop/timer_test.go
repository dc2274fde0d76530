package loop

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"syscall"
	"testing"
	"time"
)

func TestAfterAndEvery(t *testing.T) {
	l := newLoop(t)
	var events []string
	start := time.Now()
	ticks := 0
	var every *Timer
	every, err := l.Every(2*time.Millisecond, func() {
		ticks++
		events = append(events, "tick")
		if ticks == 3 {
			every.Stop()
			every.Stop() // twice is harmless
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.After(20*time.Millisecond, func() {
		events = append(events, "after")
		l.Stop()
	}); err != nil {
		t.Fatal(err)
	}
	if err := l.Run(t.Context()); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < 20*time.Millisecond {
		t.Errorf("After(20ms) fired after %v", took)
	}
	want := "[tick tick tick after]"
	if got := fmt.Sprint(events); got != want {
		t.Errorf("events %s, want %s", got, want)
	}
}

func TestTimerStoppedBeforeFiring(t *testing.T) {
	l := newLoop(t)
	tm, err := l.After(time.Millisecond, func() { t.Error("stopped timer fired") })
	if err != nil {
		t.Fatal(err)
	}
	tm.Stop()
	if _, err := l.After(10*time.Millisecond, l.Stop); err != nil {
		t.Fatal(err)
	}
	l.Run(t.Context())
	if _, err := l.After(0, l.Stop); err != nil { // zero: at once
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if err := l.Run(ctx); err != nil {
		t.Fatalf("After(0) did not fire: %v", err)
	}
}

// TestSignal: a signal sent to the process runs the callback on the loop,
// also when it arrives before Run starts.
func TestSignal(t *testing.T) {
	l := newLoop(t)
	got := make(chan os.Signal, 2)
	stop := l.Signal(func(s os.Signal) {
		got <- s
		if len(got) == 2 {
			l.Stop()
		}
	}, syscall.SIGUSR1, syscall.SIGUSR2)
	defer stop()
	syscall.Kill(os.Getpid(), syscall.SIGUSR1)
	// Delivery is asynchronous: wait for the forwarder to post it before
	// sending the second, so that the two are not coalesced by the kernel.
	for deadline := time.Now().Add(10 * time.Second); ; runtime.Gosched() {
		l.mu.Lock()
		n := len(l.posted)
		l.mu.Unlock()
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("SIGUSR1 was not posted to the loop")
		}
	}
	syscall.Kill(os.Getpid(), syscall.SIGUSR2)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := l.Run(ctx); err != nil {
		t.Fatalf("Run = %v; signals not delivered", err)
	}
	if a, b := <-got, <-got; a != syscall.SIGUSR1 || b != syscall.SIGUSR2 {
		t.Errorf("signals %v, %v", a, b)
	}
}
