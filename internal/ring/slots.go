package ring

import (
	"unsafe"

	"github.com/ipcchan/ipcchan/internal/objfmt"
)

// A slotTable is the slots of a ring or a topic in its mapping: position
// p lives in slot p mod capacity, slots stride bytes apart from base, each
// a ring slot (objfmt.RingSlotHeader: state word, length, then maxLen
// bytes of data).
type slotTable struct {
	payload []byte
	start   unsafe.Pointer // &payload[0]
	cap     uint64
	mask    uint64 // cap-1 when cap is a power of two, else 0
	base    int    // the offset of slot 0 in payload
	stride  int
	maxLen  int
	fixed   bool // every message is maxLen bytes: no length to store or load
	lines   int  // of a slot that a sender prefetches (prefetchSlot)
}

func newSlotTable(payload []byte, capacity uint64, base, stride, maxLen int, fixed bool) slotTable {
	s := slotTable{payload: payload, start: unsafe.Pointer(unsafe.SliceData(payload)), cap: capacity, base: base, stride: stride, maxLen: maxLen, fixed: fixed}
	if s.cap&(s.cap-1) == 0 {
		s.mask = s.cap - 1
	}
	s.lines = min(stride/64, prefetchLines)
	return s
}

// prefetchSlot asks the processor for the first lines of the slot of
// position pos, to write them; it waits for nothing.
func (s *slotTable) prefetchSlot(pos uint64) {
	prefetchw(unsafe.Add(s.start, s.offset(pos)), s.lines)
}

// offset is the offset in payload of the slot of position pos.
func (s *slotTable) offset(pos uint64) int {
	if s.mask != 0 { // most rings: no division (a DIV costs tens of cycles)
		return s.base + int(pos&s.mask)*s.stride
	}
	return s.base + int(pos%s.cap)*s.stride
}

// DataAt is the data area of the slot of position pos, for a pointer-free
// value of at most maxLen bytes copied in or out in place.
func (s *slotTable) DataAt(pos uint64) unsafe.Pointer {
	return unsafe.Add(s.start, s.offset(pos)+objfmt.RingSlotHeader)
}

// state is the state word of the slot at off.
func (s *slotTable) state(off int) *uint64 { return (*uint64)(unsafe.Pointer(&s.payload[off])) }

// length is the message length of the slot at off.
func (s *slotTable) length(off int) *uint32 {
	return (*uint32)(unsafe.Pointer(&s.payload[off+objfmt.RingSlotLenOff]))
}

// data is the data area of the slot at off, maxLen bytes.
func (s *slotTable) data(off int) []byte {
	d := off + objfmt.RingSlotHeader
	return s.payload[d : d+s.maxLen : d+s.maxLen]
}

// Buf is the data area of a claimed slot, MaxLen bytes.
func (s *slotTable) Buf(c Claim) []byte { return s.data(c.off) }
