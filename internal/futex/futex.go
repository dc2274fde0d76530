// Package futex lets goroutines wait on futex words in shared memory, as
// every ipcchan object that lives there waits (Semaphore, Mutex,
// WaitGroup, Ring), with a context and a Close that wake them at once,
// and at the cost of a goroutine, not of a thread.
//
// # How a wait waits
//
// The caller spins first if that pays (a ring does). Then Wait sleeps in
// the kernel on the goroutine's own thread, in futex_waitv, for at most
// Slice: the fastest wake-up there is, as a blocking sem_wait in C has.
// At most budget.Max such waits (4 per GOMAXPROCS) hold a thread at once,
// those of queues included. A wait that outlasts its slice, or finds the
// slices taken, parks on the shared waiter (park.go) without a thread: its
// threads each sleep on up to 127 words for every goroutine parked on
// them, and wake as many as the word's Policy says when it changes. So N
// goroutines waiting on W words hold at most budget.Max + ceil(W/127)
// threads, whatever N. A context, Close, a timeout, or a watched
// descriptor (a lock holder's pidfd, through the reactor) end a wait at
// once, in the kernel or parked.
//
// On a kernel without futex_waitv (before Linux 5.16), a wait sleeps on
// its own thread in slices of 5 ms with FUTEX_WAIT, looking at the
// context and Close between them, for as long as it lasts: it works, at
// the cost of a thread per waiting goroutine.
package futex

import (
	"context"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/ipcchan/ipcchan/internal/budget"
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

// Slice bounds a wait on a goroutine's own thread, after which it parks.
// It is a queue's (internal/poll), for the same reason: a shorter timer
// costs every wait on a virtual machine.
const Slice = 10 * time.Millisecond

// Wake wakes up to n waiters on the word at addr, in shared memory.
func Wake(addr *uint32, n int) { posix.FutexWake(addr, n, true) }

// Sleepers is the bit of a shared word by which its sleepers announce
// themselves (a ring's, a topic's, a pool's words): see WakeSleepers.
const Sleepers = 1 << 31

// WakeSleepers wakes every sleeper of word, if one announced itself: it
// clears the Sleepers bit, adds one to the rest, and wakes them.
func WakeSleepers(word *uint32) {
	for {
		v := atomic.LoadUint32(word)
		if v&Sleepers == 0 {
			return
		}
		if atomic.CompareAndSwapUint32(word, v, (v+1)&^Sleepers) {
			Wake(word, WakeAll)
			return
		}
	}
}

// A Set is the waits of one handle on its object's shared futex words,
// and lets Close wake them all. The zero Set wakes every parked goroutine
// when a word changes (WakeEvery); SetPolicy says otherwise.
type Set struct {
	closed uint32 // 1 once Close has been called; a word for waits in the kernel
	policy Policy

	mu   sync.Mutex
	done chan struct{} // closed by Close: parked waits
}

// SetPolicy sets how many parked goroutines a change of one of the set's
// words wakes; call it before the first Wait.
func (s *Set) SetPolicy(p Policy) { s.policy = p }

// A waiter is the cancel word of one goroutine in the kernel.
type waiter struct {
	cancel uint32 // 0, or ByContext / ByWatch
}

func (w *waiter) stop(reason uint32) {
	if atomic.CompareAndSwapUint32(&w.cancel, 0, reason) {
		posix.FutexWake(&w.cancel, 1, false)
	}
}

// Close wakes every waiter with ByClose, and makes later waits return it.
func (s *Set) Close() {
	if atomic.SwapUint32(&s.closed, 1) != 0 {
		return
	}
	posix.FutexWake(&s.closed, WakeAll, false)
	close(s.doneChan())
	nudgeAll() // a leader among the set's waiters looks at it
}

// doneChan returns the channel Close closes.
func (s *Set) doneChan() chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done == nil {
		s.done = make(chan struct{})
	}
	return s.done
}

// noWaitv is set when the kernel lacks futex_waitv (before Linux 5.16);
// waits then sleep on the shared word in slices and look at the other
// words between them.
var noWaitv atomic.Bool

const waitSlice = 5 * time.Millisecond

// Wait sleeps while *addr == val, until the word is woken (by another
// process or goroutine, or spuriously), ctx is done, the set is closed,
// watchFd (if >= 0) becomes readable, or timeout (if > 0) passes. It
// returns which; the caller re-examines the word after Woken. It sleeps in
// the kernel for a slice first, if the budget allows, then parks.
func (s *Set) Wait(ctx context.Context, addr *uint32, val uint32, watchFd int, timeout time.Duration) uint32 {
	return s.wait(ctx, addr, val, watchFd, timeout, true)
}

// Park is Wait without the slice in the kernel: the goroutine parks at
// once. It is for waits that last (a Watch's), which would take a slice
// from the waits that a fast wake-up serves.
func (s *Set) Park(ctx context.Context, addr *uint32, val uint32, watchFd int, timeout time.Duration) uint32 {
	return s.wait(ctx, addr, val, watchFd, timeout, false)
}

func (s *Set) wait(ctx context.Context, addr *uint32, val uint32, watchFd int, timeout time.Duration, slice bool) uint32 {
	var end time.Time
	if timeout > 0 {
		end = time.Now().Add(timeout)
	}
	if noWaitv.Load() {
		return s.waitSliced(ctx, addr, val, watchFd, end)
	}
	if slice && budget.Enter() {
		r, over := s.waitKernel(ctx, addr, val, watchFd, end)
		budget.Leave()
		if !over {
			return r
		}
		if noWaitv.Load() {
			return s.waitSliced(ctx, addr, val, watchFd, end)
		}
	}
	return s.waitParked(ctx, addr, val, watchFd, end)
}

// cancelWord sets up the cancel word of a wait in the kernel that ctx or
// watchFd may end; release undoes it.
func cancelWord(ctx context.Context, watchFd int) (w *waiter, release func()) {
	w = &waiter{}
	if ctx.Done() == nil && watchFd < 0 {
		return w, func() {}
	}
	var stops []func()
	if ctx.Done() != nil {
		stop := context.AfterFunc(ctx, func() { w.stop(ByContext) })
		stops = append(stops, func() { stop() })
	}
	if watchFd >= 0 {
		done := make(chan struct{})
		go watch(watchFd, func() { w.stop(ByWatch) }, done)
		stops = append(stops, func() { close(done) })
	}
	return w, func() {
		for _, f := range stops {
			f()
		}
	}
}

// reason says why a wait in the kernel may end: Close, the cancel word's
// reason, or Woken.
func (s *Set) reason(w *waiter) uint32 {
	if atomic.LoadUint32(&s.closed) != 0 {
		return ByClose
	}
	if w != nil {
		return atomic.LoadUint32(&w.cancel)
	}
	return Woken
}

// waitKernel sleeps in futex_waitv on the goroutine's thread on three
// words (the shared word, the set's closed word, and the cancel word), for
// a slice (see ending). It reports over when the slice ended first.
func (s *Set) waitKernel(ctx context.Context, addr *uint32, val uint32, watchFd int, end time.Time) (reason uint32, over bool) {
	w, release := cancelWord(ctx, watchFd)
	defer release()
	ending.add(w)
	defer ending.remove(w)
	ws := [3]posix.FutexWaiter{{Addr: addr, Val: val, Shared: true}, {Addr: &s.closed}, {Addr: &w.cancel}}
	for {
		if r := s.reason(w); r == bySlice {
			return Woken, true
		} else if r != Woken {
			return r, false
		}
		var left time.Duration // none: ending ends the slice
		if !end.IsZero() {
			if left = time.Until(end); left <= 0 {
				return ByTimeout, false
			}
		}
		_, err := posix.FutexWaitv(ws[:], left)
		switch err {
		case syscall.EINTR, syscall.ETIMEDOUT:
			continue // the timeout and the slice's end are seen at the top
		case syscall.ENOSYS:
			noWaitv.Store(true)
			return Woken, true
		}
		// Woken, or a value had changed (EAGAIN): either way, report.
		if r := s.reason(w); r != bySlice {
			return r, false
		}
		return Woken, true
	}
}

// bySlice is the cancel word's reason when a wait's slice in the kernel is
// over.
const bySlice = 5

// ending ends the slices of the waits in the kernel: a goroutine of its
// own ticks every Slice while some wait, and stops each wait that has
// seen two ticks (so a slice lasts one to two Slices). One timer for all,
// rather than a timeout per wait: a timeout costs each wait the
// programming of the timer hardware, which a virtual machine traps (a
// semaphore ping-pong took 16% longer).
var ending slicer

type slicer struct {
	mu      sync.Mutex
	waits   map[*waiter]uint64 // the tick each began in
	tick    uint64
	ticking bool
}

func (sl *slicer) add(w *waiter) {
	sl.mu.Lock()
	defer sl.mu.Unlock()
	if sl.waits == nil {
		sl.waits = map[*waiter]uint64{}
	}
	sl.waits[w] = sl.tick
	if !sl.ticking {
		sl.ticking = true
		go sl.run()
	}
}

func (sl *slicer) remove(w *waiter) {
	sl.mu.Lock()
	delete(sl.waits, w)
	sl.mu.Unlock()
}

// run ticks while waits are in the kernel.
func (sl *slicer) run() {
	t := time.NewTicker(Slice)
	defer t.Stop()
	for range t.C {
		sl.mu.Lock()
		sl.tick++
		for w, began := range sl.waits {
			if sl.tick-began >= 2 {
				w.stop(bySlice)
			}
		}
		if len(sl.waits) == 0 {
			sl.ticking = false
			sl.mu.Unlock()
			return
		}
		sl.mu.Unlock()
	}
}

// waitParked parks the goroutine on the shared waiter, without a thread
// of its own (unless it leads a slot of the shared waiter).
func (s *Set) waitParked(ctx context.Context, addr *uint32, val uint32, watchFd int, end time.Time) uint32 {
	e := &waitEnds{ctx: ctx, closed: s.doneChan(), end: end}
	if isClosed(e.closed) {
		return ByClose
	}
	if ctx.Err() != nil {
		return ByContext
	}
	policy := s.policy
	if policy.Wakes == nil {
		policy = WakeEvery
	}
	p := park(addr, val, policy, s)
	if p == nil {
		return Woken // the word changed meanwhile
	}
	if watchFd >= 0 {
		watched := make(chan struct{})
		e.watched = watched
		stop := make(chan struct{})
		defer close(stop)
		go watch(watchFd, func() { close(watched); p.poke() }, stop)
	}
	return p.wait(e)
}

// waitSliced is Wait on a kernel without futex_waitv: FUTEX_WAIT on the
// shared word in slices of waitSlice, looking at the other reasons
// between them, on the goroutine's own thread throughout.
func (s *Set) waitSliced(ctx context.Context, addr *uint32, val uint32, watchFd int, end time.Time) uint32 {
	w, release := cancelWord(ctx, watchFd)
	defer release()
	for {
		if r := s.reason(w); r != Woken {
			return r
		}
		slice := waitSlice
		if !end.IsZero() {
			left := time.Until(end)
			if left <= 0 {
				return ByTimeout
			}
			slice = min(slice, left)
		}
		err := posix.FutexWait(addr, val, true, slice)
		if err == syscall.ETIMEDOUT || err == syscall.EINTR {
			continue
		}
		return s.reason(w)
	}
}

// watch calls ready when fd becomes readable, unless done closes first.
func watch(fd int, ready func(), done <-chan struct{}) {
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
		ready()
	}
}
