package futex

import (
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/ipcchan/ipcchan/internal/posix"
)

// The shared waiter: goroutines that wait longer than their slice in the
// kernel (or find the slices taken) park on it, without a thread of their
// own. Its threads sleep in futex_waitv, each on up to wordsPerThread
// words plus a control word of its own, and wake the goroutines parked on
// a word when the word is woken or no longer holds the value it held:
//
//	goroutine: announce itself (the object's protocol: a sleepers bit, a
//	           waiter count), look at the word, then park(word, val):
//	           parked only if the word still holds val, else it looks again
//	thread:    sleep on every word w with the value it last saw of w, then,
//	           for each word woken or changed, wake as many of its parked
//	           goroutines as its Policy says, and look again
//
// A change of a word that a parked goroutine waits for comes with a
// FUTEX_WAKE (the protocols of the objects say so: a goroutine announced
// itself before it looked), which wakes the thread if it sleeps on the
// word; a change while the thread is awake is seen when it next sleeps,
// since the kernel compares the value it passes. So no wake-up is lost,
// and N parked goroutines on W words cost ceil(W/wordsPerThread) threads.

// wordsPerThread is how many words one thread of the shared waiter sleeps
// on: futex_waitv's limit, less the thread's control word.
const wordsPerThread = posix.FutexWaitvMax - 1

// A Policy says how many of the goroutines parked on a word to wake, given
// the word's value now, how many are parked, and whether the word changed
// (or was woken) since its thread last looked; the others stay parked.
// An edge policy wakes on changes only. A level policy may also wake on a
// value that holds still (tokens left on a semaphore, a free mutex): its
// words are looked at every levelCheck too, so that a FUTEX_WAKE that came
// without a change while the thread was awake (a waiter of another
// process passing on a wake-up it gave up) delays a wake-up, and never
// loses it.
type Policy struct {
	Wakes func(val uint32, parked int, changed bool) int
	Level bool
}

// levelCheck is how often the threads of the shared waiter look at words
// of a level policy that hold still.
const levelCheck = 50 * time.Millisecond

// WakeEvery wakes every goroutine parked on the word when it changes: for
// words whose change may let all of them on (a ring's, a wait group's).
var WakeEvery = Policy{Wakes: func(_ uint32, parked int, changed bool) int {
	if changed {
		return parked
	}
	return 0
}}

// WakeCount wakes as many goroutines as the word's value counts (a
// semaphore's tokens): no more than can be satisfied, and whenever there
// are some.
var WakeCount = Policy{Level: true, Wakes: func(val uint32, parked int, _ bool) int { return min(int(val), parked) }}

// shared is the process's shared waiter.
var shared struct {
	mu      sync.Mutex
	words   map[*uint32]*word
	threads []*thread
}

// A word is a futex word that goroutines are parked on.
type word struct {
	addr       *uint32
	seen       uint32 // the value its thread sleeps on
	passed     bool   // a wake-up was passed on to it in this process (Pass)
	policy     Policy
	head, tail *parker // the parked goroutines, oldest first
	parked     int
	owner      any // keeps the memory of addr mapped while goroutines wait
	thread     *thread
}

// A parker is one parked goroutine.
type parker struct {
	woken      chan struct{} // gets a value when the goroutine is woken
	w          *word         // nil once woken or gone (under shared.mu)
	prev, next *parker
}

// push appends p to w's parked goroutines.
func (w *word) push(p *parker) {
	p.w, p.prev = w, w.tail
	if w.tail != nil {
		w.tail.next = p
	} else {
		w.head = p
	}
	w.tail = p
	w.parked++
}

// remove takes p off w's parked goroutines.
func (w *word) remove(p *parker) {
	if p.prev != nil {
		p.prev.next = p.next
	} else {
		w.head = p.next
	}
	if p.next != nil {
		p.next.prev = p.prev
	} else {
		w.tail = p.prev
	}
	p.w, p.prev, p.next = nil, nil, nil
	w.parked--
}

// A thread is one thread of the shared waiter.
type thread struct {
	ctl   uint32 // the control word: changed and woken when its words change
	words []*word
}

// park parks the calling goroutine's wait on addr while it holds val, or
// returns nil if it does not hold val any more. owner must keep the word's
// memory mapped for as long as goroutines park on it. The caller waits on
// the parker's woken channel, and calls leave if it stops waiting first.
func park(addr *uint32, val uint32, policy Policy, owner any) *parker {
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if atomic.LoadUint32(addr) != val {
		return nil
	}
	w := shared.words[addr]
	if w == nil {
		w = &word{addr: addr, seen: val, policy: policy, owner: owner}
		if shared.words == nil {
			shared.words = map[*uint32]*word{}
		}
		shared.words[addr] = w
		addWord(w)
	}
	p := &parker{woken: make(chan struct{}, 1)}
	w.push(p)
	return p
}

// leave takes p off its word. It reports false when p was woken first.
func (p *parker) leave() bool {
	shared.mu.Lock()
	defer shared.mu.Unlock()
	w := p.w
	if w == nil {
		return false
	}
	w.remove(p)
	if w.parked == 0 {
		dropWord(w)
		w.thread.nudge() // to let go of the word's memory (run keeps it while it sleeps on it)
	}
	return true
}

// addWord gives w to a thread with room, or to a new one, and makes that
// thread look at its words again. The caller holds shared.mu.
func addWord(w *word) {
	var t *thread
	for _, c := range shared.threads {
		if len(c.words) < wordsPerThread {
			t = c
			break
		}
	}
	if t == nil {
		t = &thread{}
		shared.threads = append(shared.threads, t)
		go t.run()
	}
	w.thread = t
	t.words = append(t.words, w)
	t.nudge()
}

// dropWord forgets w, which no goroutine waits on any more; its thread
// keeps w (and so its owner and its memory) until it next wakes. The
// caller holds shared.mu.
func dropWord(w *word) {
	delete(shared.words, w.addr)
	t := w.thread
	for i, c := range t.words {
		if c == w {
			t.words[i] = t.words[len(t.words)-1]
			t.words = t.words[:len(t.words)-1]
			break
		}
	}
}

// Pass passes a wake-up on to the goroutines waiting on the word at addr,
// in shared memory: FUTEX_WAKE 1 for those asleep in the kernel (in any
// process), and, for those of this process parked on it, a look by its
// thread, which a wake that comes while the thread is awake would miss (the
// word holds its value: nothing else tells). A waiter that gives up after
// a wake-up meant for it (Mutex, Semaphore) calls it.
func Pass(addr *uint32) {
	Wake(addr, 1)
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if w := shared.words[addr]; w != nil {
		w.passed = true
		w.thread.nudge()
	}
}

// nudge makes the thread look at its list of words again.
func (t *thread) nudge() {
	atomic.AddUint32(&t.ctl, 1)
	posix.FutexWake(&t.ctl, 1, false)
}

// run is a thread of the shared waiter: it sleeps on its words until it
// has none.
func (t *thread) run() {
	runtime.LockOSThread() // a thread of its own, asleep in the kernel; never unlocked: it exits with the goroutine
	var v posix.Waitv
	var asleep []*word // the words of the last sleep, and their owners kept alive through it
	for {
		shared.mu.Lock()
		if len(t.words) == 0 {
			for i, c := range shared.threads {
				if c == t {
					shared.threads = append(shared.threads[:i], shared.threads[i+1:]...)
					break
				}
			}
			shared.mu.Unlock()
			return
		}
		v.Reset()
		asleep = append(asleep[:0], t.words...)
		for _, w := range asleep {
			v.Add(w.addr, w.seen, true)
		}
		v.Add(&t.ctl, atomic.LoadUint32(&t.ctl), false)
		var timeout time.Duration
		for _, w := range asleep {
			if w.policy.Level {
				timeout = levelCheck
			}
		}
		shared.mu.Unlock()

		i, err := v.Wait(timeout)

		shared.mu.Lock()
		var woken *word
		if err == nil && i < len(asleep) {
			woken = asleep[i]
		}
		if err != nil && err != syscall.EAGAIN && err != syscall.EINTR && err != syscall.ETIMEDOUT {
			// Not expected (EFAULT, ENOMEM): wake everyone to look for
			// themselves rather than sleep on words that cannot be watched.
			for _, w := range slices.Clone(t.words) {
				w.wake(w.parked)
			}
		}
		for _, w := range slices.Clone(t.words) {
			now := atomic.LoadUint32(w.addr)
			changed := now != w.seen || w == woken || w.passed
			if !changed && !w.policy.Level {
				continue
			}
			w.seen, w.passed = now, false
			w.wake(w.policy.Wakes(now, w.parked, changed))
		}
		shared.mu.Unlock()
		runtime.KeepAlive(asleep)
	}
}

// wakes counts the parked goroutines woken, for Wakes.
var wakes atomic.Int64

// Wakes returns how many parked goroutines the shared waiter has woken in
// this process: for tests and benchmarks, to tell a wake-up per token from
// a thundering herd.
func Wakes() int64 { return wakes.Load() }

// wake wakes the n oldest goroutines parked on w, and forgets w if none is
// left. The caller, w's thread, holds shared.mu.
func (w *word) wake(n int) {
	for ; n > 0 && w.head != nil; n-- {
		p := w.head
		w.remove(p)
		p.woken <- struct{}{}
		wakes.Add(1)
	}
	if w.parked == 0 {
		dropWord(w)
	}
}
