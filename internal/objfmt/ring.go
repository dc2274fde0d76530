package objfmt

import (
	"encoding/binary"
	"unsafe"
)

// A Ring's payload, after the object header, is a control block and its
// slots (offsets from the start of the payload, which is file offset 192;
// every word is in the machine's byte order, little endian here):
//
//	offset   0  layout     uint32, RingLayout
//	offset   4  capacity   uint32, slots
//	offset   8  stride     uint32, bytes from one slot to the next (a multiple of 64)
//	offset  12  maxLen     uint32, the largest message in bytes
//	offset  16  flags      uint32, RingFixed: every message is maxLen bytes (a Layout T); RingPooled: it has a pool (see PoolName)
//	offset  20  ended      uint32, 1 once a sender called CloseSend
//	offset  24  recovered  uint64, slots taken back from processes that died with them
//	offset  64  head       uint64, the next position to read (a hint: see below)
//	offset 128  tail       uint64, the next position to write (a hint)
//	offset 192  dataWord   uint32, futex: receivers sleep on it, RingSleepers set while one does
//	offset 256  roomWord   uint32, futex: senders sleep on it, the same
//	offset 320  slot 0, then slot i at 320 + i*stride
//
// A slot is
//
//	offset  0  state   uint64: position (bits 0-29), run - 1 (bits 30-38), state (bits 39-41), owner pid (bits 42-63)
//	offset  8  length  uint32, of the message (of a RingFixed ring: unused, every message is maxLen bytes)
//	offset 16  data    maxLen bytes
//
// Position p lives in slot p mod capacity. The state word of a slot says
// which position it is at and what of it, and for a run of slots (a batch:
// positions p to p+n-1, claimed and published at once) how many:
//
//	Free(p)            the sender of position p may claim it
//	Writing(p, n, pid) claimed by the sender pid, with the n-1 slots after it, which it is copying its messages into
//	Full(p, n)         holds the messages of positions p to p+n-1
//	Reading(p, k, pid) claimed by the receiver pid, with the k-1 after it, which it is copying out
//	Skipped(p, n)      a sender died writing p to p+n-1: receivers pass over them
//
// Only a run's first slot says so: the others keep Free(p+i) until the run
// is read out. A sender at position p (from tail) that finds n slots Free
// from p moves the first Free(p) -> Writing(p, n, me) with a
// compare-and-swap, advances tail to p+n (anyone may help), writes lengths
// and data, and stores Full(p, n); a receiver at p (from head) takes k of
// the run's n messages: when k < n it first marks the rest a run of its own
// (Free(p+k) -> Full(p+k, n-k), the same word whoever marks it), then moves
// Full(p, n) -> Reading(p, k, me), advances head to p+k, copies, and frees
// the slots, the first last (Free(p + capacity) each). A slot of the
// previous lap at a sender's position means the ring is full; Free(p) at a
// receiver's, that it is empty. A process that finds a run held by a dead
// pid takes it back: Writing -> Skipped, Reading -> Free(p + capacity) (and
// the rest of the run), and counts its slots in recovered. A sleeper sets
// RingSleepers in its word before it looks a last time and sleeps; whoever
// then frees a slot or fills one clears the bit, adds one to the word, and
// wakes every sleeper (FUTEX_WAKE). The state words are read and written
// with atomics of sequential consistency (C11's memory_order_seq_cst),
// but for the first slot's: those of the rest of a run, stored before it,
// may be release stores.
const (
	RingLayout   = 2 // 1 was the ring before runs (batches): its slot words had 39 bits of position
	RingFixed    = 1 // flags: messages are all maxLen bytes
	RingPooled   = 2 // flags: made with a pool of large messages, whose file names the ring's inode
	RingSleepers = 1 << 31

	RingCtlSize    = 320
	RingSlotHeader = 16
	RingSlotLenOff = 8  // of a slot's length, from the slot's start
	RingPosBits    = 30 // of a ring slot word's position
	RingRunMax     = 512
	RingCapMax     = 1<<(RingPosBits-1) - 1 // so that p, p-capacity and p+capacity differ modulo 2^RingPosBits
	SlotPosBits    = 39                     // of a topic slot word's position (SlotWord)

	offRingLayout    = 0
	offRingCapacity  = 4
	offRingStride    = 8
	offRingMaxLen    = 12
	offRingFlags     = 16
	offRingEnded     = 20
	offRingRecovered = 24
	offRingHead      = 64
	offRingTail      = 128
	offRingData      = 192
	offRingRoom      = 256
)

// The states of a ring slot.
const (
	SlotFree    = 0
	SlotWriting = 1
	SlotFull    = 2
	SlotReading = 3
	SlotSkipped = 4
)

const (
	slotPosMask  = 1<<SlotPosBits - 1
	ringPosMask  = 1<<RingPosBits - 1
	ringRunBit   = RingPosBits
	ringStateBit = 39
	ringPidBit   = 42
)

// SlotWord makes the state word of a topic's slot: the ring's word of
// layout 1, a position of SlotPosBits bits and no run.
func SlotWord(pos uint64, state uint64, pid uint32) uint64 {
	return pos&slotPosMask | state<<ringStateBit | uint64(pid)<<ringPidBit
}

// ParseSlotWord splits a topic slot's state word into the position (its
// low SlotPosBits bits), the state and the owner pid.
func ParseSlotWord(w uint64) (pos uint64, state uint64, pid uint32) {
	return w & slotPosMask, w >> ringStateBit & 7, uint32(w >> ringPidBit)
}

// SlotPos is a position as a topic's slot word holds it.
func SlotPos(pos uint64) uint64 { return pos & slotPosMask }

// RingWord makes the state word of a ring's slot: a run of n slots (1 to
// RingRunMax) from position pos, in state, held by pid.
func RingWord(pos uint64, state uint64, n int, pid uint32) uint64 {
	return pos&ringPosMask | uint64(n-1)<<ringRunBit | state<<ringStateBit | uint64(pid)<<ringPidBit
}

// ParseRingWord splits a ring slot's state word into the position (its low
// RingPosBits bits), the state, the run's slots and the owner pid.
func ParseRingWord(w uint64) (pos uint64, state uint64, n int, pid uint32) {
	return w & ringPosMask, w >> ringStateBit & 7, int(w>>ringRunBit&(RingRunMax-1)) + 1, uint32(w >> ringPidBit)
}

// RingPos is a position as a ring's slot word holds it.
func RingPos(pos uint64) uint64 { return pos & ringPosMask }

// RingFree is the word of a free ring slot at position pos.
func RingFree(pos uint64) uint64 { return pos & ringPosMask }

// RingStride is the stride of the slots of messages of at most maxLen
// bytes: a slot never shares a cache line with the next.
func RingStride(maxLen int) int { return (RingSlotHeader + maxLen + 63) &^ 63 }

// RingSize is the payload size of a ring of capacity slots of stride bytes.
func RingSize(capacity, stride int) int { return RingCtlSize + capacity*stride }

// RingInit fills the control block and the slots of a new ring.
func RingInit(payload []byte, capacity, stride, maxLen int, flags uint32) {
	le := binary.LittleEndian
	le.PutUint32(payload[offRingLayout:], RingLayout)
	le.PutUint32(payload[offRingCapacity:], uint32(capacity))
	le.PutUint32(payload[offRingStride:], uint32(stride))
	le.PutUint32(payload[offRingMaxLen:], uint32(maxLen))
	le.PutUint32(payload[offRingFlags:], flags)
	for i := range capacity {
		le.PutUint64(payload[RingCtlSize+i*stride:], RingFree(uint64(i)))
	}
}

// A RingGeometry is what a ring's control block says of its shape.
type RingGeometry struct {
	Layout, Capacity, Stride, MaxLen, Flags uint32
}

// ReadRingGeometry reads the shape of the ring whose payload starts
// payload.
func ReadRingGeometry(payload []byte) RingGeometry {
	le := binary.LittleEndian
	return RingGeometry{Layout: le.Uint32(payload[offRingLayout:]), Capacity: le.Uint32(payload[offRingCapacity:]),
		Stride: le.Uint32(payload[offRingStride:]), MaxLen: le.Uint32(payload[offRingMaxLen:]), Flags: le.Uint32(payload[offRingFlags:])}
}

// RingWords are the shared words of a mapped ring.
type RingWords struct {
	Head, Tail         *uint64
	Recovered          *uint64
	Ended              *uint32
	DataWord, RoomWord *uint32
}

// RingWordsOf returns the shared words of the ring whose payload starts
// payload.
func RingWordsOf(payload []byte) RingWords {
	return RingWords{
		Head:      (*uint64)(unsafe.Pointer(&payload[offRingHead])),
		Tail:      (*uint64)(unsafe.Pointer(&payload[offRingTail])),
		Recovered: (*uint64)(unsafe.Pointer(&payload[offRingRecovered])),
		Ended:     (*uint32)(unsafe.Pointer(&payload[offRingEnded])),
		DataWord:  (*uint32)(unsafe.Pointer(&payload[offRingData])),
		RoomWord:  (*uint32)(unsafe.Pointer(&payload[offRingRoom])),
	}
}

// RingLead is how far a process may claim single messages ahead of head
// or tail, leaving the counter behind (docs/FORMATS.md, "Claiming
// ahead"): less than this many positions.
func RingLead(capacity uint64) uint64 { return min(16, capacity/4) }

// RingReached is the counter at pos (head with read, else tail) moved past
// the slots claimed ahead of it: where it would be if every claimer moved
// it at once. word(q) is the state word of position q's slot.
func RingReached(pos uint64, read bool, capacity uint64, word func(q uint64) uint64) uint64 {
	for range RingLead(capacity) {
		p, st, n, _ := ParseRingWord(word(pos))
		switch {
		case p == RingPos(pos+capacity):
			pos++
		case p == RingPos(pos) && (st == SlotReading || !read && st != SlotFree):
			pos += uint64(n)
		default:
			return pos
		}
	}
	return pos
}

// RingLen is how many messages a ring of capacity holds whose counters
// are head and tail, each moved past the claims ahead of it (RingReached).
func RingLen(head, tail, capacity uint64, word func(q uint64) uint64) int {
	head, tail = RingReached(head, true, capacity, word), RingReached(tail, false, capacity, word)
	if tail <= head {
		return 0
	}
	return int(min(tail-head, capacity))
}

// RingStats are what a ring's words say of its use, for ipcchan ls.
type RingStats struct {
	Len       int // messages in it (head and tail are hints, moved past the claims ahead of them)
	Recovered uint64
	Ended     bool
}

// ReadRingStats reads a ring's counters from a copy of its control block;
// word(q) reads the state word of position q's slot (or returns 0).
func ReadRingStats(payload []byte, word func(q uint64) uint64) RingStats {
	le := binary.LittleEndian
	if len(payload) < RingCtlSize {
		return RingStats{}
	}
	head, tail := le.Uint64(payload[offRingHead:]), le.Uint64(payload[offRingTail:])
	n := RingLen(head, tail, uint64(le.Uint32(payload[offRingCapacity:])), word)
	return RingStats{Len: n, Recovered: le.Uint64(payload[offRingRecovered:]), Ended: le.Uint32(payload[offRingEnded:]) != 0}
}
