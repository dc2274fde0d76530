package ipcchan

import (
	"context"
	"sync"
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

// A waiter is one goroutine sleeping on a shared futex word. Its thread
// sleeps in futex_waitv on two words: the shared one, and its own cancel
// word, which a context, Close or a watched descriptor sets and wakes. The
// kernel checks both values before sleeping, so a cancellation that comes
// first is never missed.
type waiter struct {
	cancel uint32 // 0, or byContext / byClose / byWatch
}

func (w *waiter) stop(reason uint32) {
	if atomic.CompareAndSwapUint32(&w.cancel, 0, reason) {
		posix.FutexWake(&w.cancel, 1, false)
	}
}

// A waiterSet lets Close reach every goroutine waiting on an object.
type waiterSet struct {
	mu     sync.Mutex
	ws     map[*waiter]struct{}
	closed bool
}

func (s *waiterSet) add(w *waiter) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	if s.ws == nil {
		s.ws = make(map[*waiter]struct{})
	}
	s.ws[w] = struct{}{}
	return true
}

func (s *waiterSet) remove(w *waiter) {
	s.mu.Lock()
	delete(s.ws, w)
	s.mu.Unlock()
}

// close wakes every waiter with byClose and refuses new ones.
func (s *waiterSet) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	for w := range s.ws {
		w.stop(byClose)
	}
}

// noWaitv is set when the kernel lacks futex_waitv (before Linux 5.16);
// waits then sleep on the shared word in slices and check for cancellation
// between them.
var noWaitv atomic.Bool

const waitSlice = 5 * time.Millisecond

// wait sleeps while *addr == val, until the word is woken (by another
// process or goroutine, or spuriously), ctx is done, the set is closed, or
// watchFd (if >= 0) becomes readable. It returns which; the caller
// re-examines the word after a wake-up.
func (s *waiterSet) wait(ctx context.Context, addr *uint32, val uint32, watchFd int) uint32 {
	w := &waiter{}
	if !s.add(w) {
		return byClose
	}
	defer s.remove(w)
	if ctx.Done() != nil {
		stop := context.AfterFunc(ctx, func() { w.stop(byContext) })
		defer stop()
	}
	if watchFd >= 0 {
		done := make(chan struct{})
		defer close(done)
		go watch(watchFd, w, done)
	}
	for {
		if r := atomic.LoadUint32(&w.cancel); r != 0 {
			return r
		}
		if noWaitv.Load() {
			err := posix.FutexWait(addr, val, true, waitSlice)
			if err == syscall.ETIMEDOUT || err == syscall.EINTR {
				continue // look at the cancel word again
			}
			return atomic.LoadUint32(&w.cancel)
		}
		_, err := posix.FutexWaitv([]posix.FutexWaiter{{Addr: addr, Val: val, Shared: true}, {Addr: &w.cancel}}, 0)
		switch err {
		case syscall.EINTR:
			continue
		case syscall.ENOSYS:
			noWaitv.Store(true)
			continue
		}
		// Woken, or a value had changed (EAGAIN): either way, report.
		return atomic.LoadUint32(&w.cancel)
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
