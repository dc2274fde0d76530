package loop

import (
	"context"
	"errors"

	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ipcchan/ipcchan/internal/testutil"
)

func newPipe(t *testing.T) (r, w int) {
	t.Helper()
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_NONBLOCK|unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(p[0]); unix.Close(p[1]) })
	return p[0], p[1]
}

func newLoop(t *testing.T) *Loop {
	t.Helper()
	l, err := New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// runLoop runs l in a goroutine until the test ends.
func runLoop(t *testing.T, l *Loop) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- l.Run(context.Background()) }()
	t.Cleanup(func() {
		l.Close()
		if err := <-done; err != nil {
			t.Errorf("Run after Close: %v", err)
		}
	})
}

// readByte waits until r is readable and reads one byte, as a library
// caller does: token, non-blocking attempt, wait.
func readByte(ctx context.Context, fd *FD, r int) error {
	var b [1]byte
	for {
		tok := fd.Token()
		_, err := unix.Read(r, b[:])
		if err != unix.EAGAIN {
			return err
		}
		if err := fd.Wait(ctx, Readable, tok); err != nil {
			return err
		}
	}
}

func TestFDWaitLeaderAlone(t *testing.T) {
	l := newLoop(t)
	r, w := newPipe(t)
	fd := l.Watch(r)
	defer fd.Close()
	got := make(chan error, 1)
	go func() { got <- readByte(t.Context(), fd, r) }()
	testutil.WaitBlocked(t, "readByte", 1)
	unix.Write(w, []byte("x"))
	if err := <-got; err != nil {
		t.Fatalf("read = %v", err)
	}
	// Readiness after the token returns at once, even before anyone polls.
	tok := fd.Token()
	unix.Write(w, []byte("y"))
	if err := fd.Wait(t.Context(), Readable, tok); err != nil {
		t.Fatalf("Wait = %v", err)
	}
}

// TestFDManyWaiters: goroutines waiting on different descriptors, one of
// them leading at a time, are all woken, in any order of readiness.
func TestFDManyWaiters(t *testing.T) {
	for _, withRun := range []bool{false, true} {
		l := newLoop(t)
		if withRun {
			runLoop(t, l)
		}
		const n = 8
		var ws [n]int
		errs := make(chan error, n)
		for i := range n {
			r, w := newPipe(t)
			ws[i] = w
			fd := l.Watch(r)
			defer fd.Close()
			go func() { errs <- readByte(t.Context(), fd, r) }()
		}
		testutil.WaitBlocked(t, "readByte", n)
		for _, i := range []int{5, 0, 7, 3, 1, 6, 2, 4} {
			unix.Write(ws[i], []byte("x"))
			if err := <-errs; err != nil {
				t.Fatalf("withRun=%v: read = %v", withRun, err)
			}
		}
	}
}

func TestFDWaitContextAndClose(t *testing.T) {
	l := newLoop(t)
	r, _ := newPipe(t)
	fd := l.Watch(r)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := fd.Wait(ctx, Readable, fd.Token()); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait = %v, want deadline", err)
	}
	if late := time.Since(start) - 5*time.Millisecond; late > 100*time.Millisecond {
		t.Errorf("the leader returned %v after its deadline", late)
	}
	// Cancel a leader and followers, then close the FD under others.
	ctx, cancel = context.WithCancel(t.Context())
	errs := make(chan error, 6)
	for range 3 {
		go func() { errs <- fd.Wait(ctx, Readable, fd.Token()) }()
	}
	testutil.WaitBlocked(t, "(*FD).Wait", 3)
	cancel()
	for range 3 {
		if err := <-errs; !errors.Is(err, context.Canceled) {
			t.Fatalf("Wait after cancel = %v", err)
		}
	}
	for range 3 {
		go func() { errs <- fd.Wait(t.Context(), Readable, fd.Token()) }()
	}
	testutil.WaitBlocked(t, "(*FD).Wait", 3)
	fd.Close()
	for range 3 {
		if err := <-errs; !errors.Is(err, ErrClosed) {
			t.Fatalf("Wait after Close = %v, want ErrClosed", err)
		}
	}
	if err := fd.Wait(t.Context(), Readable, fd.Token()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Wait on a closed FD = %v", err)
	}
}

// TestFDLeaderHandsOver: when the leader's descriptor is ready it leaves,
// and a follower waiting on another descriptor takes over the polling.
func TestFDLeaderHandsOver(t *testing.T) {
	l := newLoop(t)
	r1, w1 := newPipe(t)
	r2, w2 := newPipe(t)
	fd1, fd2 := l.Watch(r1), l.Watch(r2)
	e1, e2 := make(chan error, 1), make(chan error, 1)
	go func() { e1 <- readByte(t.Context(), fd1, r1) }()
	testutil.WaitBlocked(t, "readByte", 1)
	go func() { e2 <- readByte(t.Context(), fd2, r2) }()
	testutil.WaitBlocked(t, "readByte", 2)
	unix.Write(w1, []byte("x")) // the first waiter leads; it leaves
	if err := <-e1; err != nil {
		t.Fatal(err)
	}
	unix.Write(w2, []byte("x")) // someone must poll for the second
	select {
	case err := <-e2:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the follower was not woken after the leader left")
	}
}

func TestFDWritable(t *testing.T) {
	l := newLoop(t)
	r, w := newPipe(t)
	fd := l.Watch(w)
	defer fd.Close()
	// Fill the pipe, then wait for room.
	buf := make([]byte, 1<<16)
	for {
		if _, err := unix.Write(w, buf); err == unix.EAGAIN {
			break
		}
	}
	tok := fd.Token()
	errc := make(chan error, 1)
	go func() { errc <- fd.Wait(t.Context(), Writable, tok) }()
	testutil.WaitBlocked(t, "(*FD).Wait", 1)
	for {
		if _, err := unix.Read(r, buf); err != nil {
			break
		}
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

func TestLoopCloseWakesWaiters(t *testing.T) {
	l, err := New()
	if err != nil {
		t.Fatal(err)
	}
	r, _ := newPipe(t)
	fd := l.Watch(r)
	errs := make(chan error, 3)
	for range 3 {
		go func() { errs <- fd.Wait(t.Context(), Readable, fd.Token()) }()
	}
	testutil.WaitBlocked(t, "(*FD).Wait", 3)
	l.Close()
	for range 3 {
		if err := <-errs; !errors.Is(err, ErrClosed) {
			t.Fatalf("Wait after loop Close = %v", err)
		}
	}
	if l.Post(func() {}) {
		t.Error("Post on a closed loop reported true")
	}
	if err := l.Add(r, Readable, func(Events) {}); !errors.Is(err, ErrClosed) {
		t.Errorf("Add on a closed loop = %v", err)
	}
	if err := l.Run(t.Context()); !errors.Is(err, ErrClosed) {
		t.Errorf("Run on a closed loop = %v", err)
	}
	l.Close()
}

// TestNoBusyPolling: after interrupts (cancelled leaders, posts), leaders
// sleep in epoll_wait again: the number of polls stays near the number of
// events, where a spinning loop would make it huge.
func TestNoBusyPolling(t *testing.T) {
	l := newLoop(t)
	r, w := newPipe(t)
	fd := l.Watch(r)
	defer fd.Close()
	for range 3 { // leave interrupts behind: cancelled leaders and a post
		ctx, cancel := context.WithCancel(t.Context())
		errc := make(chan error, 1)
		go func() { errc <- fd.Wait(ctx, Readable, fd.Token()) }()
		testutil.WaitBlocked(t, "(*FD).Wait", 1)
		cancel()
		<-errc
		l.Post(func() {})
	}
	const events = 200
	before := l.polls.Load()
	for range events {
		errc := make(chan error, 1)
		go func() { errc <- readByte(t.Context(), fd, r) }()
		testutil.WaitBlocked(t, "readByte", 1)
		unix.Write(w, []byte("x"))
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
	if polls := l.polls.Load() - before; polls > 3*events {
		t.Errorf("%d epoll_wait calls for %d events: the loop spins", polls, events)
	}
}
