package ring

import (
	"sync/atomic"

	"github.com/ipcchan/ipcchan/internal/objfmt"
)

// How a handle claims single messages ahead of head or tail. Each move of
// a counter is a compare-and-swap, a locked instruction, which on this
// kind of machine costs some 20 ns even on a line the process holds: a
// single message paid three of them a side (the claim, the counter, the
// publication or the freeing), where an SPSC ring pays one store. So a
// handle that has just claimed position p-1 for a single message claims p
// next, with no look at the counter's slot, and leaves the counter behind,
// moving it once every lead messages (objfmt.RingLead, at most 16): the
// counters are hints (see FORMATS), and whoever finds one behind helps it
// on as it does for a claimer that has not moved it yet. Every position before the handle's
// cursor is claimed (it claimed the one before, which the counter had
// reached or its cursor had), so when a claim at the cursor fails (the
// slot is another's, or empty, or full) the handle moves the counter up
// to its cursor with one compare-and-swap and looks at the counter as
// before: a handle that waits leaves the counter where the next message
// is.

// A cursor is the position after a handle's last single claim, on a line
// of its own: the sending and the receiving goroutines of a process write
// theirs at every message.
type cursor struct {
	next uint64      // loaded atomically, stored by storeCursor
	runs atomic.Bool // the last receive found a run of several: claim at head
	_    [64 - 9]byte
}

// claimOne claims, for one message, the slot of the position after the
// handle's last such claim, if counter is behind it, else the slot of
// counter's position: for a sender (!read) from Free to
// Writing, for a receiver from a message published alone to Reading. It
// returns the position and whether it won the slot; when it did not, it
// has moved the counter up to that position, unless another moved it
// meanwhile.
func (r *Ring) claimOne(counter *uint64, cur *cursor, read bool) (uint64, bool) {
	c := atomic.LoadUint64(counter)
	pos := c
	if v := atomic.LoadUint64(&cur.next); v > c { // and less than lead past it: the claims below move it so
		pos = v
	}
	from, to := objfmt.RingFree(pos), objfmt.RingWord(pos, objfmt.SlotWriting, 1, r.pid)
	if read {
		from, to = objfmt.RingWord(pos, objfmt.SlotFull, 1, 0), objfmt.RingWord(pos, objfmt.SlotReading, 1, r.pid)
	}
	if !atomic.CompareAndSwapUint64(r.word(pos), from, to) {
		if pos != c {
			atomic.CompareAndSwapUint64(counter, c, pos) // every position before pos is claimed
		}
		return pos, false
	}
	if AfterClaim != nil {
		AfterClaim(!read)
	}
	if pos+1-c >= r.lead {
		atomic.CompareAndSwapUint64(counter, c, pos+1) // or another process helped already
	}
	storeCursor(&cur.next, pos+1)
	return pos, true
}

// claimWriteOne claims the slot for a message of its own after the
// handle's last such claim (or at tail), if it is free now, and reports
// whether it did.
func (r *Ring) claimWriteOne() (Claim, bool) {
	pos, ok := r.claimOne(r.w.Tail, &r.sendAt, false)
	if !ok {
		return Claim{}, false
	}
	r.prefetchWrite(pos + 1)
	return Claim{r.offset(pos), pos, 1}, true
}

// claimReadOne claims the next message, if it was published alone and is
// in the slot after the handle's last such claim (or at head), and
// reports whether it did. After a receive that found a run of several, it
// claims nothing: the receiver takes them from head.
func (r *Ring) claimReadOne() (Claim, bool) {
	if r.readAt.runs.Load() {
		return Claim{}, false
	}
	pos, ok := r.claimOne(r.w.Head, &r.readAt, true)
	if !ok {
		return Claim{}, false
	}
	return Claim{r.offset(pos), pos, 1}, true
}
