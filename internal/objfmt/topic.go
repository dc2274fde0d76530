package objfmt

import (
	"encoding/binary"
	"unsafe"
)

// Topic is the kind of a topic's file, /dev/shm/ipcchan.topic.NAME.
const Topic Kind = 6

// A Topic's payload, after the object header, is a control block, the
// table of its subscriptions, and its slots (offsets from the start of the
// payload, file offset 192; little endian):
//
//	offset   0  layout     uint32, TopicLayout
//	offset   4  capacity   uint32, slots
//	offset   8  stride     uint32, bytes from one slot to the next (a multiple of 64)
//	offset  12  maxLen     uint32, the largest message in bytes
//	offset  16  flags      uint32, TopicFixed: every message is maxLen bytes; TopicDropOldest: the policy; TopicPooled: it has a pool
//	offset  20  ended      uint32, 1 once a publisher called CloseSend
//	offset  24  recovered  uint64, slots and subscriptions taken back from dead processes
//	offset  32  history    uint32, messages a new subscription starts before the tail
//	offset  36  subsMax    uint32, entries of the subscription table
//	offset  40  subsGen    uint64, one more at every subscription (publishers cache what they know)
//	offset  48  subsHigh   uint32, entries at and above it have never been used
//	offset  64  tail       uint64, the next position to publish (a hint, as a ring's)
//	offset 128  dataWord   uint32, futex: subscribers (and lapped publishers) sleep on it, TopicSleepers set while one does
//	offset 192  roomWord   uint32, futex: publishers waiting for room sleep on it, the same
//	offset 256  the subscription table: subsMax entries of 64 bytes
//	then        the slots: slot i at 256 + subsMax*64 + i*stride
//
// A subscription entry is
//
//	offset  0  word    uint64: pid (bits 0-31), active (bit 32), generation (bits 33-63); pid 0: free
//	offset  8  cursor  uint64, the next position the subscription reads
//	offset 16  missed  uint64, positions it lost (overwritten before it read them)
//
// A slot is a ring's (RingSlotHeader): its state word (position, state,
// pid: SlotWord), the message's length (uint32 at 8), its data at 16.
// Position p lives in slot p mod capacity; a slot is Free(p) (never
// written: the first lap), Writing(p, pid), Full(p) or Skipped(p) (its
// publisher died writing it). Subscribers never change a slot's state (but
// to take back a dead publisher's): each reads at its own cursor, and every
// subscriber reads every slot.
//
// A publisher at position p (from tail) claims the slot when it is Free(p)
// or holds the previous lap (Full or Skipped at p - capacity), moving it to
// Writing(p, me) with a compare-and-swap; it advances tail to p+1 (anyone
// may help), writes length and data, stores Full(p), and wakes dataWord's
// sleepers. With Block (flags without TopicDropOldest) it claims p only
// when every active subscription's cursor is above p - capacity: it never
// overwrites what a live subscriber has not read. With DropOldest it
// claims p whatever the cursors. A slot still Writing(p - capacity) is
// waited for (on dataWord); one already at p (in any state but Free) is
// another publisher's, whom it helps advance tail.
//
// A subscriber at cursor c looks at the slot of c: Full(c) is its message,
// which it copies out; it then reads the state word again, and if it
// changed, the copy may be torn: under DropOldest the message is lost (the
// cursor moves past c and it counts as missed), under Block it looks
// again. Else it moves its cursor past c with a compare-and-swap of its
// entry's cursor, and under Block wakes roomWord's sleepers. Skipped(c) is
// passed over (the same compare-and-swap and wake); Writing(c) is waited
// for; Free(c) or an earlier lap means nothing is there yet; a later
// position means c was overwritten (DropOldest): the subscriber moves on,
// to tail - capacity at least, and counts the positions it jumps over as
// missed (those from the tail at the time it subscribed on, under Block).
//
// Subscribing takes a free entry (word pid 0) with a compare-and-swap to
// (pid, inactive, generation+1), raises subsHigh above the entry, stores
// its cursor (tail - min(history, tail)) and missed 0, stores the word
// active, and adds one to subsGen: in that order, so that a publisher that
// sees the new subsGen finds the entry below subsHigh, active. Publishers
// skip inactive entries; a publisher that cached the least cursor rescans
// when subsGen changed. Closing a subscription moves its word to free (pid
// 0, inactive, the same generation) with a compare-and-swap from its own,
// and wakes roomWord. A process that waits on a dead pid takes back what
// it holds and counts it in recovered: a slot Writing(p, pid) becomes
// Skipped(p) (and wakes both words); a publisher held up (Block) by a dead
// subscription frees the entries of dead pids that hold it up (and wakes
// roomWord); a subscriber that finds no free entry frees every entry of a
// dead pid. Every access to a shared word is a sequentially consistent
// atomic. docs/FORMATS.md ("Topic") gives every step.
const (
	TopicLayout     = 1
	TopicFixed      = 1 // flags: messages are all maxLen bytes
	TopicDropOldest = 2 // flags: the overflow policy is DropOldest
	TopicPooled     = 4 // flags: made with a pool of large messages (ipcchan.pool.topic.NAME)
	TopicSleepers   = RingSleepers

	TopicCtlSize   = 256
	TopicEntrySize = 64

	offTopicLayout    = 0
	offTopicCapacity  = 4
	offTopicStride    = 8
	offTopicMaxLen    = 12
	offTopicFlags     = 16
	offTopicEnded     = 20
	offTopicRecovered = 24
	offTopicHistory   = 32
	offTopicSubsMax   = 36
	offTopicSubsGen   = 40
	offTopicSubsHigh  = 48
	offTopicTail      = 64
	offTopicData      = 128
	offTopicRoom      = 192

	offEntryWord   = 0
	offEntryCursor = 8
	offEntryMissed = 16
)

// Entry words.
const (
	entryActive  = 1 << 32
	entryGenBit  = 33
	entryPidMask = 1<<32 - 1
)

// EntryWord makes a subscription entry's word.
func EntryWord(pid uint32, active bool, gen uint64) uint64 {
	w := uint64(pid) | gen<<entryGenBit
	if active {
		w |= entryActive
	}
	return w
}

// ParseEntryWord splits an entry's word: pid 0 is a free entry.
func ParseEntryWord(w uint64) (pid uint32, active bool, gen uint64) {
	return uint32(w & entryPidMask), w&entryActive != 0, w >> entryGenBit
}

// TopicSize is the payload size of a topic of capacity slots of stride
// bytes and subsMax subscription entries.
func TopicSize(capacity, stride, subsMax int) int {
	return TopicCtlSize + subsMax*TopicEntrySize + capacity*stride
}

// A TopicGeometry is what a topic's control block says of its shape.
type TopicGeometry struct {
	Layout, Capacity, Stride, MaxLen, Flags, History, SubsMax uint32
}

// SlotsOff is the offset of slot 0 in the payload.
func (g TopicGeometry) SlotsOff() int { return TopicCtlSize + int(g.SubsMax)*TopicEntrySize }

// TopicInit fills the control block and the slots of a new topic.
func TopicInit(payload []byte, g TopicGeometry) {
	le := binary.LittleEndian
	g.Layout = TopicLayout
	le.PutUint32(payload[offTopicLayout:], g.Layout)
	le.PutUint32(payload[offTopicCapacity:], g.Capacity)
	le.PutUint32(payload[offTopicStride:], g.Stride)
	le.PutUint32(payload[offTopicMaxLen:], g.MaxLen)
	le.PutUint32(payload[offTopicFlags:], g.Flags)
	le.PutUint32(payload[offTopicHistory:], g.History)
	le.PutUint32(payload[offTopicSubsMax:], g.SubsMax)
	slots := g.SlotsOff()
	for i := range int(g.Capacity) {
		le.PutUint64(payload[slots+i*int(g.Stride):], SlotWord(uint64(i), SlotFree, 0))
	}
}

// ReadTopicGeometry reads the shape of the topic whose payload starts
// payload (at least TopicCtlSize bytes).
func ReadTopicGeometry(payload []byte) TopicGeometry {
	le := binary.LittleEndian
	return TopicGeometry{Layout: le.Uint32(payload[offTopicLayout:]), Capacity: le.Uint32(payload[offTopicCapacity:]),
		Stride: le.Uint32(payload[offTopicStride:]), MaxLen: le.Uint32(payload[offTopicMaxLen:]), Flags: le.Uint32(payload[offTopicFlags:]),
		History: le.Uint32(payload[offTopicHistory:]), SubsMax: le.Uint32(payload[offTopicSubsMax:])}
}

// TopicWords are the shared words of a mapped topic.
type TopicWords struct {
	Tail, Recovered, SubsGen *uint64
	Ended, SubsHigh          *uint32
	DataWord, RoomWord       *uint32
}

// TopicWordsOf returns the shared words of the topic whose payload starts
// payload.
func TopicWordsOf(payload []byte) TopicWords {
	return TopicWords{
		Tail:      (*uint64)(unsafe.Pointer(&payload[offTopicTail])),
		Recovered: (*uint64)(unsafe.Pointer(&payload[offTopicRecovered])),
		SubsGen:   (*uint64)(unsafe.Pointer(&payload[offTopicSubsGen])),
		Ended:     (*uint32)(unsafe.Pointer(&payload[offTopicEnded])),
		SubsHigh:  (*uint32)(unsafe.Pointer(&payload[offTopicSubsHigh])),
		DataWord:  (*uint32)(unsafe.Pointer(&payload[offTopicData])),
		RoomWord:  (*uint32)(unsafe.Pointer(&payload[offTopicRoom])),
	}
}

// An EntryWords is the shared words of one subscription entry.
type EntryWords struct {
	Word, Cursor, Missed *uint64
}

// TopicEntry returns the words of entry i of the topic whose payload
// starts payload.
func TopicEntry(payload []byte, i int) EntryWords {
	off := TopicCtlSize + i*TopicEntrySize
	return EntryWords{
		Word:   (*uint64)(unsafe.Pointer(&payload[off+offEntryWord])),
		Cursor: (*uint64)(unsafe.Pointer(&payload[off+offEntryCursor])),
		Missed: (*uint64)(unsafe.Pointer(&payload[off+offEntryMissed])),
	}
}

// A TopicSubscriber is one used entry of a topic's table, for ipcchan ls.
type TopicSubscriber struct {
	Entry  int
	Pid    uint32
	Active bool
	Cursor uint64
	Lag    uint64 // messages published and not yet read, about
	Missed uint64
}

// TopicStats are what a topic's words say of its use, for ipcchan ls.
type TopicStats struct {
	Tail        uint64 // messages published (positions, counting skipped ones)
	Recovered   uint64
	Ended       bool
	Subscribers []TopicSubscriber
}

// ReadTopicStats reads a topic's counters and subscriptions from a copy of
// its payload.
func ReadTopicStats(payload []byte) TopicStats {
	le := binary.LittleEndian
	if len(payload) < TopicCtlSize {
		return TopicStats{}
	}
	g := ReadTopicGeometry(payload)
	st := TopicStats{Tail: le.Uint64(payload[offTopicTail:]), Recovered: le.Uint64(payload[offTopicRecovered:]), Ended: le.Uint32(payload[offTopicEnded:]) != 0}
	high := min(le.Uint32(payload[offTopicSubsHigh:]), g.SubsMax)
	for i := range int(high) {
		off := TopicCtlSize + i*TopicEntrySize
		if off+TopicEntrySize > len(payload) {
			break
		}
		pid, active, _ := ParseEntryWord(le.Uint64(payload[off+offEntryWord:]))
		if pid == 0 {
			continue
		}
		s := TopicSubscriber{Entry: i, Pid: pid, Active: active, Cursor: le.Uint64(payload[off+offEntryCursor:]), Missed: le.Uint64(payload[off+offEntryMissed:])}
		if st.Tail > s.Cursor {
			s.Lag = st.Tail - s.Cursor
		}
		st.Subscribers = append(st.Subscribers, s)
	}
	return st
}
