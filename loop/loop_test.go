package loop

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ipcchan/ipcchan/internal/testutil"
)

// TestRunCallbacksInOrder: level-triggered callbacks see every byte, and
// posted functions run on the loop goroutine in order.
func TestRunCallbacksInOrder(t *testing.T) {
	l := newLoop(t)
	r, w := newPipe(t)
	var got []string
	done := make(chan struct{})
	err := l.Add(r, Readable, func(ev Events) {
		var b [1]byte
		if n, _ := unix.Read(r, b[:]); n == 1 { // one byte per call: level-triggered
			got = append(got, string(b[:]))
		}
		if len(got) == 3 {
			l.Post(func() { got = append(got, "posted"); close(done) })
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	unix.Write(w, []byte("abc"))
	runDone := make(chan error, 1)
	go func() { runDone <- l.Run(t.Context()) }()
	<-done
	l.Stop()
	if err := <-runDone; err != nil {
		t.Fatalf("Run = %v", err)
	}
	if s := strings.Join(got, ","); s != "a,b,c,posted" {
		t.Errorf("callbacks saw %s", s)
	}
}

func TestRemoveInCallbackAndReAdd(t *testing.T) {
	l := newLoop(t)
	r, w := newPipe(t)
	calls := 0
	cb := func(Events) {
		calls++
		if err := l.Remove(r); err != nil {
			t.Errorf("Remove in callback: %v", err)
		}
		l.Stop()
	}
	if err := l.Add(r, Readable, cb); err != nil {
		t.Fatal(err)
	}
	unix.Write(w, []byte("xy"))
	if err := l.Run(t.Context()); err != nil {
		t.Fatal(err)
	}
	if calls != 1 {
		t.Errorf("callback ran %d times, want 1 (removed in its first run)", calls)
	}
	if err := l.Remove(r); err == nil {
		t.Error("second Remove succeeded")
	}
	if err := l.Modify(r, Writable); err == nil {
		t.Error("Modify of a removed fd succeeded")
	}
	// Registered again, it is reported again.
	if err := l.Add(r, Readable, func(Events) { calls++; l.Stop() }); err != nil {
		t.Fatal(err)
	}
	l.Run(t.Context())
	if calls != 2 {
		t.Errorf("callback after re-Add ran %d times in all, want 2", calls)
	}
	if err := l.Add(r, Readable, func(Events) {}); err == nil {
		t.Error("adding a registered fd twice succeeded")
	}
}

// TestCloseRegisteredDescriptor: a descriptor closed while registered is
// forgotten by the kernel; its number can be registered again.
func TestCloseRegisteredDescriptor(t *testing.T) {
	l := newLoop(t)
	var p [2]int
	unix.Pipe2(p[:], unix.O_NONBLOCK|unix.O_CLOEXEC)
	if err := l.Add(p[0], Readable, func(Events) { t.Error("callback of a closed fd") }); err != nil {
		t.Fatal(err)
	}
	unix.Close(p[0])
	unix.Close(p[1])
	r, w := newPipe(t) // likely the same numbers
	fired := false
	if err := l.Add(r, Readable, func(Events) { fired = true; l.Stop() }); err != nil {
		t.Fatalf("Add after closing a registered fd: %v", err)
	}
	unix.Write(w, []byte("x"))
	l.Run(t.Context())
	if !fired {
		t.Error("new registration not reported")
	}
	if err := l.Remove(r); err != nil {
		t.Error(err)
	}
}

func TestRunContextAndStopFromCallback(t *testing.T) {
	l := newLoop(t)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Millisecond)
	defer cancel()
	if err := l.Run(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Run with deadline = %v", err)
	}
	l.Post(l.Stop)
	if err := l.Run(t.Context()); err != nil {
		t.Fatalf("Run stopped from a posted func = %v", err)
	}
	// Close from a callback ends Run with nil.
	l.Post(func() { l.Close() })
	if err := l.Run(t.Context()); err != nil {
		t.Fatalf("Run closed from a callback = %v", err)
	}
}

func TestRunTwice(t *testing.T) {
	l := newLoop(t)
	runLoop(t, l)
	testutil.WaitBlocked(t, "(*Loop).Run", 1)
	if err := l.Run(t.Context()); err == nil || !strings.Contains(err.Error(), "already running") {
		t.Errorf("second Run = %v", err)
	}
}

func TestPostOrderFromManyGoroutines(t *testing.T) {
	l := newLoop(t)
	runLoop(t, l)
	const n = 1000
	got := make([]int, 0, n)
	done := make(chan struct{})
	for i := range n {
		l.Post(func() {
			got = append(got, i)
			if len(got) == n {
				close(done)
			}
		})
	}
	<-done
	if fmt.Sprint(got[:5]) != "[0 1 2 3 4]" {
		t.Errorf("posted functions ran in order %v...", got[:5])
	}
	for i, v := range got {
		if v != i {
			t.Fatalf("posted function %d ran at position %d", v, i)
		}
	}
}

func TestEventsString(t *testing.T) {
	if s := (Readable | HangUp).String(); s != "readable|hangup" {
		t.Errorf("String = %q", s)
	}
	if s := Events(0).String(); s != "none" {
		t.Errorf("String = %q", s)
	}
}
