package futex

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/ipcchan/ipcchan/internal/posix"
)

// The shared waiter: goroutines that wait longer than their slice in the
// kernel (or find the slices taken) park on it, without a thread each. Its
// words are grouped in slots of up to wordsPerSlot words (futex_waitv's
// limit, less a control word of the slot's own). In each slot one parked
// goroutine, the leader, sleeps in futex_waitv on all of them, on its own
// thread, and wakes the goroutines parked on a word when the word is woken
// or no longer holds the value it held; the others, followers, wait
// without a thread, as goroutines blocked on a channel do. When the
// leader's own wait ends, it hands the lead to a follower of its slot, if
// there is one. So N parked goroutines on W words hold ceil(W/127)
// threads, whatever N, and a goroutine that waits alone on its slot (a
// ping-pong) is woken by the kernel itself, as in the kernel's slice,
// without a hop through another goroutine (the reactor's leader/follower
// scheme, package loop, does the same for descriptors):
//
//	goroutine: announce itself (the object's protocol: a sleepers bit, a
//	           waiter count), look at the word, then park(word, val):
//	           parked only if the word still holds val, else it looks again
//	leader:    sleep on every word w of the slot with the value it last saw
//	           of w, then, for each word woken or changed, wake as many of
//	           its parked goroutines as its Policy says, and sleep again,
//	           until its own wait ends
//
// A change of a word that a parked goroutine waits for comes with a
// FUTEX_WAKE (the protocols of the objects say so: a goroutine announced
// itself before it looked), which wakes the leader if it sleeps on the
// word; a change while it is awake, or between two leaders, is seen when
// one next sleeps, since the kernel compares the value it passes.

// wordsPerSlot is how many words one slot of the shared waiter sleeps on:
// futex_waitv's limit, less the slot's control word.
const wordsPerSlot = posix.FutexWaitvMax - 1

// A Policy says how many of the goroutines parked on a word to wake, given
// the word's value now, how many are parked, and whether the word changed
// (or was woken) since its slot last looked; the others stay parked.
// An edge policy wakes on changes only. A level policy may also wake on a
// value that holds still (tokens left on a semaphore, a free mutex): its
// words are looked at every levelCheck too, so that a FUTEX_WAKE that came
// without a change while no leader slept (a waiter of another process
// passing on a wake-up it gave up) delays a wake-up, and never loses it.
type Policy struct {
	Wakes func(val uint32, parked int, changed bool) int
	Level bool
}

// levelCheck is how often a slot's leader looks at words of a level
// policy that hold still.
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

// wordLinger is how long a word whose last goroutine was woken stays in
// its slot: the next wait on it, often a moment later, finds it there and
// needs no new sleep of the leader to add it.
const wordLinger = time.Second

// shared is the process's shared waiter.
var shared struct {
	mu    sync.Mutex
	words map[*uint32]*word
	slots []*slot
}

// A word is a futex word that goroutines are parked on.
type word struct {
	addr       *uint32
	seen       uint32 // the value its slot's leader sleeps on
	passed     bool   // a wake-up was passed on to it in this process (Pass)
	policy     Policy
	head, tail *parker // the parked goroutines, oldest first
	parked     int
	idle       time.Time // since when none is parked; zero while some are
	owner      any       // keeps the memory of addr mapped while goroutines wait
	slot       *slot
}

// A slot is up to wordsPerSlot words, and the goroutine that sleeps on
// them.
type slot struct {
	ctl    uint32 // the control word: changed and woken when the leader must look again
	words  []*word
	leader *parker
}

// What a parked goroutine is told.
const (
	sigWoken = iota + 1 // its word was woken: look again
	sigLead             // lead the slot
)

// A parker is one parked goroutine.
type parker struct {
	signal     chan uint8 // sigWoken or sigLead; a woken parker gets nothing else
	w          *word      // nil once woken or gone (under shared.mu)
	slot       *slot      // its word's, which it may lead
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
	w.idle = time.Time{}
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
	if w.parked--; w.parked == 0 {
		w.idle = time.Now()
	}
}

// park parks the calling goroutine's wait on addr while it holds val, or
// returns nil if it does not hold val any more. owner must keep the word's
// memory mapped for as long as goroutines park on it. The caller then
// waits with wait.
func park(addr *uint32, val uint32, policy Policy, owner any) *parker {
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if atomic.LoadUint32(addr) != val {
		return nil
	}
	w := shared.words[addr]
	if w == nil {
		w = &word{addr: addr, policy: policy, owner: owner}
		if shared.words == nil {
			shared.words = map[*uint32]*word{}
		}
		shared.words[addr] = w
		addWord(w)
	}
	if w.parked > 0 && w.seen != val {
		// The word changed since the goroutines parked on it looked, and
		// the leader has not seen it (it would have woken them): the
		// change came while it was awake, and its FUTEX_WAKE found nobody
		// asleep. Wake them as the leader would, before the leader sleeps
		// on the new value and would miss it.
		leading := w.slot.leader != nil && w.slot.leader.w == w
		w.wake(w.policy.Wakes(val, w.parked, true))
		if leading && w.slot.leader.w == nil { // woken: it learns when it looks
			w.slot.nudge()
		}
	}
	// The leader sleeps on what the word holds now: a change from it
	// wakes the leader (the caller announced itself), or, while it is
	// awake, fails its next sleep at once.
	w.seen = val
	p := &parker{signal: make(chan uint8, 1), slot: w.slot}
	w.push(p)
	if w.slot.leader == nil {
		w.slot.leader = p
		p.signal <- sigLead
	}
	return p
}

// addWord gives w to a slot with room, or to a new one, and makes that
// slot's leader look at its words again. The caller holds shared.mu.
func addWord(w *word) {
	var s *slot
	for _, c := range shared.slots {
		if len(c.words) < wordsPerSlot {
			s = c
			break
		}
	}
	if s == nil {
		s = &slot{}
		shared.slots = append(shared.slots, s)
	}
	w.slot = s
	s.words = append(s.words, w)
	if s.leader != nil {
		s.nudge()
	}
}

// dropWord forgets w, which no goroutine waits on any more. The caller
// holds shared.mu.
func dropWord(w *word) {
	if shared.words[w.addr] == w {
		delete(shared.words, w.addr)
	}
	s := w.slot
	if i := slices.Index(s.words, w); i >= 0 {
		s.words[i] = s.words[len(s.words)-1]
		s.words = s.words[:len(s.words)-1]
	}
}

// nudge makes the slot's leader look at its words, and its own wait,
// again.
func (s *slot) nudge() {
	atomic.AddUint32(&s.ctl, 1)
	posix.FutexWake(&s.ctl, 1, false)
}

// nudgeAll makes every leader look again (a Set was closed).
func nudgeAll() {
	shared.mu.Lock()
	defer shared.mu.Unlock()
	for _, s := range shared.slots {
		s.nudge()
	}
}

// Pass passes a wake-up on to the goroutines waiting on the word at addr,
// in shared memory: FUTEX_WAKE 1 for those asleep in the kernel (in any
// process), and, for those of this process parked on it, a look by its
// slot's leader, which a wake that comes while the leader is awake would
// miss (the word holds its value: nothing else tells). A waiter that gives
// up after a wake-up meant for it (Mutex, Semaphore) calls it.
func Pass(addr *uint32) {
	Wake(addr, 1)
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if w := shared.words[addr]; w != nil {
		w.passed = true
		w.slot.nudge()
	}
}

// The reasons a parked goroutine's wait may end, other than its word.
type waitEnds struct {
	ctx     context.Context
	closed  <-chan struct{}
	end     time.Time // zero: none
	watched <-chan struct{}
}

// reason returns why e says the wait ends now, or Woken if it does not.
func (e *waitEnds) reason(p *parker) uint32 {
	switch {
	case e.ctx.Err() != nil:
		return ByContext
	case isClosed(e.closed):
		return ByClose
	case !e.end.IsZero() && !time.Now().Before(e.end):
		return ByTimeout
	case isClosed(e.watched):
		return ByWatch
	}
	return Woken
}

func isClosed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// wait waits until p is woken (Woken) or e ends the wait (its reason), as
// a follower on p's channel, or as its slot's leader.
func (p *parker) wait(e *waitEnds) uint32 {
	var timeout <-chan time.Time
	if !e.end.IsZero() {
		t := time.NewTimer(time.Until(e.end))
		defer t.Stop()
		timeout = t.C
	}
	for {
		select {
		case sig := <-p.signal:
			if sig == sigWoken {
				return Woken
			}
			return p.lead(e)
		case <-e.ctx.Done():
			return p.leave(ByContext)
		case <-e.closed:
			return p.leave(ByClose)
		case <-timeout:
			return p.leave(ByTimeout)
		case <-e.watched:
			return p.leave(ByWatch)
		}
	}
}

// leave takes p off its word, as its wait ends for reason; it hands the
// lead on if it had just been given it. It returns reason, or Woken if p
// was woken first (the caller looks at its word, which may let it on).
func (p *parker) leave(reason uint32) uint32 {
	shared.mu.Lock()
	defer shared.mu.Unlock()
	w := p.w
	if w == nil {
		return Woken
	}
	s := w.slot
	w.remove(p)
	if s.leader == p {
		s.handOn()
	}
	return reason
}

// lead sleeps in the kernel on the words of p's slot, waking the goroutines
// parked on them, until p's own wait ends: it returns Woken or e's reason.
func (p *parker) lead(e *waitEnds) uint32 {
	// Whatever ends p's wait while it sleeps nudges the slot, so that it
	// looks; the slot is p's for as long as it leads.
	s := p.slot // p.w may be nil already: woken before it began to lead
	stop := context.AfterFunc(e.ctx, s.nudge)
	defer stop()
	var v posix.Waitv
	var asleep []*word // the words of the last sleep, and their owners kept alive through it
	for {
		shared.mu.Lock()
		if p.w == nil { // woken by its own look
			s.handOn()
			shared.mu.Unlock()
			return Woken
		}
		if r := e.reason(p); r != Woken {
			p.w.remove(p)
			s.handOn()
			shared.mu.Unlock()
			return r
		}
		now := time.Now()
		var timeout time.Duration // none
		if !e.end.IsZero() {
			timeout = sooner(timeout, e.end.Sub(now))
		}
		v.Reset()
		asleep = asleep[:0]
		for _, w := range slices.Clone(s.words) {
			switch {
			case w.parked == 0 && now.Sub(w.idle) >= wordLinger:
				dropWord(w)
				continue
			case w.parked == 0:
				timeout = sooner(timeout, wordLinger)
			case w.policy.Level:
				timeout = sooner(timeout, levelCheck)
			}
			v.Add(w.addr, w.seen, true)
			asleep = append(asleep, w)
		}
		v.Add(&s.ctl, atomic.LoadUint32(&s.ctl), false)
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
			for _, w := range s.words {
				w.wake(w.parked)
			}
		}
		for _, w := range s.words {
			now := atomic.LoadUint32(w.addr)
			changed := now != w.seen || w == woken || w.passed
			if !changed && !w.policy.Level {
				continue
			}
			w.seen, w.passed = now, false
			w.wake(w.policy.Wakes(now, w.parked, changed))
		}
		shared.mu.Unlock()
	}
}

// sooner returns the shorter of the timeouts a and b, 0 being none.
func sooner(a, b time.Duration) time.Duration {
	b = max(b, time.Microsecond) // 0 would mean none
	if a == 0 {
		return b
	}
	return min(a, b)
}

// handOn gives the lead of s, which its leader leaves, to the oldest
// goroutine parked on one of its words; with none, it forgets the words,
// which nobody waits on, and the memory their owners keep. The caller
// holds shared.mu.
func (s *slot) handOn() {
	s.leader = nil
	for _, w := range s.words {
		if w.head != nil {
			s.leader = w.head
			w.head.signal <- sigLead
			return
		}
	}
	for _, w := range slices.Clone(s.words) {
		dropWord(w)
	}
}

// poke makes p look at its wait again if it leads its slot (its watched
// descriptor became readable).
func (p *parker) poke() {
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if p.w != nil && p.w.slot.leader == p {
		p.w.slot.nudge()
	}
}

// wakes counts the parked goroutines woken, for Wakes.
var wakes atomic.Int64

// Wakes returns how many parked goroutines the shared waiter has woken in
// this process: for tests and benchmarks, to tell a wake-up per token from
// a thundering herd.
func Wakes() int64 { return wakes.Load() }

// wake wakes the n oldest goroutines parked on w. A goroutine woken while
// it leads its slot learns it when it looks (its w is nil); the others get
// sigWoken. The caller, w's slot's leader, holds shared.mu.
func (w *word) wake(n int) {
	for ; n > 0 && w.head != nil; n-- {
		p := w.head
		w.remove(p)
		if w.slot.leader != p {
			p.signal <- sigWoken
		}
		wakes.Add(1)
	}
}
