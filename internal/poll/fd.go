// Package poll runs system calls on non-blocking descriptors the way
// ipcchan's queues need them, in the spirit of the standard library's
// internal/poll.FD: one place that makes the call, waits on the epoll
// reactor (package loop) when the call says EAGAIN, honours a context,
// and lets Close wake every waiter and close the descriptor only once no
// call is using it.
package poll

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ipcchan/ipcchan/loop"
)

// ErrClosing is returned by the operations of an FD that is being closed,
// or was.
var ErrClosing = errors.New("use of a closed descriptor")

// An FD is a non-blocking descriptor and its waits. Its methods are safe
// for concurrent use.
type FD struct {
	sysfd int
	wait  *loop.FD

	mu        sync.RWMutex // held shared around system calls, exclusively to close sysfd
	closing   atomic.Bool  // set when Close begins: new operations fail
	sysClosed bool         // under mu: sysfd is closed
	closeOnce sync.Once
	closeErr  error
}

// New returns the FD of the non-blocking descriptor fd, which it owns from
// now on, waiting on the process's default loop.
func New(fd int) (*FD, error) {
	l, err := loop.Default()
	if err != nil {
		return nil, err
	}
	return &FD{sysfd: fd, wait: l.Watch(fd)}, nil
}

// Sysfd returns the descriptor, or -1 once it is closed.
func (f *FD) Sysfd() int {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.sysClosed {
		return -1
	}
	return f.sysfd
}

// Closing reports whether Close has begun.
func (f *FD) Closing() bool { return f.closing.Load() }

// Do makes one attempt of op with the descriptor, or returns ErrClosing.
func (f *FD) Do(op func(fd int) error) error {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.closing.Load() {
		return ErrClosing
	}
	return op(f.sysfd)
}

// Run makes attempts of op until it returns something other than EAGAIN.
// Between attempts it waits until the descriptor is ready for ev, if
// block, and returns EAGAIN at once if not. A wait ends with ctx's cause
// when ctx is done first, and with ErrClosing when Close begins.
func (f *FD) Run(ctx context.Context, ev loop.Events, block bool, op func(fd int) error) error {
	for {
		// The token, taken before the attempt, keeps readiness that comes
		// between a failed attempt and the wait from being missed.
		tok := f.wait.Token()
		err := f.Do(op)
		if err != syscall.EAGAIN || !block {
			return err
		}
		if err := f.wait.Wait(ctx, ev, tok); err != nil {
			if errors.Is(err, loop.ErrClosed) {
				return ErrClosing
			}
			if c := context.Cause(ctx); c != nil {
				return c
			}
			return err
		}
	}
}

// Close begins closing: operations fail with ErrClosing from now on, and
// the waiting ones wake with it. Then it calls drain, if not nil, which
// may still use the descriptor with Final, and closes the descriptor once
// no operation is using it. Only the first call does all this; every call
// returns drain's error, or else the close's.
func (f *FD) Close(drain func() error) error {
	f.closeOnce.Do(func() {
		f.closing.Store(true)
		f.wait.Close()
		if drain != nil {
			f.closeErr = drain()
		}
		f.mu.Lock()
		f.sysClosed = true
		err := unix.Close(f.sysfd)
		f.mu.Unlock()
		if f.closeErr == nil && err != nil {
			f.closeErr = err
		}
	})
	return f.closeErr
}

// Final runs op until it returns something other than EAGAIN, or until the
// deadline (then it returns EAGAIN). It is for Close's drain: the reactor
// no longer watches the descriptor, so it polls the descriptor itself
// between attempts.
func (f *FD) Final(deadline time.Time, ev loop.Events, op func(fd int) error) error {
	for {
		f.mu.RLock()
		err := op(f.sysfd)
		f.mu.RUnlock()
		left := time.Until(deadline)
		if err != syscall.EAGAIN || left <= 0 {
			return err
		}
		fds := []unix.PollFd{{Fd: int32(f.sysfd), Events: int16(ev)}}
		unix.Poll(fds, int(left.Milliseconds())+1)
	}
}
