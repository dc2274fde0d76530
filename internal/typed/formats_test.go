package typed

import (
	"encoding/binary"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/ipcchan/ipcchan/codec"
	"github.com/ipcchan/ipcchan/internal/ipcerr"
	"github.com/ipcchan/ipcchan/internal/testutil"
)

// formatsJob is the Job of FORMATS.md's wire fingerprint vectors.
type formatsJob struct {
	ID   int
	Name string
	Tags []string `msgpack:"tags"`
}

// TestFormatsVectors: the shapes and wire fingerprints of FORMATS.md are
// this package's, which rings record and typed messages carry.
func TestFormatsVectors(t *testing.T) {
	types := map[string]reflect.Type{
		"raw []byte":             reflect.TypeFor[[]byte](),
		"raw string":             reflect.TypeFor[string](),
		"msgpack Job":            reflect.TypeFor[formatsJob](),
		"msgpack map[string]int": reflect.TypeFor[map[string]int](),
	}
	rows := testutil.ReadFormats(t).Table(t, "vectors: typed")
	if strings.Join(rows[0], ",") != "codec,Go type,shape,fingerprint" {
		t.Fatalf("the typed vectors have columns %q", rows[0])
	}
	seen := map[string]bool{}
	for _, r := range rows[1:] {
		key := r[0] + " " + r[1]
		typ, ok := types[key]
		if !ok {
			t.Errorf("FORMATS.md has a vector for %s, which this test does not declare", key)
			continue
		}
		seen[key] = true
		if s := typeShape(typ); s != r[2] {
			t.Errorf("the shape of %s is %s; FORMATS.md says %s", key, s, r[2])
		}
		if fp := fmt.Sprintf("%016x", fingerprint(r[0], typ)); fp != r[3] {
			t.Errorf("the fingerprint of %s is %s; FORMATS.md says %s", key, fp, r[3])
		}
	}
	for key := range types {
		if !seen[key] {
			t.Errorf("FORMATS.md has no vector for %s", key)
		}
	}
	// What a ring records is the same fingerprint: raw for []byte, the
	// header's for an encoded type.
	raw, err := NewWire[[]byte](ipcerr.Object{Kind: "ring", Name: "/x"}, nil, true)
	if err != nil {
		t.Fatal(err)
	}
	if raw.Fingerprint() != fingerprint("raw", reflect.TypeFor[[]byte]()) {
		t.Error("a []byte wire's fingerprint is not the raw one")
	}
	job, err := NewWire[formatsJob](ipcerr.Object{Kind: "ring", Name: "/x"}, codec.Msgpack, true)
	if err != nil {
		t.Fatal(err)
	}
	if job.Fingerprint() != fingerprint("msgpack", reflect.TypeFor[formatsJob]()) {
		t.Error("a Job wire's fingerprint is not its header's")
	}
}

// TestFormatsHeader: the typed header of FORMATS.md is what Encode writes.
func TestFormatsHeader(t *testing.T) {
	w, err := NewWire[formatsJob](ipcerr.Object{Kind: "queue", Name: "/x"}, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := w.Encode(nil, &formatsJob{ID: 1, Name: "a"})
	if err != nil {
		t.Fatal(err)
	}
	if msg[0] != frameMagic0 || msg[1] != frameMagic1 || msg[2] != frameVersion || msg[3] != 0 {
		t.Errorf("a typed message starts % x", msg[:4])
	}
	if binary.LittleEndian.Uint64(msg[4:]) != w.Fingerprint() {
		t.Errorf("the fingerprint is not at offset 4")
	}
	if p, ok := Framed(msg); !ok || len(p) != len(msg)-HeaderSize {
		t.Errorf("Framed: the payload is not after %d bytes", HeaderSize)
	}
	doc := testutil.ReadFormats(t)
	testutil.CheckFields(t, "layout: typed-header", doc.Layout(t, "typed-header"), []testutil.Field{
		{Name: "magic0", Offset: 0, Size: 1},
		{Name: "magic1", Offset: 1, Size: 1},
		{Name: "version", Offset: 2, Size: 1},
		{Name: "fingerprint", Offset: 4, Size: 8},
		{Name: "payload", Offset: HeaderSize, Size: -1},
	}, -1)
	testutil.CheckCConstants(t, doc.CConstants(t), map[string]any{
		"IPCCHAN_MSG_HEADER_SIZE":     HeaderSize,
		"IPCCHAN_MSG_MAGIC0":          frameMagic0,
		"IPCCHAN_MSG_MAGIC1":          int(frameMagic1),
		"IPCCHAN_MSG_VERSION":         frameVersion,
		"IPCCHAN_MSG_OFF_FINGERPRINT": 4,
	}, func(name string) bool { return strings.HasPrefix(name, "IPCCHAN_MSG_") })
}
