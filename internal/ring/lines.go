package ring

import "sync/atomic"

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
