package loop

import (
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// A Timer runs a function on the loop after a delay (After) or at a fixed
// interval (Every). It is a timerfd registered with the loop.
type Timer struct {
	l      *Loop
	fd     int
	f      func()
	repeat bool

	mu      sync.Mutex
	stopped bool
}

// After runs f on the loop once, d from now (CLOCK_MONOTONIC).
func (l *Loop) After(d time.Duration, f func()) (*Timer, error) {
	return l.newTimer(d, 0, f)
}

// Every runs f on the loop every d, starting d from now. If the loop falls
// behind, missed ticks are folded into one call.
func (l *Loop) Every(d time.Duration, f func()) (*Timer, error) {
	return l.newTimer(d, d, f)
}

func (l *Loop) newTimer(first, interval time.Duration, f func()) (*Timer, error) {
	fd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("timerfd_create", err)
	}
	// A zero it_value disarms a timerfd: fire "at once" as 1 ns instead.
	spec := unix.ItimerSpec{Value: unix.NsecToTimespec(max(first.Nanoseconds(), 1))}
	if interval > 0 {
		spec.Interval = unix.NsecToTimespec(interval.Nanoseconds())
	}
	if err := unix.TimerfdSettime(fd, 0, &spec, nil); err != nil {
		unix.Close(fd)
		return nil, os.NewSyscallError("timerfd_settime", err)
	}
	t := &Timer{l: l, fd: fd, f: f, repeat: interval > 0}
	if err := l.Add(fd, Readable, t.fire); err != nil {
		unix.Close(fd)
		return nil, err
	}
	return t, nil
}

func (t *Timer) fire(Events) {
	var buf [8]byte
	if _, err := unix.Read(t.fd, buf[:]); err != nil {
		return // EAGAIN: nothing expired after all
	}
	if !t.repeat {
		t.Stop()
	}
	t.f()
}

// Stop cancels the timer: f does not run again. It is safe to call from
// any goroutine, from f itself, and more than once.
func (t *Timer) Stop() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stopped {
		return
	}
	t.stopped = true
	t.l.Remove(t.fd)
	unix.Close(t.fd)
}
