package objfmt

import (
	"encoding/binary"
	"testing"

	"github.com/ipcchan/ipcchan/internal/testutil"
)

// TestFormatsPool: FORMATS.md's tables of a ring's pool (control block,
// block table entry, the entry's word, the run states, the reference) are
// where PoolInit, PoolWordsOf, PoolWord and PoolRef put them.
func TestFormatsPool(t *testing.T) {
	doc := testutil.ReadFormats(t)
	const blockSize, blocks = 65536, 3
	_, dataOff, fileSize := PoolGeometry(blocks*blockSize, blockSize)
	if dataOff != 4096 || fileSize != 4096+blocks*blockSize {
		t.Errorf("PoolGeometry: dataOff %d, file size %d", dataOff, fileSize)
	}
	p := make([]byte, PoolCtlSize+blocks*PoolEntrySize)
	PoolInit(p, blockSize, blocks, dataOff, 0x0102030405060708)
	w := PoolWordsOf(p)
	rows := doc.Layout(t, "pool-control")
	testutil.CheckFields(t, "layout: pool-control", rows, []field{
		{Name: "layout", Offset: offPoolLayout, Size: 4},
		{Name: "blockSize", Offset: offPoolBlockSize, Size: 4},
		{Name: "blocks", Offset: offPoolBlocks, Size: 4},
		{Name: "dataOff", Offset: offPoolDataOff, Size: 4},
		wordField("recovered", &p[0], w.Recovered),
		{Name: "owner", Offset: offPoolOwner, Size: 8},
		wordField("sequence", &p[0], w.Seq),
		wordField("lockWord", &p[0], w.Lock),
		wordField("roomWord", &p[0], w.Room),
		{Name: "table", Offset: PoolCtlSize, Size: -1},
	}, -1)
	at := func(name string) uint64 {
		for _, r := range rows {
			if r.Name == name {
				if r.Size == 8 {
					return binary.LittleEndian.Uint64(p[r.Offset:])
				}
				return uint64(binary.LittleEndian.Uint32(p[r.Offset:]))
			}
		}
		t.Fatalf("no %s in the pool-control table", name)
		return 0
	}
	if at("layout") != PoolLayout || at("blockSize") != blockSize || at("blocks") != blocks || at("dataOff") != uint64(dataOff) || at("owner") != 0x0102030405060708 {
		t.Errorf("PoolInit wrote layout %d, blockSize %d, blocks %d, dataOff %d, owner %#x where FORMATS.md says",
			at("layout"), at("blockSize"), at("blocks"), at("dataOff"), at("owner"))
	}
	if l, bs, n, d := ReadPoolGeometry(p); l != PoolLayout || bs != blockSize || n != blocks || int(d) != dataOff || PoolOwner(p) != 0x0102030405060708 {
		t.Errorf("ReadPoolGeometry = %d %d %d %d, PoolOwner %#x", l, bs, n, d, PoolOwner(p))
	}

	testutil.CheckFields(t, "layout: pool-entry", doc.Layout(t, "pool-entry"), []field{
		{Name: "word", Offset: 0, Size: 8},
		{Name: "aux", Offset: 8, Size: 8},
	}, PoolEntrySize)
	testutil.CheckFields(t, "bits: pool-word", doc.Bits(t, "pool-word"), []field{
		maskField(t, "state", PoolWord(7, 0, 0)),
		maskField(t, "blocks", PoolWord(0, ^uint32(0), 0)),
		maskField(t, "pid", PoolWord(0, 0, ^uint32(0))),
	}, 64)
	if st, n, pid := ParsePoolWord(PoolWord(PoolViewed, 1<<29-1, 4194303)); st != PoolViewed || n != 1<<29-1 || pid != 4194303 {
		t.Errorf("ParsePoolWord(PoolWord) = %d, %d, %d", st, n, pid)
	}
	states := doc.Values(t, "pool-states")
	want := map[string]int{"Free": PoolFree, "Loaned": PoolLoaned, "Queued": PoolQueued, "Viewed": PoolViewed}
	if !mapsEqual(states, want) {
		t.Errorf("FORMATS.md's run states are %v; the code's %v", states, want)
	}

	ref := make([]byte, PoolRefSize)
	PoolRef(ref, 0x0a0b0c0d, 0x11, 0x22, 0x0102030405060708)
	testutil.CheckFields(t, "layout: pool-ref", doc.Layout(t, "pool-ref"), []field{
		{Name: "magic", Offset: 0, Size: len(poolRefMagic)},
		{Name: "size", Offset: 8, Size: 8},
		{Name: "block", Offset: 16, Size: 4},
		{Name: "blocks", Offset: 20, Size: 4},
		{Name: "seq", Offset: 24, Size: 8},
	}, PoolRefSize)
	if binary.LittleEndian.Uint64(ref[8:]) != 0x0a0b0c0d || binary.LittleEndian.Uint32(ref[16:]) != 0x11 || binary.LittleEndian.Uint32(ref[20:]) != 0x22 || [4]byte(ref) != poolRefMagic {
		t.Errorf("PoolRef wrote %x", ref)
	}
	if size, b, n, seq, ok := ParsePoolRef(ref); !ok || size != 0x0a0b0c0d || b != 0x11 || n != 0x22 || seq != 0x0102030405060708 {
		t.Errorf("ParsePoolRef(PoolRef) = %d, %d, %d, %#x, %v", size, b, n, seq, ok)
	}
}
