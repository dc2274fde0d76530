package ring

import (
	"sync/atomic"
	"time"

	"github.com/ipcchan/ipcchan/internal/objfmt"
)

// How a sender keeps off the lines a receiver is using, and brings in
// those it is about to use. Both measured with single messages of 64 bytes
// between two processes on two cores, interleaved with the code before.
//
// A sender prefetches, for writing, the lines of the slot a few positions
// past the one it claimed: by the time it gets there they are its own.
// Without it its claim waits for the slot's line to come from the core of
// the receiver that freed it a lap before, and its publication waits for
// it again (the receiver looked at it meanwhile), where an SPSC ring's
// sender waits once a message. It prefetches only a slot whose previous
// message receivers took prefetchMargin positions before: a prefetch of
// one still to be read would take its lines from under the receiver. It
// knows head as it last read it (Ring.seenHead), and reads it again at
// most once every seenEvery positions, as head's line is the receivers',
// written by every claim. (A receiver that prefetched the slots ahead of
// it gained nothing measurable, and was left out.)
const (
	prefetchAhead  = 3  // positions past a sender's claim
	prefetchMargin = 4  // positions past the slot receivers are to be
	prefetchLines  = 4  // of a slot, at most
	seenEvery      = 16 // a power of two
)

// prefetchWrite prefetches, for a sender whose claim ends before end, the
// slot prefetchAhead past it, if receivers took its last message
// prefetchMargin positions before.
func (r *Ring) prefetchWrite(end uint64) {
	q := end + prefetchAhead
	if q+prefetchMargin >= r.seenHead.Load()+r.cap {
		if q%seenEvery != 0 {
			return
		}
		head := atomic.LoadUint64(r.w.Head)
		r.seenHead.Store(head)
		if q+prefetchMargin >= head+r.cap {
			return
		}
	}
	r.prefetchSlot(q)
}

// roomAhead is how many slots a sender that finds the ring full lets the
// receivers free before it goes on, for as long as its handle spins now
// (and at most an eighth of the ring): rather than take each slot the
// moment a receiver frees it, the two sides then work slots apart, each on
// lines the other is not using. Taking slot after slot as it is freed, the
// waiting sender looks again and again at the very slot a receiver is
// reading, and each look costs the receiver a trip of the line: on a full
// ring a message took 1.5 to 2 times as long. Past the spin the sender
// waits for the first slot, as before: a Send waits at most a spin longer
// than the room it needs takes to come, and a handle whose waits miss
// their spins (the other side is slow) spins little here too.
const roomAhead = 256

// awaitRoom spins, for a sender that finds the ring full at pos, until the
// slot roomAhead past it is freed, if it holds a message nobody reads yet
// (so that all before it are taken), and reports whether that came. It is
// the claim's spin (spins counts it): the waits after it sleep at once.
func (r *Ring) awaitRoom(pos uint64, spins *int) bool {
	k, limit := min(roomAhead, r.cap/8), r.spin.Load()
	if k < 2 || limit <= 0 {
		return false
	}
	sw := r.word(pos + k)
	w := atomic.LoadUint64(sw)
	if p, st, _, _ := objfmt.ParseRingWord(w); p != objfmt.RingPos(pos+k-r.cap) || st != objfmt.SlotFull {
		return false
	}
	*spins = 1
	return spin(func() bool { return atomic.LoadUint64(sw) == w && !r.Ended() }, time.Now(), time.Duration(limit))
}
