package objfmt

// These tests keep docs/FORMATS.md true: every machine-checked table there
// (see internal/testutil/formats.go for their form) is compared with this
// package's constants and with what its functions write.

import (
	"bytes"
	"encoding/binary"
	"math/bits"
	"slices"
	"strings"
	"testing"
	"unsafe"

	"github.com/ipcchan/ipcchan/internal/posix"
	"github.com/ipcchan/ipcchan/internal/testutil"
)

type field = testutil.Field

// TestFormatsCovered: every machine-checked table of FORMATS.md is one that
// a test checks (here, or in internal/large, typed, memlayout, or the
// external tests of this package: the ring's slot, the topic's and the
// service's tables), and none of those is missing.
func TestFormatsCovered(t *testing.T) {
	doc := testutil.ReadFormats(t)
	want := map[string][]string{
		"layout": {"header", "sem", "mutex", "waitgroup", "ring-control", "ring-slot", "large-ref", "large-file", "typed-header", "topic-control", "topic-entry",
			"pool-control", "pool-entry", "pool-ref", "service-control", "service-server", "service-record", "service-response"},
		"bits": {"mutex-lock", "slot-word", "ring-slot-word", "ring-futex-word", "topic-flags", "topic-entry-word", "pool-word",
			"service-flags", "service-posted-word", "service-call-word"},
		"values":  {"kinds", "mutex-states", "slot-states", "large-states", "pool-states", "service-status", "service-call-states", "service-error-codes"},
		"vectors": {"memlayout", "typed"},
	}
	for kind, names := range want {
		got := doc.Markers(kind)
		slices.Sort(got)
		slices.Sort(names)
		if !slices.Equal(got, names) {
			t.Errorf("FORMATS.md has the %s tables %q; the tests check %q", kind, got, names)
		}
	}
	if !strings.Contains(doc.Text, "\n<!-- names -->\n") {
		t.Error("FORMATS.md has no names table")
	}
}

// changed returns the first and last byte where b differs from base, or
// -1, -1.
func changed(base, b []byte) (first, last int) {
	first, last = -1, -1
	for i := range b {
		if b[i] != base[i] {
			if first < 0 {
				first = i
			}
			last = i
		}
	}
	return first, last
}

func TestFormatsHeader(t *testing.T) {
	want := []field{
		{Name: "magic", Offset: 0, Size: len(magic)},
		{Name: "version", Offset: offVersion, Size: 4},
		{Name: "kind", Offset: offKind, Size: 4},
		{Name: "size", Offset: offSize, Size: 8},
		{Name: "align", Offset: offAlign, Size: 4},
		{Name: "elemSize", Offset: offElemSize, Size: 4},
		{Name: "fingerprint", Offset: offFingerprint, Size: 8},
		{Name: "creator", Offset: offCreator, Size: 4},
		{Name: "overflow", Offset: offOverflow, Size: 4},
		{Name: "reserved", Offset: offOverflow + 4, Size: offType - (offOverflow + 4)},
		{Name: "type", Offset: offType, Size: typeLen},
		{Name: "users", Offset: offUsers, Size: 4 * UserSlots},
	}
	// The offsets above are the ones Marshal writes and Parse reads: each
	// field set to all ones changes exactly its bytes.
	zero := Header{}
	base := zero.Marshal()
	if !bytes.Equal(base[:len(magic)], magic[:]) || string(magic[:]) != "ipcchan\x00" {
		t.Errorf("magic %q", base[:8])
	}
	all := [UserSlots]uint32{}
	for i := range all {
		all[i] = ^uint32(0)
	}
	probes := map[string]Header{
		"kind": {Kind: ^Kind(0)}, "size": {Size: ^uint64(0)}, "align": {Align: ^uint32(0)}, "elemSize": {ElemSize: ^uint32(0)},
		"fingerprint": {Fingerprint: ^uint64(0)}, "creator": {Creator: ^uint32(0)}, "type": {Type: strings.Repeat("x", 200)}, "users": {Users: all},
	}
	for _, w := range want {
		h, ok := probes[w.Name]
		if !ok {
			continue
		}
		b := h.Marshal()
		if first, last := changed(base[:], b[:]); first != w.Offset || last != w.Offset+w.Size-1 {
			t.Errorf("Marshal writes %s at bytes %d..%d, want %d..%d", w.Name, first, last, w.Offset, w.Offset+w.Size-1)
		}
		if got, err := Parse(b[:]); err != nil || got != h && w.Name != "type" {
			t.Errorf("Parse(Marshal(%s)) = %+v, %v", w.Name, got, err)
		}
	}
	// version and overflow are 32-bit words: their top byte counts.
	b := base
	b[offVersion+3] = 1
	if _, err := Parse(b[:]); err == nil {
		t.Error("Parse accepts a version with its top byte set")
	}
	b = base
	b[offOverflow+3] = 1
	if h, _ := Parse(b[:]); !h.Overflow {
		t.Error("Parse does not read the overflow word's top byte")
	}
	if v := binary.LittleEndian.Uint32(base[offVersion:]); v != Version {
		t.Errorf("Marshal writes version %d, want %d", v, Version)
	}
	doc := testutil.ReadFormats(t)
	testutil.CheckFields(t, "layout: header", doc.Layout(t, "header"), want, HeaderSize)

	kinds := doc.Values(t, "kinds")
	wantKinds := map[string]int{}
	for _, k := range []Kind{Shm, Mutex, WaitGroup, Ring, Large, Topic, Pool, Service} {
		wantKinds[k.String()] = int(k)
	}
	if !mapsEqual(kinds, wantKinds) {
		t.Errorf("FORMATS.md's kinds are %v; the code's %v", kinds, wantKinds)
	}
}

func mapsEqual(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// TestFormatsUsers: the users table is where AddUser and DropUser work.
func TestFormatsUsers(t *testing.T) {
	mem := make([]byte, HeaderSize)
	for i := range UserSlots - 1 {
		if slot := AddUser(mem, uint32(100+i), func(int) bool { return true }); slot != i {
			t.Fatalf("AddUser took slot %d, want %d", slot, i)
		}
	}
	if got := binary.LittleEndian.Uint32(mem[offUsers+4*3:]); got != 103 {
		t.Errorf("users[3] at offset %d holds %d, want 103", offUsers+12, got)
	}
	AddUser(mem, 200, func(int) bool { return true }) // the last slot
	if slot := AddUser(mem, 300, func(pid int) bool { return pid != 105 }); slot != 5 {
		t.Errorf("AddUser with no free slot took %d, want the dead pid's slot 5", slot)
	}
	if slot := AddUser(mem, 400, func(int) bool { return true }); slot != -1 || binary.LittleEndian.Uint32(mem[offOverflow:]) != 1 {
		t.Errorf("AddUser with every slot live = %d, overflow word %d", slot, binary.LittleEndian.Uint32(mem[offOverflow:]))
	}
	DropUser(mem, 5, 300)
	DropUser(mem, 6, 999) // not its slot: left alone
	if a, b := binary.LittleEndian.Uint32(mem[offUsers+20:]), binary.LittleEndian.Uint32(mem[offUsers+24:]); a != 0 || b != 106 {
		t.Errorf("after DropUser: users[5] %d, users[6] %d", a, b)
	}
}

func TestFormatsNames(t *testing.T) {
	doc := testutil.ReadFormats(t)
	rows := doc.Table(t, "names")
	got := map[string]bool{}
	for _, r := range rows[1:] {
		got[r[0]] = true
	}
	var token [LargeTokenSize]byte
	large := LargeName("queue", "/QUEUE", token)
	ringLarge := LargeName("ring", "/NAME", token)
	if _, _, _, ok := ParseLargeName(large); !ok {
		t.Fatalf("ParseLargeName(%q) fails", large)
	}
	hexToken := strings.Repeat("0", 2*LargeTokenSize)
	want := map[string]bool{
		SemPrefix + "NAME":                               true,
		Shm.Prefix() + "NAME":                            true,
		Mutex.Prefix() + "NAME":                          true,
		WaitGroup.Prefix() + "NAME":                      true,
		Ring.Prefix() + "NAME":                           true,
		Topic.Prefix() + "NAME":                          true,
		Service.Prefix() + "NAME":                        true,
		strings.Replace(large, hexToken, "TOKEN", 1):     true,
		strings.Replace(ringLarge, hexToken, "TOKEN", 1): true,
		PoolName("ring", "/NAME"):                        true,
		PoolName("queue", "/QUEUE"):                      true,
		PoolName("topic", "/NAME"):                       true,
		posix.TempPrefix + "PID-XXXXXXXX":                true,
	}
	for n := range want {
		if !got[n] {
			t.Errorf("FORMATS.md's names table lacks %s", n)
		}
	}
	for n := range got {
		if !want[n] {
			t.Errorf("FORMATS.md's names table has %s, which the code does not name", n)
		}
	}
}

func TestFormatsSem(t *testing.T) {
	mem := make([]byte, SemSize)
	SemInit(mem, 0x01020304)
	if uintptr(unsafe.Pointer(SemData(mem))) != uintptr(unsafe.Pointer(&mem[0])) {
		t.Error("SemData is not at offset 0")
	}
	if v, w, _ := ReadSem(mem); v != 0x01020304 || w != 0 {
		t.Errorf("ReadSem = %d, %d", v, w)
	}
	*SemData(mem) += 3 * SemWaiter
	if _, w, _ := ReadSem(mem); w != 3 || binary.LittleEndian.Uint32(mem[4:]) != 3 {
		t.Errorf("waiters %d, high half %d", w, binary.LittleEndian.Uint32(mem[4:]))
	}
	if p := binary.LittleEndian.Uint32(mem[offSemPrivate:]); p != futexShared {
		t.Errorf("private = %d", p)
	}
	want := []field{{Name: "data", Offset: 0, Size: 8}, {Name: "private", Offset: offSemPrivate, Size: 4}, {Name: "pad", Offset: offSemPrivate + 4, Size: 4}}
	testutil.CheckFields(t, "layout: sem", testutil.ReadFormats(t).Layout(t, "sem"), want, SemSize)
}

// wordField is the field of a word of a payload: its offset from start,
// and its size.
func wordField[T any](name string, start *byte, p *T) field {
	return field{Name: name, Offset: int(uintptr(unsafe.Pointer(p)) - uintptr(unsafe.Pointer(start))), Size: int(unsafe.Sizeof(*p))}
}

// maskField is the bits of mask, which must be contiguous.
func maskField(t *testing.T, name string, mask uint64) field {
	lo, width := bits.TrailingZeros64(mask), bits.OnesCount64(mask)
	if mask>>lo != 1<<width-1 {
		t.Fatalf("%s: mask %#x is not contiguous", name, mask)
	}
	return field{Name: name, Offset: lo, Size: width}
}

func TestFormatsMutexAndWaitGroup(t *testing.T) {
	doc := testutil.ReadFormats(t)
	p := make([]byte, MutexPayload)
	lock, state := MutexWords(p)
	testutil.CheckFields(t, "layout: mutex", doc.Layout(t, "mutex"),
		[]field{wordField("lock", &p[0], lock), wordField("state", &p[0], state)}, MutexPayload)
	testutil.CheckFields(t, "bits: mutex-lock", doc.Bits(t, "mutex-lock"),
		[]field{maskField(t, "pid", MutexPidMask), maskField(t, "waiters", MutexWaiters)}, 32)
	*lock = 4242 | MutexWaiters
	*state = MutexOwnerDied
	if h, s := ReadMutex(p); h != 4242 || s != "owner died" {
		t.Errorf("ReadMutex = %d, %q", h, s)
	}
	states := doc.Values(t, "mutex-states")
	wantStates := map[string]int{}
	for _, s := range []uint32{MutexConsistent, MutexOwnerDied, MutexNotRecoverable} {
		binary.LittleEndian.PutUint32(p[4:], s)
		_, name := ReadMutex(p)
		wantStates[name] = int(s)
	}
	if !mapsEqual(states, wantStates) {
		t.Errorf("FORMATS.md's mutex states are %v; the code's %v", states, wantStates)
	}

	w := make([]byte, WaitGroupPayload)
	count, sleepers := WaitGroupWords(w)
	testutil.CheckFields(t, "layout: waitgroup", doc.Layout(t, "waitgroup"),
		[]field{wordField("count", &w[0], count), wordField("sleepers", &w[0], sleepers)}, WaitGroupPayload)
	*count = 7
	if ReadWaitGroup(w) != 7 {
		t.Error("ReadWaitGroup does not read the count")
	}
}

func TestFormatsRing(t *testing.T) {
	doc := testutil.ReadFormats(t)
	const capacity, maxLen = 3, 0x0a0b0c
	stride := RingStride(maxLen)
	p := make([]byte, RingSize(capacity, stride))
	RingInit(p, capacity, stride, maxLen, RingFixed)
	w := RingWordsOf(p)
	want := []field{
		{Name: "layout", Offset: offRingLayout, Size: 4},
		{Name: "capacity", Offset: offRingCapacity, Size: 4},
		{Name: "stride", Offset: offRingStride, Size: 4},
		{Name: "maxLen", Offset: offRingMaxLen, Size: 4},
		{Name: "flags", Offset: offRingFlags, Size: 4},
		wordField("ended", &p[0], w.Ended),
		wordField("recovered", &p[0], w.Recovered),
		wordField("head", &p[0], w.Head),
		wordField("tail", &p[0], w.Tail),
		wordField("dataWord", &p[0], w.DataWord),
		wordField("roomWord", &p[0], w.RoomWord),
	}
	for name, c := range map[string]int{"ended": offRingEnded, "recovered": offRingRecovered, "head": offRingHead,
		"tail": offRingTail, "dataWord": offRingData, "roomWord": offRingRoom} {
		for _, f := range want {
			if f.Name == name && f.Offset != c {
				t.Errorf("RingWordsOf has %s at %d, the constant says %d", name, f.Offset, c)
			}
		}
	}
	// What RingInit writes is where the table says it is.
	rows := doc.Layout(t, "ring-control")
	at := func(name string) uint32 {
		for _, r := range rows {
			if r.Name == name {
				return binary.LittleEndian.Uint32(p[r.Offset:])
			}
		}
		t.Fatalf("no %s in the ring-control table", name)
		return 0
	}
	if at("layout") != RingLayout || at("capacity") != capacity || at("stride") != uint32(stride) || at("maxLen") != maxLen || at("flags") != RingFixed {
		t.Errorf("RingInit wrote layout %d, capacity %d, stride %d, maxLen %#x, flags %d where FORMATS.md says",
			at("layout"), at("capacity"), at("stride"), at("maxLen"), at("flags"))
	}
	if g := ReadRingGeometry(p); g != (RingGeometry{RingLayout, capacity, uint32(stride), maxLen, RingFixed}) {
		t.Errorf("ReadRingGeometry = %+v", g)
	}
	testutil.CheckFields(t, "layout: ring-control", rows, want, RingCtlSize)
	if RingStride(8) != 64 || RingStride(49) != 128 || RingStride(48) != 64 || stride%64 != 0 {
		t.Errorf("RingStride: %d %d %d", RingStride(8), RingStride(48), RingStride(49))
	}
	// Slot i holds Free(i) at RingCtlSize + i*stride.
	for i := range capacity {
		sw := binary.LittleEndian.Uint64(p[RingCtlSize+i*stride:])
		if pos, st, n, pid := ParseRingWord(sw); pos != uint64(i) || st != SlotFree || n != 1 || pid != 0 || sw != RingFree(uint64(i)) {
			t.Errorf("a new slot %d holds %d/%d/%d/%d", i, pos, st, n, pid)
		}
	}

	testutil.CheckFields(t, "bits: ring-slot-word", doc.Bits(t, "ring-slot-word"), []field{
		maskField(t, "position", RingWord(^uint64(0), 0, 1, 0)),
		maskField(t, "run", RingWord(0, 0, RingRunMax, 0)),
		maskField(t, "state", RingWord(0, 7, 1, 0)),
		maskField(t, "pid", RingWord(0, 0, 1, ^uint32(0))),
	}, 64)
	if pos, st, n, pid := ParseRingWord(RingWord(1<<RingPosBits+5, SlotReading, 300, 4194303)); pos != 5 || st != SlotReading || n != 300 || pid != 4194303 {
		t.Errorf("ParseRingWord(RingWord) = %d, %d, %d, %d", pos, st, n, pid)
	}
	if p, c := uint64(5), uint64(RingCapMax); RingCapMax != 1<<(RingPosBits-1)-1 || RingPos(p-c) == RingPos(p+c) {
		t.Errorf("RingCapMax %d: p - capacity and p + capacity must differ in a slot word", RingCapMax)
	}
	testutil.CheckFields(t, "bits: slot-word", doc.Bits(t, "slot-word"), []field{
		maskField(t, "position", SlotWord(^uint64(0), 0, 0)),
		maskField(t, "state", SlotWord(0, 7, 0)),
		maskField(t, "pid", SlotWord(0, 0, ^uint32(0))),
	}, 64)
	if pos, st, pid := ParseSlotWord(SlotWord(1<<SlotPosBits+5, SlotReading, 4194303)); pos != 5 || st != SlotReading || pid != 4194303 {
		t.Errorf("ParseSlotWord(SlotWord) = %d, %d, %d", pos, st, pid)
	}
	testutil.CheckFields(t, "bits: ring-futex-word", doc.Bits(t, "ring-futex-word"), []field{
		maskField(t, "counter", RingSleepers-1),
		maskField(t, "sleepers", RingSleepers),
	}, 32)
	states := doc.Values(t, "slot-states")
	wantStates := map[string]int{"Free": SlotFree, "Writing": SlotWriting, "Full": SlotFull, "Reading": SlotReading, "Skipped": SlotSkipped}
	if !mapsEqual(states, wantStates) {
		t.Errorf("FORMATS.md's slot states are %v; the code's %v", states, wantStates)
	}
}

func TestFormatsLargeFile(t *testing.T) {
	var token [LargeTokenSize]byte
	for i := range token {
		token[i] = byte(0xa0 + i)
	}
	b := LargeHeader(12345, token, 777)
	if len(b) != LargeHead {
		t.Fatalf("LargeHeader has %d bytes, want LargeHead %d", len(b), LargeHead)
	}
	if b[LargeStateOff] != LargePending || !bytes.Equal(b[offLargeToken:offLargeToken+LargeTokenSize], token[:]) {
		t.Errorf("LargeHeader: state %d at %d, token %x at %d", b[LargeStateOff], LargeStateOff, b[offLargeToken:LargeHead], offLargeToken)
	}
	in, err := ParseLarge(b)
	if err != nil || in.Size != 12345 || in.Sender != 777 || in.Token != token || in.State != LargePending {
		t.Errorf("ParseLarge = %+v, %v", in, err)
	}
	h, _ := Parse(b)
	if h.Kind != Large || h.Size != 12345 || h.Creator != 777 || h.Type != "large message" || h.Align != 0 || h.ElemSize != 0 || h.Fingerprint != 0 {
		t.Errorf("the header of a large message: %+v", h)
	}
	doc := testutil.ReadFormats(t)
	testutil.CheckFields(t, "layout: large-file", doc.Layout(t, "large-file"), []field{
		{Name: "header", Offset: 0, Size: HeaderSize},
		{Name: "state", Offset: LargeStateOff, Size: 1},
		{Name: "token", Offset: offLargeToken, Size: LargeTokenSize},
		{Name: "message", Offset: LargeDataOff, Size: -1},
	}, -1)
	states := doc.Values(t, "large-states")
	want := map[string]int{LargeStateName(LargePending): LargePending, LargeStateName(LargeQueued): LargeQueued}
	if !mapsEqual(states, want) {
		t.Errorf("FORMATS.md's large-message states are %v; the code's %v", states, want)
	}
}

// TestFormatsCHeader: the constants of the C header block are the code's.
// (Those of the large-message reference, the typed header, the slot's
// length, the owner check, the topic and the service are checked where the
// code knows them: in internal/large, internal/typed and this package's
// external tests.)
func TestFormatsCHeader(t *testing.T) {
	consts := testutil.ReadFormats(t).CConstants(t)
	want := map[string]any{
		"IPCCHAN_SHM_DIR":           posix.ShmDir,
		"IPCCHAN_PREFIX_SEM":        SemPrefix,
		"IPCCHAN_PREFIX_SHM":        Shm.Prefix(),
		"IPCCHAN_PREFIX_MUTEX":      Mutex.Prefix(),
		"IPCCHAN_PREFIX_WAITGROUP":  WaitGroup.Prefix(),
		"IPCCHAN_PREFIX_RING":       Ring.Prefix(),
		"IPCCHAN_PREFIX_TOPIC":      Topic.Prefix(),
		"IPCCHAN_PREFIX_LARGE":      LargePrefix,
		"IPCCHAN_PREFIX_LARGE_RING": RingLargePrefix,
		"IPCCHAN_PREFIX_POOL_RING":  PoolName("ring", "/"),
		"IPCCHAN_PREFIX_POOL_TOPIC": PoolName("topic", "/"),
		"IPCCHAN_PREFIX_POOL_QUEUE": PoolName("queue", "/"),
		"IPCCHAN_PREFIX_SERVICE":    Service.Prefix(),
		"IPCCHAN_PREFIX_TEMP":       posix.TempPrefix,
		"IPCCHAN_MAGIC":             strings.TrimRight(string(magic[:]), "\x00"),

		"IPCCHAN_VERSION":         Version,
		"IPCCHAN_HEADER_SIZE":     HeaderSize,
		"IPCCHAN_OFF_MAGIC":       0,
		"IPCCHAN_OFF_VERSION":     offVersion,
		"IPCCHAN_OFF_KIND":        offKind,
		"IPCCHAN_OFF_SIZE":        offSize,
		"IPCCHAN_OFF_ALIGN":       offAlign,
		"IPCCHAN_OFF_ELEM_SIZE":   offElemSize,
		"IPCCHAN_OFF_FINGERPRINT": offFingerprint,
		"IPCCHAN_OFF_CREATOR":     offCreator,
		"IPCCHAN_OFF_OVERFLOW":    offOverflow,
		"IPCCHAN_OFF_TYPE":        offType,
		"IPCCHAN_TYPE_LEN":        typeLen,
		"IPCCHAN_OFF_USERS":       offUsers,
		"IPCCHAN_USER_SLOTS":      UserSlots,
		"IPCCHAN_KIND_SHM":        int(Shm),
		"IPCCHAN_KIND_MUTEX":      int(Mutex),
		"IPCCHAN_KIND_WAITGROUP":  int(WaitGroup),
		"IPCCHAN_KIND_RING":       int(Ring),
		"IPCCHAN_KIND_LARGE":      int(Large),
		"IPCCHAN_KIND_TOPIC":      int(Topic),
		"IPCCHAN_KIND_POOL":       int(Pool),
		"IPCCHAN_KIND_SERVICE":    int(Service),

		"IPCCHAN_RING_LAYOUT":        RingLayout,
		"IPCCHAN_RING_FIXED":         RingFixed,
		"IPCCHAN_RING_POOLED":        RingPooled,
		"IPCCHAN_RING_CTL_SIZE":      RingCtlSize,
		"IPCCHAN_RING_OFF_LAYOUT":    offRingLayout,
		"IPCCHAN_RING_OFF_CAPACITY":  offRingCapacity,
		"IPCCHAN_RING_OFF_STRIDE":    offRingStride,
		"IPCCHAN_RING_OFF_MAXLEN":    offRingMaxLen,
		"IPCCHAN_RING_OFF_FLAGS":     offRingFlags,
		"IPCCHAN_RING_OFF_ENDED":     offRingEnded,
		"IPCCHAN_RING_OFF_RECOVERED": offRingRecovered,
		"IPCCHAN_RING_OFF_HEAD":      offRingHead,
		"IPCCHAN_RING_OFF_TAIL":      offRingTail,
		"IPCCHAN_RING_OFF_DATA_WORD": offRingData,
		"IPCCHAN_RING_OFF_ROOM_WORD": offRingRoom,
		"IPCCHAN_RING_SLEEPERS":      RingSleepers,
		"IPCCHAN_SLOT_OFF_STATE":     0,
		"IPCCHAN_SLOT_OFF_DATA":      RingSlotHeader,
		"IPCCHAN_SLOT_HEADER":        RingSlotHeader,
		"IPCCHAN_SLOT_POS_BITS":      SlotPosBits,
		"IPCCHAN_RING_POS_BITS":      RingPosBits,
		"IPCCHAN_RING_RUN_SHIFT":     ringRunBit,
		"IPCCHAN_RING_RUN_MAX":       RingRunMax,
		"IPCCHAN_RING_CAP_MAX":       RingCapMax,
		"IPCCHAN_SLOT_STATE_SHIFT":   ringStateBit,
		"IPCCHAN_SLOT_PID_SHIFT":     ringPidBit,
		"IPCCHAN_SLOT_FREE":          SlotFree,
		"IPCCHAN_SLOT_WRITING":       SlotWriting,
		"IPCCHAN_SLOT_FULL":          SlotFull,
		"IPCCHAN_SLOT_READING":       SlotReading,
		"IPCCHAN_SLOT_SKIPPED":       SlotSkipped,

		"IPCCHAN_MUTEX_PAYLOAD":          MutexPayload,
		"IPCCHAN_MUTEX_OFF_LOCK":         0,
		"IPCCHAN_MUTEX_OFF_STATE":        4,
		"IPCCHAN_MUTEX_CONSISTENT":       MutexConsistent,
		"IPCCHAN_MUTEX_OWNER_DIED":       MutexOwnerDied,
		"IPCCHAN_MUTEX_NOT_RECOVERABLE":  MutexNotRecoverable,
		"IPCCHAN_MUTEX_WAITERS":          MutexWaiters,
		"IPCCHAN_MUTEX_PID_MASK":         MutexPidMask,
		"IPCCHAN_WAITGROUP_PAYLOAD":      WaitGroupPayload,
		"IPCCHAN_WAITGROUP_OFF_COUNT":    0,
		"IPCCHAN_WAITGROUP_OFF_SLEEPERS": 4,

		"IPCCHAN_SEM_SIZE":         SemSize,
		"IPCCHAN_SEM_OFF_DATA":     0,
		"IPCCHAN_SEM_OFF_PRIVATE":  offSemPrivate,
		"IPCCHAN_SEM_FUTEX_SHARED": futexShared,
		"IPCCHAN_SEM_WAITER_SHIFT": SemWaiterShift,
		"IPCCHAN_SEM_VALUE_MAX":    SemValueMax,

		"IPCCHAN_LARGE_OFF_STATE":  LargeStateOff,
		"IPCCHAN_LARGE_OFF_TOKEN":  offLargeToken,
		"IPCCHAN_LARGE_TOKEN_SIZE": LargeTokenSize,
		"IPCCHAN_LARGE_HEAD":       LargeHead,
		"IPCCHAN_LARGE_DATA_OFF":   LargeDataOff,
		"IPCCHAN_LARGE_PENDING":    LargePending,
		"IPCCHAN_LARGE_QUEUED":     LargeQueued,

		"IPCCHAN_POOL_LAYOUT":         PoolLayout,
		"IPCCHAN_POOL_CTL_SIZE":       PoolCtlSize,
		"IPCCHAN_POOL_OFF_LAYOUT":     offPoolLayout,
		"IPCCHAN_POOL_OFF_BLOCK_SIZE": offPoolBlockSize,
		"IPCCHAN_POOL_OFF_BLOCKS":     offPoolBlocks,
		"IPCCHAN_POOL_OFF_DATA_OFF":   offPoolDataOff,
		"IPCCHAN_POOL_OFF_RECOVERED":  offPoolRecovered,
		"IPCCHAN_POOL_OFF_OWNER":      offPoolOwner,
		"IPCCHAN_POOL_OFF_LOCK":       offPoolLock,
		"IPCCHAN_POOL_OFF_ROOM":       offPoolRoom,
		"IPCCHAN_POOL_ENTRY_SIZE":     PoolEntrySize,
		"IPCCHAN_POOL_ENTRY_OFF_WORD": 0,
		"IPCCHAN_POOL_ENTRY_OFF_AUX":  8,
		"IPCCHAN_POOL_FREE":           PoolFree,
		"IPCCHAN_POOL_LOANED":         PoolLoaned,
		"IPCCHAN_POOL_QUEUED":         PoolQueued,
		"IPCCHAN_POOL_VIEWED":         PoolViewed,
		"IPCCHAN_POOL_BLOCKS_SHIFT":   maskField(t, "blocks", PoolWord(0, ^uint32(0), 0)).Offset,
		"IPCCHAN_POOL_PID_SHIFT":      maskField(t, "pid", PoolWord(0, 0, ^uint32(0))).Offset,
		"IPCCHAN_POOL_REF_SIZE":       PoolRefSize,
		"IPCCHAN_POOL_REF_OFF_SIZE":   8,
		"IPCCHAN_POOL_REF_OFF_BLOCK":  16,
		"IPCCHAN_POOL_REF_OFF_BLOCKS": 20,
		"IPCCHAN_POOL_REF_MAGIC":      string(poolRefMagic[:]),
		"IPCCHAN_POOL_SLEEPERS":       PoolSleepers,
	}
	// The words the code reaches through pointers are where the constants
	// above put them.
	p := make([]byte, MutexPayload)
	if l, s := MutexWords(p); wordField("lock", &p[0], l).Offset != 0 || wordField("state", &p[0], s).Offset != 4 {
		t.Error("MutexWords: the lock is not at 0 or the state at 4")
	}
	if c, s := WaitGroupWords(p); wordField("count", &p[0], c).Offset != 0 || wordField("sleepers", &p[0], s).Offset != 4 {
		t.Error("WaitGroupWords: the count is not at 0 or the sleepers at 4")
	}
	elsewhere := []string{"IPCCHAN_LARGE_REF_", "IPCCHAN_MSG_", "IPCCHAN_RING_OWNER_CHECK_MS", "IPCCHAN_SLOT_OFF_LENGTH", "IPCCHAN_TOPIC_",
		"IPCCHAN_SERVICE_", "IPCCHAN_CALL_", "IPCCHAN_CODE_"}
	testutil.CheckCConstants(t, consts, want, func(name string) bool {
		return !slices.ContainsFunc(elsewhere, func(p string) bool { return strings.HasPrefix(name, p) })
	})
}
