// Package futex lets goroutines sleep on futex words in shared memory, as
// every ipcchan object that lives there waits (Semaphore, Mutex,
// WaitGroup, Ring), with a context and a Close that wake them at once.
package futex

import (
	"context"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/ipcchan/ipcchan/internal/posix"
	"github.com/ipcchan/ipcchan/loop"
)

// Why a wait ended.
const (
	Woken     = 0 // the word was woken, or no longer held the value: look again
	ByContext = 1 // the context is done
	ByClose   = 2 // the set was closed
	ByWatch   = 3 // a watched descriptor became readable (a lock holder exited)
	ByTimeout = 4 // the timeout passed
)

// WakeAll is the count for Wake that wakes every waiter.
const WakeAll = 1<<31 - 1

// Wake wakes up to n waiters on the word at addr, in shared memory.
func Wake(addr *uint32, n int) { posix.FutexWake(addr, n, true) }

// A Set lets goroutines of one handle sleep on a shared futex word,
// and lets Close wake them all. A sleeping goroutine's thread waits in
// futex_waitv on up to three words at once: the shared word, the handle's
// closed word (which Close sets and wakes), and, if its context can end or
// it watches a descriptor, a cancel word of its own. The kernel checks every
// value before sleeping, so a Close or a cancellation that comes first is
// never missed.
type Set struct {
	closed uint32 // 1 once Close has been called
}

// A waiter is the cancel word of one goroutine.
type waiter struct {
	cancel uint32 // 0, or byContext / byWatch
}

func (w *waiter) stop(reason uint32) {
	if atomic.CompareAndSwapUint32(&w.cancel, 0, reason) {
		posix.FutexWake(&w.cancel, 1, false)
	}
}

// Close wakes every waiter with ByClose, and makes later waits return it.
func (s *Set) Close() {
	atomic.StoreUint32(&s.closed, 1)
	posix.FutexWake(&s.closed, WakeAll, false)
}

// noWaitv is set when the kernel lacks futex_waitv (before Linux 5.16);
// waits then sleep on the shared word in slices and look at the other
// words between them.
var noWaitv atomic.Bool

const waitSlice = 5 * time.Millisecond

// Wait sleeps while *addr == val, until the word is woken (by another
// process or goroutine, or spuriously), ctx is done, the set is closed,
// watchFd (if >= 0) becomes readable, or timeout (if > 0) passes. It
// returns which; the caller re-examines the word after Woken.
func (s *Set) Wait(ctx context.Context, addr *uint32, val uint32, watchFd int, timeout time.Duration) uint32 {
	ws := [3]posix.FutexWaiter{{Addr: addr, Val: val, Shared: true}, {Addr: &s.closed}}
	n := 2
	var w *waiter
	if ctx.Done() != nil || watchFd >= 0 {
		w = &waiter{}
		ws[2] = posix.FutexWaiter{Addr: &w.cancel}
		n = 3
		if ctx.Done() != nil {
			stop := context.AfterFunc(ctx, func() { w.stop(ByContext) })
			defer stop()
		}
		if watchFd >= 0 {
			done := make(chan struct{})
			defer close(done)
			go watch(watchFd, w, done)
		}
	}
	reason := func() uint32 {
		if atomic.LoadUint32(&s.closed) != 0 {
			return ByClose
		}
		if w != nil {
			return atomic.LoadUint32(&w.cancel)
		}
		return Woken
	}
	var end time.Time
	if timeout > 0 {
		end = time.Now().Add(timeout)
	}
	for {
		if r := reason(); r != Woken {
			return r
		}
		left := time.Duration(0)
		if timeout > 0 {
			if left = time.Until(end); left <= 0 {
				return ByTimeout
			}
		}
		if noWaitv.Load() {
			slice := waitSlice
			if timeout > 0 {
				slice = min(slice, left)
			}
			err := posix.FutexWait(addr, val, true, slice)
			if err == syscall.ETIMEDOUT || err == syscall.EINTR {
				continue // look at the other words again
			}
			return reason()
		}
		_, err := posix.FutexWaitv(ws[:n], left)
		switch err {
		case syscall.EINTR, syscall.ETIMEDOUT:
			continue // the timeout is seen at the top
		case syscall.ENOSYS:
			noWaitv.Store(true)
			continue
		}
		// Woken, or a value had changed (EAGAIN): either way, report.
		return reason()
	}
}

// watch stops w when fd becomes readable, unless done closes first.
func watch(fd int, w *waiter, done <-chan struct{}) {
	l, err := loop.Default()
	if err != nil {
		return
	}
	f := l.Watch(fd)
	defer f.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-done:
			cancel()
		case <-ctx.Done():
		}
	}()
	if f.Wait(ctx, loop.Readable, loop.Token{}) == nil {
		w.stop(ByWatch)
	}
}
