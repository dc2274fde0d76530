// Package ring is the algorithm of ipcchan's shared-memory ring: a
// bounded multi-producer, multi-consumer queue of byte messages in a
// mapping that several processes share, which a process killed at any
// instant never wedges. Package objfmt has its layout and the protocol in
// words; this package runs it. It knows nothing of Go types: ipcchan.Ring
// copies values in and out of the slots it claims here.
package ring

import (
	"context"
	"errors"
	"io"
	"sync/atomic"
	"time"

	"github.com/ipcchan/ipcchan/internal/futex"
	"github.com/ipcchan/ipcchan/internal/objfmt"
	"github.com/ipcchan/ipcchan/internal/posix"
)

// Errors of the ring's operations; ipcchan turns them into its own. A wait
// that ctx ended returns ctx's cause.
var (
	ErrFull    = errors.New("ring full")
	ErrEmpty   = errors.New("ring empty")
	ErrEnded   = errors.New("the stream has ended") // a send after End
	ErrClosed  = errors.New("closed")               // Close ended the wait
	ErrCorrupt = errors.New("the ring's slots are inconsistent")
)

// MaxSpin bounds how long a waiter looks at the ring again and again
// before it goes to sleep on a futex. A sleep and its wake-up cost two
// system calls and two context switches (5 µs one-way here, as a C futex
// ping-pong), while the other side, when it runs on another core, usually
// acts within a few microseconds: a waiter that catches it that way costs
// the other side no system call either. Each ring handle adapts how long
// it spins, between MinSpin and MaxSpin: it doubles after a spin that
// caught the change, and halves after one that did not, so that a
// receiver whose messages come seldom soon spins next to nothing.
var MaxSpin = 20 * time.Microsecond

// MinSpin is the least a waiter spins (it may be set to 0, as may MaxSpin,
// to sleep at once).
var MinSpin = 500 * time.Nanosecond

// OwnerCheck is how long a waiter sleeps on a slot that another process
// holds before it checks that the process is alive (and takes the slot
// back if it is not): half the 10 ms within which a dead process's slot
// or subscription is released, so that waking up, checking and going on
// fit in it. A wait on a live holder costs a wake-up per OwnerCheck (200
// a second, a few microseconds each).
const OwnerCheck = 5 * time.Millisecond

// AfterClaim, when set (by tests only), runs after a ring's slot (or run)
// is claimed, before head or tail moves past it and its messages are
// copied: the instant at which a process killed leaves a claim half-done,
// which the others must help past.
var AfterClaim func(write bool)

// A Ring is one process's view of a mapped ring. Its methods are safe for
// concurrent use.
type Ring struct {
	slotTable
	w objfmt.RingWords
	waiting
	seenHead       atomic.Uint64 // head, as a sender last read it (prefetchWrite)
	lead           uint64        // how far single claims run ahead of a counter (objfmt.RingLead)
	sendAt, readAt cursor
}

// A Claim is a run of slots that a sender or receiver holds: one or more
// messages at consecutive positions, which it must Publish or Release.
type Claim struct {
	off int    // of its first slot
	pos uint64 // of its first slot
	n   int    // its slots
}

// New returns the view of the ring whose payload (control block and
// slots, already checked) starts payload, for the process pid, whose waits
// are waiters' (the handle's: its Close ends them).
func New(payload []byte, pid uint32, waiters *futex.Set) *Ring {
	g := objfmt.ReadRingGeometry(payload)
	r := &Ring{w: objfmt.RingWordsOf(payload),
		slotTable: newSlotTable(payload, uint64(g.Capacity), objfmt.RingCtlSize, int(g.Stride), int(g.MaxLen), g.Flags&objfmt.RingFixed != 0)}
	r.waiting.init(pid, waiters)
	r.lead = objfmt.RingLead(r.cap)
	return r
}

// Capacity is the number of slots; MaxLen the largest message.
func (r *Ring) Capacity() int { return int(r.cap) }

// MaxLen is the largest message the slots hold.
func (r *Ring) MaxLen() int { return r.maxLen }

// Len is about how many messages the ring holds.
func (r *Ring) Len() int {
	word := func(q uint64) uint64 { return atomic.LoadUint64(r.word(q)) }
	return objfmt.RingLen(atomic.LoadUint64(r.w.Head), atomic.LoadUint64(r.w.Tail), r.cap, word)
}

// Recovered is how many slots were taken back from dead processes.
func (r *Ring) Recovered() uint64 { return atomic.LoadUint64(r.w.Recovered) }

// Ended reports whether End was called, by any process.
func (r *Ring) Ended() bool { return atomic.LoadUint32(r.w.Ended) != 0 }

// look reads the position counter (head or tail) points to, and the state
// word of its slot: its address, its value, and the value's parts.
func (r *Ring) look(counter *uint64) (pos uint64, sw *uint64, w, p, st uint64, n int, pid uint32) {
	pos = atomic.LoadUint64(counter)
	sw = r.word(pos)
	w = atomic.LoadUint64(sw)
	p, st, n, pid = objfmt.ParseRingWord(w)
	return pos, sw, w, p, st, n, pid
}

// word is the state word of the slot of position pos.
func (r *Ring) word(pos uint64) *uint64 { return r.state(r.offset(pos)) }

// claim moves the slot of pos, found as w, to nw (a run of n slots, being
// written or read by this process), and counter past the run; it reports
// whether this call won the slot.
func (r *Ring) claim(counter *uint64, pos uint64, sw *uint64, w, nw uint64, n int) bool {
	if !atomic.CompareAndSwapUint64(sw, w, nw) {
		return false
	}
	if AfterClaim != nil {
		AfterClaim(counter == r.w.Tail)
	}
	atomic.CompareAndSwapUint64(counter, pos, pos+uint64(n)) // or another process helped already
	return true
}

// ClaimWrite claims the slot of the next position for a message, waiting
// while the ring is full if block (until ctx ends or Close). It fails with
// ErrEnded once End was called.
func (r *Ring) ClaimWrite(ctx context.Context, block bool) (Claim, error) {
	return r.ClaimWriteRun(ctx, block, 1)
}

// Send sends msg, of at most MaxLen bytes, as a message of its own, as
// ClaimWrite, a copy and Publish do: the common case, a claim ahead that
// wins, in fewer calls.
func (r *Ring) Send(ctx context.Context, block bool, msg []byte) error {
	c, ok := Claim{}, false
	if !r.Ended() {
		c, ok = r.claimWriteOne()
	}
	if !ok {
		var err error
		if c, err = r.claimWriteRun(ctx, block, 1, true); err != nil {
			return err
		}
	}
	copy(r.Buf(c), msg)
	r.Publish(c, len(msg))
	return nil
}

// ClaimWriteRun claims a run of slots for up to want messages, with one
// compare-and-swap: as many as are free from the next position on, at
// least one (waiting for it while the ring is full if block), at most
// want, objfmt.RingRunMax and the capacity. It fails with ErrEnded once
// End was called.
func (r *Ring) ClaimWriteRun(ctx context.Context, block bool, want int) (Claim, error) {
	return r.claimWriteRun(ctx, block, want, false)
}

// claimWriteRun is ClaimWriteRun, whose caller, if tried, has just tried
// the claim ahead (claimWriteOne): its first look is at tail.
func (r *Ring) claimWriteRun(ctx context.Context, block bool, want int, tried bool) (Claim, error) {
	want = max(1, min(want, objfmt.RingRunMax, int(r.cap)))
	spins, stale := 0, 0
	for {
		if r.Ended() {
			return Claim{}, ErrEnded
		}
		// A message's slot is free, most often: claim it with no load first
		// (a load, then the compare-and-swap, costs the line two trips from
		// the receiver that freed it; the swap alone, one).
		if want == 1 && !tried {
			if c, ok := r.claimWriteOne(); ok {
				return c, nil
			}
		}
		tried = false
		pos := atomic.LoadUint64(r.w.Tail)
		sw := r.word(pos)
		w := atomic.LoadUint64(sw)
		p, st, n, pid := objfmt.ParseRingWord(w)
		switch {
		case p == objfmt.RingPos(pos) && st == objfmt.SlotFree:
			k := r.freeRun(pos, want)
			if r.claim(r.w.Tail, pos, sw, w, objfmt.RingWord(pos, objfmt.SlotWriting, k, r.pid), k) {
				r.prefetchWrite(pos + uint64(k))
				return Claim{r.offset(pos), pos, k}, nil
			}
		case p == objfmt.RingPos(pos):
			// Another sender claimed pos (or a receiver took its run, or a
			// part of it: then the rest is marked): help it move tail on.
			atomic.CompareAndSwapUint64(r.w.Tail, pos, pos+uint64(n))
		case p == objfmt.RingPos(pos-r.cap):
			// The slot still holds the previous lap: the ring is full.
			if !block {
				return Claim{}, ErrFull
			}
			if spins == 0 && r.awaitRoom(pos, &spins) {
				continue
			}
			still := func() bool { return atomic.LoadUint64(sw) == w && !r.Ended() }
			if err := r.wait(ctx, r.w.RoomWord, still, &spins, holder(st, pid), false); err != nil {
				if err == errOwnerCheck {
					r.takeBack(pos, sw, w)
					continue
				}
				return Claim{}, err
			}
		case p == objfmt.RingPos(pos+r.cap):
			// The slot was read out and freed before tail moved past it (its
			// sender died between its claim and moving tail, and nobody
			// helped): move tail on.
			atomic.CompareAndSwapUint64(r.w.Tail, pos, pos+1)
		default:
			if stale++; stale > staleMax {
				return Claim{}, ErrCorrupt
			}
			continue
		}
		stale = 0
	}
}

// freeRun is how many slots from pos on, whose slot is free, are free at
// their positions: at least 1, at most want. None of them can be claimed
// but with pos's, which tail has not passed.
func (r *Ring) freeRun(pos uint64, want int) int {
	k := 1
	for k < want && atomic.LoadUint64(r.word(pos+uint64(k))) == objfmt.RingFree(pos+uint64(k)) {
		k++
	}
	return k
}

// staleMax bounds the times in a row a call finds a slot at a position it
// cannot be at: tail or head moved meanwhile, or, if it goes on, the ring
// was overwritten by something that does not follow the protocol.
const staleMax = 1 << 20

// Publish makes the message of n bytes in c's (first) slot visible to
// receivers.
func (r *Ring) Publish(c Claim, n int) {
	r.SetLen(c, 0, n)
	r.PublishRun(c)
}

// SetLen sets the length of c's i-th message to n bytes (of a FIXED ring,
// every message is MaxLen: it does nothing).
func (r *Ring) SetLen(c Claim, i int, n int) {
	if !r.fixed {
		*r.length(r.slotOf(c, i)) = uint32(n) // the store of the state word publishes it
	}
}

// slotOf is the offset of the claim c's i-th slot.
func (r *Ring) slotOf(c Claim, i int) int {
	if i == 0 {
		return c.off
	}
	return r.offset(c.pos + uint64(i))
}

// PublishRun makes every message of c visible to receivers, with one store.
func (r *Ring) PublishRun(c Claim) {
	atomic.StoreUint64(r.state(c.off), objfmt.RingWord(c.pos, objfmt.SlotFull, c.n, 0))
	wake(r.w.DataWord)
}

// ClaimRead claims the slot of the next message and returns its bytes,
// waiting while the ring is empty if block (until ctx ends or Close). At
// the end of the stream (End, and the ring empty) it returns io.EOF;
// without block, ErrEmpty at once. The bytes are the slot's, valid until
// Release.
func (r *Ring) ClaimRead(ctx context.Context, block bool) (Claim, []byte, error) {
	if c, ok := r.claimReadOne(); ok {
		return c, r.Msg(c, 0), nil
	}
	c, err := r.claimReadRun(ctx, block, 1, true)
	if err != nil {
		return Claim{}, nil, err
	}
	return c, r.Msg(c, 0), nil
}

// Msg is the i-th message of the claim c of a receiver: its bytes in the
// slot, valid until Release.
func (r *Ring) Msg(c Claim, i int) []byte {
	off := r.slotOf(c, i)
	n := r.maxLen
	if !r.fixed {
		n = min(int(*r.length(off)), r.maxLen)
	}
	return r.data(off)[:n]
}

// Slot is the data area of the claim c's i-th slot, MaxLen bytes: where a
// sender copies its i-th message.
func (r *Ring) Slot(c Claim, i int) []byte { return r.data(r.slotOf(c, i)) }

// ClaimReadRun claims a run of up to want messages, with one
// compare-and-swap: those of the run a sender published next, or its
// first want (the rest becomes a run of its own), waiting while the ring
// is empty if block (until ctx ends or Close). At the end of the stream
// (End, and the ring empty) it returns io.EOF; without block, ErrEmpty at
// once.
func (r *Ring) ClaimReadRun(ctx context.Context, block bool, want int) (Claim, error) {
	return r.claimReadRun(ctx, block, want, false)
}

// claimReadRun is ClaimReadRun, whose caller, if tried, has just tried the
// claim ahead (claimReadOne): its first look is at head.
func (r *Ring) claimReadRun(ctx context.Context, block bool, want int, tried bool) (Claim, error) {
	want = max(1, want)
	spins, stale := 0, 0
	for {
		// As a sender's: a message published alone, claimed with no load
		// first.
		if want == 1 && !tried {
			if c, ok := r.claimReadOne(); ok {
				return c, nil
			}
		}
		tried = false
		pos, sw, w, p, st, n, pid := r.look(r.w.Head)
		switch {
		case p == objfmt.RingPos(pos) && st == objfmt.SlotFull:
			k := min(want, n)
			if k < n && !r.mark(pos+uint64(k), n-k) {
				break // the run was read meanwhile: head has moved
			}
			if r.claim(r.w.Head, pos, sw, w, objfmt.RingWord(pos, objfmt.SlotReading, k, r.pid), k) {
				if want == 1 {
					r.readAt.runs.Store(n > 1)
				}
				return Claim{r.offset(pos), pos, k}, nil
			}
			continue
		case p == objfmt.RingPos(pos) && st == objfmt.SlotSkipped:
			// A sender died writing them: pass over, freeing them for the next lap.
			r.pass(pos, sw, w, n)
			continue
		case p == objfmt.RingPos(pos) && st == objfmt.SlotReading:
			// Another receiver has it: help move head on.
			atomic.CompareAndSwapUint64(r.w.Head, pos, pos+uint64(n))
			continue
		case p == objfmt.RingPos(pos+r.cap):
			// Read out and freed already: help move head on, a slot at a
			// time (a run's first slot is freed last).
			atomic.CompareAndSwapUint64(r.w.Head, pos, pos+1)
			continue
		case p == objfmt.RingPos(pos) && st == objfmt.SlotWriting, p == objfmt.RingPos(pos) && st == objfmt.SlotFree,
			p == objfmt.RingPos(pos-r.cap):
			// Nothing to read at pos yet: a sender writes it, none has
			// claimed it, or the slot's previous message is still being
			// read out.
			if st == objfmt.SlotFree && p == objfmt.RingPos(pos) && r.Ended() {
				return Claim{}, io.EOF
			}
			if !block {
				return Claim{}, ErrEmpty
			}
			// The end of the stream matters to a wait on an empty ring only:
			// a message being written before it is still to be read.
			empty := st == objfmt.SlotFree
			still := func() bool { return atomic.LoadUint64(sw) == w && !(empty && r.Ended()) }
			if err := r.wait(ctx, r.w.DataWord, still, &spins, holder(st, pid), false); err != nil {
				if err == errOwnerCheck {
					r.takeBack(pos, sw, w)
					continue
				}
				return Claim{}, err
			}
			stale = 0
			continue
		}
		if stale++; stale > staleMax {
			return Claim{}, ErrCorrupt
		}
	}
}

// mark makes the slots from pos on, the last n of a published run of which
// a receiver takes the first part, a run of their own: Full(pos, n), the
// same word whoever marks it. It reports false if the slot has moved on
// (the run was read meanwhile).
func (r *Ring) mark(pos uint64, n int) bool {
	sw := r.word(pos)
	want := objfmt.RingWord(pos, objfmt.SlotFull, n, 0)
	w := atomic.LoadUint64(sw)
	if w == want {
		return true
	}
	return w == objfmt.RingFree(pos) && (atomic.CompareAndSwapUint64(sw, w, want) || atomic.LoadUint64(sw) == want)
}

// pass frees the n slots of the Skipped run at pos (found as w), the first
// last, for the next lap, and moves head past them.
func (r *Ring) pass(pos uint64, sw *uint64, w uint64, n int) {
	for i := n - 1; i >= 1; i-- {
		q := pos + uint64(i)
		atomic.CompareAndSwapUint64(r.word(q), objfmt.RingFree(q), objfmt.RingFree(q+r.cap))
	}
	if atomic.CompareAndSwapUint64(sw, w, objfmt.RingFree(pos+r.cap)) {
		wake(r.w.RoomWord)
	}
	atomic.CompareAndSwapUint64(r.w.Head, pos, pos+uint64(n))
}

// WaitReady waits until a ClaimRead (or, with write, a ClaimWrite) would
// not wait, without claiming anything: until ctx ends or Close. It takes
// back the slots of dead processes it waits on, as the claims do. It is
// for a watch, which may wait long: it parks at once (futex.Set.Park),
// without spinning and without a slice in the kernel.
func (r *Ring) WaitReady(ctx context.Context, write bool) error {
	spins := 1 // no spin
	for {
		word, counter := r.w.DataWord, r.w.Head
		if write {
			word, counter = r.w.RoomWord, r.w.Tail
		}
		pos, sw, w, p, st, _, pid := r.look(counter)
		var ready bool
		switch {
		case r.Ended():
			ready = true // a receive returns the rest, or io.EOF; a send fails
		case write:
			ready = p != objfmt.RingPos(pos-r.cap) // room, or tail to move on
		default:
			ready = !(p == objfmt.RingPos(pos) && (st == objfmt.SlotFree || st == objfmt.SlotWriting)) && p != objfmt.RingPos(pos-r.cap)
		}
		if ready {
			return nil
		}
		still := func() bool { return atomic.LoadUint64(sw) == w && atomic.LoadUint64(counter) == pos && !r.Ended() }
		if err := r.wait(ctx, word, still, &spins, holder(st, pid), true); err != nil {
			if err != errOwnerCheck {
				return err
			}
			r.takeBack(pos, sw, w)
		}
	}
}

// Release gives c's slots back to senders, for the next lap: the first
// last, with the one store that frees the run for a sender.
func (r *Ring) Release(c Claim) {
	for i := c.n - 1; i >= 1; i-- {
		q := c.pos + uint64(i)
		storeBefore(r.word(q), objfmt.RingFree(q+r.cap))
	}
	atomic.StoreUint64(r.state(c.off), objfmt.RingFree(c.pos+r.cap))
	wake(r.w.RoomWord)
}

// End ends the stream: receivers get what the ring holds, then io.EOF, and
// senders ErrEnded. It wakes the sleepers of both sides.
func (r *Ring) End() {
	atomic.StoreUint32(r.w.Ended, 1)
	wake(r.w.DataWord)
	wake(r.w.RoomWord)
}

// takeBack takes back the run found as w in the slot of position at (the
// run's, or a lap later: a sender waits there) from the dead process that
// holds it: messages half-written are skipped, those being read out
// are gone with their reader; either way its slots count as recovered.
func (r *Ring) takeBack(at uint64, sw *uint64, w uint64) {
	p, st, n, _ := objfmt.ParseRingWord(w)
	pos := at - objfmt.RingPos(objfmt.RingPos(at)-p) // the run's own position: at, or a lap before (a sender's wait)
	var next uint64
	switch st {
	case objfmt.SlotWriting:
		next = objfmt.RingWord(pos, objfmt.SlotSkipped, n, 0)
	case objfmt.SlotReading:
		for i := n - 1; i >= 1; i-- { // the rest of its run first, as Release does
			q := pos + uint64(i)
			qw := r.word(q)
			if v := atomic.LoadUint64(qw); objfmt.RingPos(v) == objfmt.RingPos(q) { // Free, or marked
				atomic.CompareAndSwapUint64(qw, v, objfmt.RingFree(q+r.cap))
			}
		}
		atomic.CompareAndSwapUint64(r.w.Head, pos, pos+uint64(n))
		next = objfmt.RingFree(pos + r.cap)
	default:
		return
	}
	if atomic.CompareAndSwapUint64(sw, w, next) {
		atomic.AddUint64(r.w.Recovered, uint64(n))
		wake(r.w.DataWord)
		wake(r.w.RoomWord)
	}
}

// Pos is the position of the claimed slot.
func (c Claim) Pos() uint64 { return c.pos }

// Holds reports whether the slot of position pos still holds that
// position's message, or is being written or read by a live process: what
// a pool asks of a run Queued at pos (see objfmt's pool layout). A slot
// held at pos by a dead process is taken back.
func (r *Ring) Holds(pos uint64) bool {
	sw := r.state(r.offset(pos))
	w := atomic.LoadUint64(sw)
	p, st, _, pid := objfmt.ParseRingWord(w)
	if p != objfmt.RingPos(pos) {
		return false
	}
	switch st {
	case objfmt.SlotFull:
		return true
	case objfmt.SlotWriting, objfmt.SlotReading:
		if pid == r.pid || posix.Alive(int(pid)) {
			return true
		}
		r.takeBack(pos, sw, w)
	}
	return false
}

// Len is the number of slots (messages) of the claim.
func (c Claim) Len() int { return c.n }
