package memlayout

import (
	"fmt"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/ipcchan/ipcchan/internal/testutil"
)

// The types of FORMATS.md's layout fingerprint vectors, declared as it
// declares them.
type (
	Point struct{ X, Y int32 }
	Cell  struct {
		ID   uint64
		Vals [3]int32
		Flag bool
		Pos  [2]Point
		Temp float64
	}
	Tick struct {
		Seq   uint64
		Price float64
		Side  int32
		_     [4]byte
	}
)

// TestFormatsVectors: the layout strings and fingerprints of FORMATS.md are
// this package's, and the fingerprint is FNV-1a 64 of the layout string as
// the document says.
func TestFormatsVectors(t *testing.T) {
	types := map[string]reflect.Type{
		"uint64":       reflect.TypeFor[uint64](),
		"[4]float32":   reflect.TypeFor[[4]float32](),
		"atomic.Int64": reflect.TypeFor[atomic.Int64](),
		"Tick":         reflect.TypeFor[Tick](),
		"Cell":         reflect.TypeFor[Cell](),
	}
	rows := testutil.ReadFormats(t).Table(t, "vectors: memlayout")
	if strings.Join(rows[0], ",") != "Go type,layout string,fingerprint" {
		t.Fatalf("the memlayout vectors have columns %q", rows[0])
	}
	seen := map[string]bool{}
	for _, r := range rows[1:] {
		typ, ok := types[r[0]]
		if !ok {
			t.Errorf("FORMATS.md has a vector for %s, which this test does not declare", r[0])
			continue
		}
		seen[r[0]] = true
		var b strings.Builder
		writeLayout(&b, typ)
		if b.String() != r[1] {
			t.Errorf("the layout string of %s is %s; FORMATS.md says %s", r[0], b.String(), r[1])
		}
		if fp := fmt.Sprintf("%016x", Of(typ).Fingerprint); fp != r[2] {
			t.Errorf("the fingerprint of %s is %s; FORMATS.md says %s", r[0], fp, r[2])
		}
		if fp := fmt.Sprintf("%016x", fnv1a(r[1])); fp != r[2] {
			t.Errorf("FNV-1a 64 of FORMATS.md's layout string of %s is %s, not the %s it says", r[0], fp, r[2])
		}
	}
	for name := range types {
		if !seen[name] {
			t.Errorf("FORMATS.md has no vector for %s", name)
		}
	}
}

// fnv1a is FNV-1a 64 as FORMATS.md spells it out.
func fnv1a(s string) uint64 {
	h := uint64(0xcbf29ce484222325)
	for i := range len(s) {
		h = (h ^ uint64(s[i])) * 0x100000001b3
	}
	return h
}
