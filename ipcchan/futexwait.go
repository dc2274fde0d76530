package ipcchan

import (
	"context"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/ipcchan/ipcchan/internal/posix"
	"github.com/ipcchan/ipcchan/loop"
)

// Why a futex wait ended, besides a wake-up of the word itself.
const (
	woken     = 0
	byContext = 1
	byClose   = 2
	byWatch   = 3 // a watched descriptor became readable (a lock holder exited)
)

// A waiterSet lets goroutines of one handle sleep on a shared futex word,
// and lets Close wake them all. A sleeping goroutine's thread waits in
// futex_waitv on up to three words at once: the shared word, the handle's
// closed word (which Close sets and wakes), and, if its context can end or
// it watches a descriptor, a cancel word of its own. The kernel checks every
// value before sleeping, so a Close or a cancellation that comes first is
// never missed.
type waiterSet struct {
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

// close wakes every waiter with byClose, and makes later waits return it.
func (s *waiterSet) close() {
	atomic.StoreUint32(&s.closed, 1)
	posix.FutexWake(&s.closed, wakeAll, false)
}

// noWaitv is set when the kernel lacks futex_waitv (before Linux 5.16);
// waits then sleep on the shared word in slices and look at the other
// words between them.
var noWaitv atomic.Bool

const waitSlice = 5 * time.Millisecond

// wait sleeps while *addr == val, until the word is woken (by another
// process or goroutine, or spuriously), ctx is done, the set is closed, or
// watchFd (if >= 0) becomes readable. It returns which; the caller
// re-examines the word after a wake-up.
func (s *waiterSet) wait(ctx context.Context, addr *uint32, val uint32, watchFd int) uint32 {
	ws := [3]posix.FutexWaiter{{Addr: addr, Val: val, Shared: true}, {Addr: &s.closed}}
	n := 2
	var w *waiter
	if ctx.Done() != nil || watchFd >= 0 {
		w = &waiter{}
		ws[2] = posix.FutexWaiter{Addr: &w.cancel}
		n = 3
		if ctx.Done() != nil {
			stop := context.AfterFunc(ctx, func() { w.stop(byContext) })
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
			return byClose
		}
		if w != nil {
			return atomic.LoadUint32(&w.cancel)
		}
		return woken
	}
	for {
		if r := reason(); r != woken {
			return r
		}
		if noWaitv.Load() {
			err := posix.FutexWait(addr, val, true, waitSlice)
			if err == syscall.ETIMEDOUT || err == syscall.EINTR {
				continue // look at the other words again
			}
			return reason()
		}
		_, err := posix.FutexWaitv(ws[:n], 0)
		switch err {
		case syscall.EINTR:
			continue
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
		w.stop(byWatch)
	}
}
