package ring

import (
	"context"
	"errors"
	"io"
	"math"
	"sync/atomic"

	"github.com/ipcchan/ipcchan/internal/futex"
	"github.com/ipcchan/ipcchan/internal/objfmt"
	"github.com/ipcchan/ipcchan/internal/posix"
)

// Errors of a topic's operations, besides the ring's.
var (
	ErrNoEntry  = errors.New("every subscription entry is taken")
	ErrReleased = errors.New("the subscription's entry was taken back") // its process looked dead
)

// A Topic is one process's view of a mapped topic: slots that every
// subscriber reads, each at its own cursor (see objfmt.Topic for the
// layout and the protocol). Its methods are safe for concurrent use.
type Topic struct {
	slotTable
	w          objfmt.TopicWords
	dropOldest bool
	pooled     bool // made with a pool: a slot may hold a reference, which its subscriptions must not read ahead
	history    uint64
	subsMax    int
	waiting
	room atomic.Pointer[roomCache] // what this handle last knew of the room
}

// roomCache is the room a publisher found: positions below limit may be
// claimed while the subscription table's generation is gen.
type roomCache struct{ gen, limit uint64 }

// NewTopic returns the view of the topic whose payload (checked) starts
// payload, for the process pid, whose waits are waiters'.
func NewTopic(payload []byte, pid uint32, waiters *futex.Set) *Topic {
	g := objfmt.ReadTopicGeometry(payload)
	t := &Topic{w: objfmt.TopicWordsOf(payload),
		slotTable:  newSlotTable(payload, uint64(g.Capacity), g.SlotsOff(), int(g.Stride), int(g.MaxLen), g.Flags&objfmt.TopicFixed != 0),
		dropOldest: g.Flags&objfmt.TopicDropOldest != 0, pooled: g.Flags&objfmt.TopicPooled != 0, history: uint64(g.History), subsMax: int(g.SubsMax)}
	t.waiting.init(pid, waiters)
	return t
}

// Capacity is the number of slots.
func (t *Topic) Capacity() int { return int(t.cap) }

// MaxLen is the largest message the slots hold.
func (t *Topic) MaxLen() int { return t.maxLen }

// DropOldest reports the topic's policy: DropOldest, or else Block.
func (t *Topic) DropOldest() bool { return t.dropOldest }

// History is how many messages before the tail a subscription starts at.
func (t *Topic) History() int { return int(t.history) }

// Subscribers is the size of the subscription table.
func (t *Topic) Subscribers() int { return t.subsMax }

// Published is the number of positions published, about (tail is a hint).
func (t *Topic) Published() uint64 { return atomic.LoadUint64(t.w.Tail) }

// Recovered is how many slots and subscriptions were taken back from dead
// processes.
func (t *Topic) Recovered() uint64 { return atomic.LoadUint64(t.w.Recovered) }

// Ended reports whether End was called, by any process.
func (t *Topic) Ended() bool { return atomic.LoadUint32(t.w.Ended) != 0 }

// ClaimPublish claims the slot of the next position for a message. With
// Block it waits, while a live subscription has not read the message the
// slot holds, if block (else ErrFull), until ctx ends or Close; with
// DropOldest it never waits for subscribers, only (rarely) for the
// publisher of the slot's previous lap, a whole Capacity behind, to finish
// writing it (if block; else ErrFull). It fails with ErrEnded once End was called.
func (t *Topic) ClaimPublish(ctx context.Context, block bool) (Claim, error) {
	spins, stale, looked := 0, 0, false
	for {
		if t.Ended() {
			return Claim{}, ErrEnded
		}
		pos := atomic.LoadUint64(t.w.Tail)
		sw := t.state(t.offset(pos))
		w := atomic.LoadUint64(sw)
		p, st, pid := objfmt.ParseSlotWord(w)
		prev := objfmt.SlotPos(pos - t.cap)
		switch {
		case p == objfmt.SlotPos(pos) && st == objfmt.SlotFree, p == prev && (st == objfmt.SlotFull || st == objfmt.SlotSkipped):
			if !t.dropOldest {
				ok, blocker := t.hasRoom(pos)
				if !ok && !looked && blocker != 0 && blocker != t.pid {
					// Held up by another process: if it is dead, its
					// subscriptions count no more, now (a wait would find
					// it dead within an OwnerCheck; a TrySend never).
					looked = true
					if !posix.Alive(int(blocker)) {
						t.releaseDead(pos)
						continue
					}
				}
				if !ok {
					if !block {
						return Claim{}, ErrFull
					}
					still := func() bool {
						limit, _ := t.scan(pos)
						return pos >= limit && !t.Ended() && atomic.LoadUint64(t.w.Tail) == pos
					}
					if err := t.wait(ctx, t.w.RoomWord, still, &spins, blocker, false); err != nil {
						if err == errOwnerCheck {
							t.releaseDead(pos)
							continue
						}
						return Claim{}, err
					}
					continue
				}
			}
			if atomic.CompareAndSwapUint64(sw, w, objfmt.SlotWord(pos, objfmt.SlotWriting, t.pid)) {
				atomic.CompareAndSwapUint64(t.w.Tail, pos, pos+1)
				if AfterClaim != nil {
					AfterClaim(true)
				}
				return Claim{t.offset(pos), pos, 1}, nil
			}
		case p == objfmt.SlotPos(pos):
			// Another publisher claimed pos: help it move tail on.
			atomic.CompareAndSwapUint64(t.w.Tail, pos, pos+1)
		case p == prev && st == objfmt.SlotWriting:
			// The publisher of the previous lap is still writing the slot.
			if !block {
				return Claim{}, ErrFull
			}
			still := func() bool { return atomic.LoadUint64(sw) == w && !t.Ended() }
			if err := t.wait(ctx, t.w.DataWord, still, &spins, pid, false); err != nil {
				if err == errOwnerCheck {
					t.takeBack(sw, w)
					continue
				}
				return Claim{}, err
			}
		default:
			if stale++; stale > staleMax {
				return Claim{}, ErrCorrupt
			}
			continue
		}
		stale = 0
	}
}

// Publish makes the message of n bytes in c's slot visible to subscribers.
func (t *Topic) Publish(c Claim, n int) {
	if !t.fixed {
		atomic.StoreUint32(t.length(c.off), uint32(n))
	}
	atomic.StoreUint64(t.state(c.off), objfmt.SlotWord(c.pos, objfmt.SlotFull, 0))
	wake(t.w.DataWord)
}

// hasRoom reports whether every active subscription has read the message
// the slot of pos holds (the position a capacity before), from what this
// handle knows while no subscription joined since, or else from a look at
// the table. When there is no room, blocker is the pid of a subscription
// that holds it up (one of another process, if any).
func (t *Topic) hasRoom(pos uint64) (ok bool, blocker uint32) {
	gen := atomic.LoadUint64(t.w.SubsGen)
	if c := t.room.Load(); c != nil && c.gen == gen && pos < c.limit {
		return true, 0
	}
	limit, blocker := t.scan(pos)
	t.room.Store(&roomCache{gen: gen, limit: limit})
	return pos < limit, blocker
}

// scan returns the least active cursor plus the capacity (the first
// position a publisher may not claim), and a subscription that holds pos
// up.
func (t *Topic) scan(pos uint64) (limit uint64, blocker uint32) {
	limit = math.MaxUint64
	high := min(int(atomic.LoadUint32(t.w.SubsHigh)), t.subsMax)
	for i := range high {
		e := objfmt.TopicEntry(t.payload, i)
		pid, active, _ := objfmt.ParseEntryWord(atomic.LoadUint64(e.Word))
		if pid == 0 || !active {
			continue
		}
		end := atomic.LoadUint64(e.Cursor) + t.cap
		limit = min(limit, end)
		if end <= pos && (blocker == 0 || blocker == t.pid) {
			blocker = pid
		}
	}
	return limit, blocker
}

// releaseDead frees the entries of dead processes that hold pos up.
func (t *Topic) releaseDead(pos uint64) {
	t.releaseEntries(func(cursor uint64) bool { return cursor+t.cap <= pos })
}

// releaseEntries frees the entries, of processes other than this one that
// are dead, whose cursor which says: every one, for a nil which.
func (t *Topic) releaseEntries(which func(cursor uint64) bool) {
	high := min(int(atomic.LoadUint32(t.w.SubsHigh)), t.subsMax)
	for i := range high {
		e := objfmt.TopicEntry(t.payload, i)
		w := atomic.LoadUint64(e.Word)
		pid, _, gen := objfmt.ParseEntryWord(w)
		if pid == 0 || pid == t.pid || (which != nil && !which(atomic.LoadUint64(e.Cursor))) || posix.Alive(int(pid)) {
			continue
		}
		if atomic.CompareAndSwapUint64(e.Word, w, objfmt.EntryWord(0, false, gen)) {
			atomic.AddUint64(t.w.Recovered, 1)
			wake(t.w.RoomWord)
		}
	}
}

// takeBack makes the slot, found as w being written by a dead process,
// Skipped: subscribers pass over it, publishers claim it again a lap on.
func (t *Topic) takeBack(sw *uint64, w uint64) {
	p, st, _ := objfmt.ParseSlotWord(w)
	if st != objfmt.SlotWriting {
		return
	}
	if atomic.CompareAndSwapUint64(sw, w, objfmt.SlotWord(p, objfmt.SlotSkipped, 0)) {
		atomic.AddUint64(t.w.Recovered, 1)
		wake(t.w.DataWord)
		wake(t.w.RoomWord)
	}
}

// End ends the stream: subscribers get what was published, then io.EOF;
// publishers ErrEnded. It wakes the sleepers of both sides.
func (t *Topic) End() {
	atomic.StoreUint32(t.w.Ended, 1)
	wake(t.w.DataWord)
	wake(t.w.RoomWord)
}

// A Sub is one subscription: an entry of the table, read from at its
// cursor. Its methods are safe for concurrent use; each message goes to
// one of the goroutines that receive on it.
type Sub struct {
	t         *Topic
	entry     int
	e         objfmt.EntryWords
	word      uint64 // the entry's word while it is this subscription's
	start     uint64 // the position it began at
	countFrom uint64 // positions lost from here on count as missed
	missed    atomic.Uint64
	ahead     readAhead
	waiting
}

// Subscribe takes an entry of the table and starts it at the tail, less
// the topic's history; the subscription's waits are waiters'. When every
// entry is taken by a live process it fails with ErrNoEntry.
func (t *Topic) Subscribe(waiters *futex.Set) (*Sub, error) {
	for attempt := range 2 {
		for i := range t.subsMax {
			e := objfmt.TopicEntry(t.payload, i)
			w := atomic.LoadUint64(e.Word)
			pid, _, gen := objfmt.ParseEntryWord(w)
			if pid != 0 || !atomic.CompareAndSwapUint64(e.Word, w, objfmt.EntryWord(t.pid, false, gen+1)) {
				continue
			}
			for {
				h := atomic.LoadUint32(t.w.SubsHigh)
				if int(h) > i || atomic.CompareAndSwapUint32(t.w.SubsHigh, h, uint32(i+1)) {
					break
				}
			}
			tail := atomic.LoadUint64(t.w.Tail)
			start := tail - min(t.history, tail)
			atomic.StoreUint64(e.Cursor, start)
			atomic.StoreUint64(e.Missed, 0)
			word := objfmt.EntryWord(t.pid, true, gen+1)
			atomic.StoreUint64(e.Word, word)
			atomic.AddUint64(t.w.SubsGen, 1)
			s := &Sub{t: t, entry: i, e: e, word: word, start: start, countFrom: start}
			if !t.dropOldest {
				// Under Block a message at or after the tail now is never
				// overwritten while the subscription lives; one before it
				// (history) may have been, by a publisher that claimed its
				// slot before it saw this entry: it was gone before the
				// subscription began, and is not counted.
				s.countFrom = atomic.LoadUint64(t.w.Tail)
			}
			s.waiting.init(t.pid, waiters)
			if !t.pooled { // a run of the pool lives as long as its slot: a read-ahead of its reference would outlive it
				s.ahead.init(t.maxLen, t.cap)
			}
			return s, nil
		}
		if attempt == 0 {
			t.releaseEntries(nil) // entries of dead processes
		}
	}
	return nil, ErrNoEntry
}

// Entry is the subscription's index in the table.
func (s *Sub) Entry() int { return s.entry }

// Start is the position the subscription began at: the first message it
// may read.
func (s *Sub) Start() uint64 { return s.start }

// Missed is how many messages the subscription lost: overwritten before
// it read them (DropOldest).
func (s *Sub) Missed() uint64 { return s.missed.Load() }

// Close frees the subscription's entry: publishers stop waiting for it.
func (s *Sub) Close() {
	s.ahead.drop()
	_, _, gen := objfmt.ParseEntryWord(s.word)
	if atomic.CompareAndSwapUint64(s.e.Word, s.word, objfmt.EntryWord(0, false, gen)) {
		wake(s.t.w.RoomWord)
	}
}

// lose moves the cursor from c to next, over positions overwritten before
// they were read, and counts them.
func (s *Sub) lose(c, next uint64) {
	if !atomic.CompareAndSwapUint64(s.e.Cursor, c, next) {
		return
	}
	if next > s.countFrom {
		if n := next - max(c, s.countFrom); n > 0 {
			s.count(n)
		}
	}
	if !s.t.dropOldest {
		wake(s.t.w.RoomWord)
	}
}

// count counts n messages lost.
func (s *Sub) count(n uint64) {
	s.missed.Add(n)
	atomic.AddUint64(s.e.Missed, n)
}

// relation tells where position p (as a slot word holds it) is from the
// cursor c: 0 at it, 1 after it (c was overwritten), -1 before it (a
// previous lap: nothing at c yet).
func relation(p, c uint64) int {
	d := objfmt.SlotPos(p - c)
	switch {
	case d == 0:
		return 0
	case d < 1<<(objfmt.SlotPosBits-1):
		return 1
	}
	return -1
}

// Take waits for the subscription's next message, if block (else ErrEmpty
// at once), until ctx ends or Close, and calls use with its bytes, which
// are the slot's and valid only during the call: use copies them out, or
// decodes them into a value of its own. Take may call use more than once
// (when the message turns out torn, or another goroutine took it first);
// the last call's is the message Take returns nil for. At the end of the
// stream it returns io.EOF.
func (s *Sub) Take(ctx context.Context, block bool, use func(data []byte)) error {
	_, err := s.take(ctx, block, func(_ uint64, data []byte) { use(data) }, false)
	return err
}

// TakeAt is Take, telling use the message's position too.
func (s *Sub) TakeAt(ctx context.Context, block bool, use func(pos uint64, data []byte)) error {
	_, err := s.take(ctx, block, use, false)
	return err
}

// Peek is TakeAt without moving the cursor past the message: the caller
// holds it, at the position Peek returns, until it calls Advance with that
// position. Under Block the slot is not overwritten meanwhile (the
// subscription has not read it); other takes of the subscription must wait
// for Advance. A subscription without read-ahead (a topic with a pool)
// only.
func (s *Sub) Peek(ctx context.Context, block bool, use func(pos uint64, data []byte)) (uint64, error) {
	return s.take(ctx, block, use, true)
}

// Advance moves the cursor past the message at c, which Peek held, if
// the subscription still holds its entry.
func (s *Sub) Advance(c uint64) {
	if atomic.LoadUint64(s.e.Word) == s.word && atomic.CompareAndSwapUint64(s.e.Cursor, c, c+1) && !s.t.dropOldest {
		wake(s.t.w.RoomWord)
	}
}

func (s *Sub) take(ctx context.Context, block bool, use func(pos uint64, data []byte), hold bool) (uint64, error) {
	t := s.t
	spins, stale := 0, 0
	for {
		if !hold && s.takeAhead(func(data []byte) { use(0, data) }) {
			return 0, nil
		}
		c := atomic.LoadUint64(s.e.Cursor)
		off := t.offset(c)
		sw := t.state(off)
		w := atomic.LoadUint64(sw)
		p, st, pid := objfmt.ParseSlotWord(w)
		rel := relation(p, objfmt.SlotPos(c))
		switch {
		case rel == 0 && st == objfmt.SlotFull:
			n := t.maxLen
			if !t.fixed {
				n = min(int(atomic.LoadUint32(t.length(off))), t.maxLen)
			}
			use(c, t.data(off)[:n])
			if atomic.LoadUint64(sw) != w { // a publisher a lap on overwrote it meanwhile
				if t.dropOldest {
					s.lose(c, c+1)
				}
				continue // under Block: another goroutine took it, and the slot moved on
			}
			if hold {
				return c, nil
			}
			if atomic.CompareAndSwapUint64(s.e.Cursor, c, c+1) {
				if !t.dropOldest {
					wake(t.w.RoomWord)
				}
				return c, nil
			}
		case rel == 0 && st == objfmt.SlotSkipped:
			// Its publisher died writing it: no message was sent there.
			if atomic.CompareAndSwapUint64(s.e.Cursor, c, c+1) && !t.dropOldest {
				wake(t.w.RoomWord)
			}
		case rel == 0 && st == objfmt.SlotWriting, rel < 0 || (rel == 0 && st == objfmt.SlotFree):
			writing := rel == 0 && st == objfmt.SlotWriting
			if !writing && t.Ended() {
				return 0, io.EOF
			}
			if !block {
				return 0, ErrEmpty
			}
			if err := s.waitAt(ctx, c, sw, w, writing, pid, &spins, false); err != nil {
				return 0, err
			}
		case rel > 0:
			// Overwritten before it was read: every position a capacity
			// before the tail is gone too.
			next := c + 1
			if tail := atomic.LoadUint64(t.w.Tail); tail > t.cap {
				next = max(next, tail-t.cap)
			}
			s.lose(c, next)
		default:
			if stale++; stale > staleMax {
				return 0, ErrCorrupt
			}
			continue
		}
		stale = 0
	}
}

// Holds reports whether the slot of position pos still holds that
// position's message, or is being written by a live process: what a pool
// asks of a run Queued at pos. A slot written at pos by a dead process is
// taken back.
func (t *Topic) Holds(pos uint64) bool {
	sw := t.state(t.offset(pos))
	w := atomic.LoadUint64(sw)
	p, st, pid := objfmt.ParseSlotWord(w)
	if p != objfmt.SlotPos(pos) {
		return false
	}
	switch st {
	case objfmt.SlotFull:
		return true
	case objfmt.SlotWriting:
		if pid == t.pid || posix.Alive(int(pid)) {
			return true
		}
		t.takeBack(sw, w)
	}
	return false
}

// Unread reports whether a live subscription has yet to read the message
// at pos: its cursor is at or before it (a view holds its cursor there).
func (t *Topic) Unread(pos uint64) bool {
	high := min(int(atomic.LoadUint32(t.w.SubsHigh)), t.subsMax)
	for i := range high {
		e := objfmt.TopicEntry(t.payload, i)
		pid, _, _ := objfmt.ParseEntryWord(atomic.LoadUint64(e.Word))
		if pid != 0 && atomic.LoadUint64(e.Cursor) <= pos && (pid == t.pid || posix.Alive(int(pid))) {
			return true
		}
	}
	return false
}

// Previous is the message that the slot c claimed held, a Capacity
// before (nil if none): what a publisher with a pool gives back before it
// writes its own. It is valid until the slot is written.
func (t *Topic) Previous(c Claim) []byte {
	if c.pos < t.cap || t.fixed {
		return nil
	}
	return t.data(c.off)[:min(int(atomic.LoadUint32(t.length(c.off))), t.maxLen)]
}

// waitAt waits while the slot of cursor c holds w: nothing yet, or a
// message that pid is writing (then the wait looks at pid every
// OwnerCheck, and takes the slot back if pid died: waitAt returns nil, to
// look again). It parks at once if park. It fails with ErrReleased if the
// subscription's entry was taken back.
func (s *Sub) waitAt(ctx context.Context, c uint64, sw *uint64, w uint64, writing bool, pid uint32, spins *int, park bool) error {
	t := s.t
	if atomic.LoadUint64(s.e.Word) != s.word {
		return ErrReleased
	}
	still := func() bool {
		return atomic.LoadUint64(sw) == w && atomic.LoadUint64(s.e.Cursor) == c && (writing || !t.Ended())
	}
	var holder uint32
	if writing {
		holder = pid
	}
	err := s.wait(ctx, t.w.DataWord, still, spins, holder, park)
	if err == errOwnerCheck {
		t.takeBack(sw, w)
		return nil
	}
	return err
}

// WaitReady waits until a Take would not wait, without taking anything:
// until ctx ends or Close. It parks at once (for a watch, see
// Ring.WaitReady), and takes back the slot of a dead publisher it waits on.
func (s *Sub) WaitReady(ctx context.Context) error {
	t := s.t
	spins := 1 // no spin
	for {
		if s.ahead.held() > 0 {
			return nil
		}
		c := atomic.LoadUint64(s.e.Cursor)
		sw := t.state(t.offset(c))
		w := atomic.LoadUint64(sw)
		p, st, pid := objfmt.ParseSlotWord(w)
		rel := relation(p, objfmt.SlotPos(c))
		writing := rel == 0 && st == objfmt.SlotWriting
		empty := rel < 0 || (rel == 0 && st == objfmt.SlotFree)
		if !(writing || empty) || (empty && t.Ended()) {
			return nil
		}
		if err := s.waitAt(ctx, c, sw, w, writing, pid, &spins, true); err != nil {
			return err
		}
	}
}

// Lag is how many positions the subscription has yet to read, about.
func (s *Sub) Lag() uint64 {
	tail, c := atomic.LoadUint64(s.t.w.Tail), atomic.LoadUint64(s.e.Cursor)
	held := uint64(s.ahead.held())
	if tail <= c {
		return held
	}
	return min(tail-c, s.t.cap) + held
}

// Live is how many subscriptions are active, in processes that are alive.
func (t *Topic) Live() int {
	n := 0
	high := min(int(atomic.LoadUint32(t.w.SubsHigh)), t.subsMax)
	for i := range high {
		pid, active, _ := objfmt.ParseEntryWord(atomic.LoadUint64(objfmt.TopicEntry(t.payload, i).Word))
		if pid != 0 && active && (pid == t.pid || posix.Alive(int(pid))) {
			n++
		}
	}
	return n
}
