package objfmt_test

import (
	"context"
	"encoding/binary"
	"math/bits"
	"strings"
	"testing"
	"unsafe"

	"github.com/ipcchan/ipcchan/internal/futex"
	"github.com/ipcchan/ipcchan/internal/objfmt"
	"github.com/ipcchan/ipcchan/internal/ring"
	"github.com/ipcchan/ipcchan/internal/testutil"
)

// offsetIn is the offset of the word p in mem.
func offsetIn[T any](mem []byte, p *T) int {
	return int(uintptr(unsafe.Pointer(p)) - uintptr(unsafe.Pointer(&mem[0])))
}

// bitsOf is the field of the bits of mask, which must be contiguous.
func bitsOf(t *testing.T, name string, mask uint64) testutil.Field {
	t.Helper()
	lo, width := bits.TrailingZeros64(mask), bits.OnesCount64(mask)
	if mask>>lo != 1<<width-1 {
		t.Fatalf("%s: mask %#x is not contiguous", name, mask)
	}
	return testutil.Field{Name: name, Offset: lo, Size: width}
}

// TestFormatsTopic: the topic's tables and C constants in FORMATS.md are
// where objfmt puts the words and where the topic's algorithm
// (internal/ring) writes them: TopicInit's geometry, a subscription's
// entry, a publication's slot.
func TestFormatsTopic(t *testing.T) {
	doc := testutil.ReadFormats(t)
	// Geometry values that differ from each other, so that each is found
	// only where it is.
	const capacity, maxLen, history, subsMax, pid = 7, 0x0a0b0c, 6, 5, 4242
	stride := objfmt.RingStride(maxLen)
	g := objfmt.TopicGeometry{Capacity: capacity, Stride: uint32(stride), MaxLen: maxLen,
		Flags: objfmt.TopicFixed | objfmt.TopicDropOldest, History: history, SubsMax: subsMax}
	p := make([]byte, objfmt.TopicSize(capacity, stride, subsMax))
	objfmt.TopicInit(p, g)
	g.Layout = objfmt.TopicLayout
	if got := objfmt.ReadTopicGeometry(p); got != g {
		t.Errorf("ReadTopicGeometry(TopicInit(%+v)) = %+v", g, got)
	}

	// The control block: the geometry where TopicInit writes it (each
	// value found at the table's offset), the words where TopicWordsOf
	// points.
	rows := doc.Layout(t, "topic-control")
	offOf := map[string]int{}
	for _, r := range rows {
		offOf[r.Name] = r.Offset
	}
	geometry := []struct {
		name string
		v    uint32
	}{{"layout", g.Layout}, {"capacity", g.Capacity}, {"stride", g.Stride}, {"maxLen", g.MaxLen}, {"flags", g.Flags}, {"history", g.History}, {"subsMax", g.SubsMax}}
	var geo []testutil.Field
	for _, f := range geometry {
		off, ok := offOf[f.name]
		if !ok {
			t.Fatalf("no %s in the topic-control table", f.name)
		}
		if got := binary.LittleEndian.Uint32(p[off:]); got != f.v {
			t.Errorf("TopicInit wrote %s = %d; at its offset %d in FORMATS.md there is %d", f.name, f.v, off, got)
		}
		geo = append(geo, testutil.Field{Name: f.name, Offset: off, Size: 4})
	}
	w := objfmt.TopicWordsOf(p)
	want := append(geo[:5:5], // layout .. flags, then the rest in the order of the block
		testutil.Field{Name: "ended", Offset: offsetIn(p, w.Ended), Size: 4},
		testutil.Field{Name: "recovered", Offset: offsetIn(p, w.Recovered), Size: 8},
		geo[5], geo[6], // history, subsMax
		testutil.Field{Name: "subsGen", Offset: offsetIn(p, w.SubsGen), Size: 8},
		testutil.Field{Name: "subsHigh", Offset: offsetIn(p, w.SubsHigh), Size: 4},
		testutil.Field{Name: "tail", Offset: offsetIn(p, w.Tail), Size: 8},
		testutil.Field{Name: "dataWord", Offset: offsetIn(p, w.DataWord), Size: 4},
		testutil.Field{Name: "roomWord", Offset: offsetIn(p, w.RoomWord), Size: 4},
	)
	testutil.CheckFields(t, "layout: topic-control", rows, want, objfmt.TopicCtlSize)
	codeOff := map[string]int{} // as the code has them (the geometry: where TopicInit's values are)
	for _, f := range want {
		codeOff[f.Name] = f.Offset
	}
	testutil.CheckFields(t, "bits: topic-flags", doc.Bits(t, "topic-flags"), []testutil.Field{
		bitsOf(t, "fixed", objfmt.TopicFixed),
		bitsOf(t, "dropOldest", objfmt.TopicDropOldest),
		bitsOf(t, "pooled", objfmt.TopicPooled),
	}, 32)
	if objfmt.TopicSleepers != objfmt.RingSleepers {
		t.Error("a topic's futex words are not a ring's: FORMATS.md says they are")
	}

	// The table: entry i at 256 + i*64, its words where TopicEntry points.
	e0, e2 := objfmt.TopicEntry(p, 0), objfmt.TopicEntry(p, 2)
	if off := offsetIn(p, e0.Word); off != objfmt.TopicCtlSize {
		t.Errorf("entry 0 is at %d, not after the control block (%d)", off, objfmt.TopicCtlSize)
	}
	if d := offsetIn(p, e2.Word) - offsetIn(p, e0.Word); d != 2*objfmt.TopicEntrySize {
		t.Errorf("entry 2 is %d bytes after entry 0, want 2 × %d", d, objfmt.TopicEntrySize)
	}
	entry := p[objfmt.TopicCtlSize:]
	entryRows := doc.Layout(t, "topic-entry")
	testutil.CheckFields(t, "layout: topic-entry", entryRows, []testutil.Field{
		{Name: "word", Offset: offsetIn(entry, e0.Word), Size: 8},
		{Name: "cursor", Offset: offsetIn(entry, e0.Cursor), Size: 8},
		{Name: "missed", Offset: offsetIn(entry, e0.Missed), Size: 8},
	}, objfmt.TopicEntrySize)
	testutil.CheckFields(t, "bits: topic-entry-word", doc.Bits(t, "topic-entry-word"), []testutil.Field{
		bitsOf(t, "pid", objfmt.EntryWord(^uint32(0), false, 0)),
		bitsOf(t, "active", objfmt.EntryWord(0, true, 0)),
		bitsOf(t, "generation", objfmt.EntryWord(0, false, ^uint64(0))),
	}, 64)
	if pid, active, gen := objfmt.ParseEntryWord(objfmt.EntryWord(7, true, 9)); pid != 7 || !active || gen != 9 {
		t.Errorf("ParseEntryWord(EntryWord(7, true, 9)) = %d, %v, %d", pid, active, gen)
	}

	// The slots: slot i holds Free(i) at 256 + subsMax*64 + i*stride.
	slots := objfmt.TopicCtlSize + subsMax*objfmt.TopicEntrySize
	if g.SlotsOff() != slots {
		t.Errorf("SlotsOff = %d, want %d", g.SlotsOff(), slots)
	}
	for i := range capacity {
		if pos, st, owner := objfmt.ParseSlotWord(binary.LittleEndian.Uint64(p[slots+i*stride:])); pos != uint64(i) || st != objfmt.SlotFree || owner != 0 {
			t.Errorf("a new slot %d holds %d/%d/%d, want Free(%d)", i, pos, st, owner, i)
		}
	}

	// What the algorithm writes is where FORMATS.md says: a subscription
	// (entry 0, active, generation 1, its cursor; subsHigh and subsGen),
	// a publication (the state word, the length and the data of slot 0).
	small := objfmt.TopicGeometry{Capacity: 2, Stride: uint32(objfmt.RingStride(40)), MaxLen: 40, History: 1, SubsMax: 3}
	p = make([]byte, objfmt.TopicSize(2, int(small.Stride), 3))
	objfmt.TopicInit(p, small)
	tp := ring.NewTopic(p, pid, new(futex.Set))
	u32 := func(name string) uint32 { return binary.LittleEndian.Uint32(p[offOf[name]:]) }
	u64 := func(name string) uint64 { return binary.LittleEndian.Uint64(p[offOf[name]:]) }
	c, err := tp.ClaimPublish(context.Background(), false)
	if err != nil {
		t.Fatal(err)
	}
	slot := p[small.SlotsOff():]
	if pos, st, owner := objfmt.ParseSlotWord(binary.LittleEndian.Uint64(slot)); pos != 0 || st != objfmt.SlotWriting || owner != pid {
		t.Errorf("a claimed slot's state word says %d/%d/%d, want Writing(0, %d)", pos, st, owner, pid)
	}
	if u64("tail") != 1 {
		t.Errorf("after a claim, tail (at %d) is %d, want 1", offOf["tail"], u64("tail"))
	}
	buf := tp.Buf(c)
	copy(buf, "hello")
	tp.Publish(c, 5)
	if d := offsetIn(slot, &buf[0]); d != objfmt.RingSlotHeader || string(slot[d:d+5]) != "hello" {
		t.Errorf("a slot's data is at %d, want %d", d, objfmt.RingSlotHeader)
	}
	if n := binary.LittleEndian.Uint32(slot[objfmt.RingSlotLenOff:]); n != 5 {
		t.Errorf("a published slot's length (at %d) is %d, want 5", objfmt.RingSlotLenOff, n)
	}
	if _, st, _ := objfmt.ParseSlotWord(binary.LittleEndian.Uint64(slot)); st != objfmt.SlotFull {
		t.Errorf("a published slot is in state %d", st)
	}
	sub, err := tp.Subscribe(new(futex.Set))
	if err != nil {
		t.Fatal(err)
	}
	le := binary.LittleEndian
	entry = p[objfmt.TopicCtlSize:]
	if word := le.Uint64(entry[entryRows[0].Offset:]); word != objfmt.EntryWord(pid, true, 1) || word != pid|1<<32|1<<33 {
		t.Errorf("a subscription's entry word is %#x, want pid %d, active, generation 1", word, pid)
	}
	if cursor := le.Uint64(entry[entryRows[1].Offset:]); cursor != 0 { // tail 1 − history 1
		t.Errorf("a subscription's cursor is %d, want 0 (tail 1 less history 1)", cursor)
	}
	if u32("subsHigh") != 1 || u64("subsGen") != 1 {
		t.Errorf("after a subscription, subsHigh %d, subsGen %d; want 1, 1", u32("subsHigh"), u64("subsGen"))
	}
	if err := sub.Take(context.Background(), false, func([]byte) {}); err != nil {
		t.Fatal(err)
	}
	if cursor := le.Uint64(entry[entryRows[1].Offset:]); cursor != 1 {
		t.Errorf("after a take, the cursor is %d, want 1", cursor)
	}
	sub.Close()
	if word := le.Uint64(entry[entryRows[0].Offset:]); word != objfmt.EntryWord(0, false, 1) {
		t.Errorf("a closed subscription's entry word is %#x, want free with generation 1", word)
	}
	tp.End()
	if u32("ended") != 1 {
		t.Errorf("after End, ended (at %d) is %d", offOf["ended"], u32("ended"))
	}

	// The C header's topic constants are those checked above.
	wantC := map[string]any{
		"IPCCHAN_TOPIC_LAYOUT":             objfmt.TopicLayout,
		"IPCCHAN_TOPIC_FIXED":              objfmt.TopicFixed,
		"IPCCHAN_TOPIC_DROP_OLDEST":        objfmt.TopicDropOldest,
		"IPCCHAN_TOPIC_POOLED":             objfmt.TopicPooled,
		"IPCCHAN_TOPIC_CTL_SIZE":           objfmt.TopicCtlSize,
		"IPCCHAN_TOPIC_ENTRY_SIZE":         objfmt.TopicEntrySize,
		"IPCCHAN_TOPIC_ENTRY_OFF_WORD":     entryRows[0].Offset,
		"IPCCHAN_TOPIC_ENTRY_OFF_CURSOR":   entryRows[1].Offset,
		"IPCCHAN_TOPIC_ENTRY_OFF_MISSED":   entryRows[2].Offset,
		"IPCCHAN_TOPIC_ENTRY_ACTIVE_SHIFT": bitsOf(t, "active", objfmt.EntryWord(0, true, 0)).Offset,
		"IPCCHAN_TOPIC_ENTRY_GEN_SHIFT":    bitsOf(t, "generation", objfmt.EntryWord(0, false, 1)).Offset,
		"IPCCHAN_TOPIC_ENTRY_PID_MASK":     objfmt.EntryWord(^uint32(0), false, 0),
	}
	for field, name := range map[string]string{"layout": "LAYOUT", "capacity": "CAPACITY", "stride": "STRIDE", "maxLen": "MAXLEN",
		"flags": "FLAGS", "ended": "ENDED", "recovered": "RECOVERED", "history": "HISTORY", "subsMax": "SUBS_MAX", "subsGen": "SUBS_GEN",
		"subsHigh": "SUBS_HIGH", "tail": "TAIL", "dataWord": "DATA_WORD", "roomWord": "ROOM_WORD"} {
		wantC["IPCCHAN_TOPIC_OFF_"+name] = codeOff[field]
	}
	testutil.CheckCConstants(t, doc.CConstants(t), wantC, func(name string) bool { return strings.HasPrefix(name, "IPCCHAN_TOPIC_") })
}
