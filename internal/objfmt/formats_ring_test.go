package objfmt_test

import (
	"context"
	"encoding/binary"
	"testing"
	"time"
	"unsafe"

	"github.com/ipcchan/ipcchan/internal/futex"
	"github.com/ipcchan/ipcchan/internal/objfmt"
	"github.com/ipcchan/ipcchan/internal/ring"
	"github.com/ipcchan/ipcchan/internal/testutil"
)

// TestFormatsRingSlot: a slot is laid out as FORMATS.md says, as the ring's
// algorithm (internal/ring) uses it: the state word at 0, the length at 8,
// the data at 16; and the owner check is as often as the C header says.
func TestFormatsRingSlot(t *testing.T) {
	const capacity, maxLen, pid = 2, 40, 4242
	stride := objfmt.RingStride(maxLen)
	p := make([]byte, objfmt.RingSize(capacity, stride))
	objfmt.RingInit(p, capacity, stride, maxLen, 0)
	r := ring.New(p, pid, new(futex.Set))
	c, err := r.ClaimWrite(context.Background(), false)
	if err != nil {
		t.Fatal(err)
	}
	slot := p[objfmt.RingCtlSize : objfmt.RingCtlSize+stride]
	before := append([]byte(nil), slot...)
	state := binary.LittleEndian.Uint64(slot)
	if pos, st, n, owner := objfmt.ParseRingWord(state); pos != 0 || st != objfmt.SlotWriting || n != 1 || owner != pid {
		t.Errorf("a claimed slot's first 8 bytes say %d/%d/%d/%d, want Writing(0, 1, %d)", pos, st, n, owner, pid)
	}
	buf := r.Buf(c)
	dataOff := int(uintptr(unsafe.Pointer(&buf[0])) - uintptr(unsafe.Pointer(&slot[0])))
	if len(buf) != maxLen {
		t.Errorf("the data of a slot is %d bytes, want maxLen %d", len(buf), maxLen)
	}
	const n = 0x01020304 // every byte of the length word differs
	r.Publish(c, n)
	lenOff, lenEnd := -1, -1
	for i := 8; i < len(slot); i++ {
		if slot[i] != before[i] {
			if lenOff < 0 {
				lenOff = i
			}
			lenEnd = i + 1
		}
	}
	if got := binary.LittleEndian.Uint32(slot[lenOff:]); got != n {
		t.Errorf("the length %#x is not at offset %d (%#x there)", n, lenOff, got)
	}
	if _, st, n, _ := objfmt.ParseRingWord(binary.LittleEndian.Uint64(slot)); st != objfmt.SlotFull || n != 1 {
		t.Errorf("a published slot is in state %d, run %d", st, n)
	}

	// A run of the next two slots: its first slot's word says so, the other
	// stays Free at its position until the run is read out.
	run, err := r.ClaimWriteRun(context.Background(), false, 5)
	if err != nil || run.Len() != 1 {
		t.Fatalf("ClaimWriteRun on a ring with one free slot: %d slots, %v", run.Len(), err)
	}
	r.PublishRun(run)
	rd, err := r.ClaimReadRun(context.Background(), false, 1)
	if err != nil || rd.Len() != 1 || rd.Pos() != 0 {
		t.Fatalf("ClaimReadRun: %d slots at %d, %v", rd.Len(), rd.Pos(), err)
	}
	r.Release(rd)
	word := func(i int) uint64 { return binary.LittleEndian.Uint64(p[objfmt.RingCtlSize+i*stride:]) }
	if word(0) != objfmt.RingFree(2) {
		t.Errorf("a slot read out holds %#x, want Free(2)", word(0))
	}
	rd, err = r.ClaimReadRun(context.Background(), false, 1)
	if err != nil {
		t.Fatal(err)
	}
	r.Release(rd)
	run, err = r.ClaimWriteRun(context.Background(), false, 5)
	if err != nil || run.Len() != 2 || run.Pos() != 2 {
		t.Fatalf("ClaimWriteRun on an empty ring of 2: %d slots at %d, %v", run.Len(), run.Pos(), err)
	}
	if word(0) != objfmt.RingWord(2, objfmt.SlotWriting, 2, pid) || word(1) != objfmt.RingFree(3) {
		t.Errorf("a run of 2 claimed: words %#x %#x, want Writing(2, 2, pid), Free(3)", word(0), word(1))
	}

	doc := testutil.ReadFormats(t)
	testutil.CheckFields(t, "layout: ring-slot", doc.Layout(t, "ring-slot"), []testutil.Field{
		{Name: "state", Offset: 0, Size: 8},
		{Name: "length", Offset: lenOff, Size: lenEnd - lenOff},
		{Name: "data", Offset: dataOff, Size: -1},
	}, -1)
	testutil.CheckCConstants(t, doc.CConstants(t), map[string]any{
		"IPCCHAN_SLOT_OFF_LENGTH":     lenOff,
		"IPCCHAN_SLOT_OFF_DATA":       dataOff,
		"IPCCHAN_RING_OWNER_CHECK_MS": int(ring.OwnerCheck / time.Millisecond),
	}, func(string) bool { return false })
}
