package typed

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestTypeShape(t *testing.T) {
	type A struct {
		ID   int
		Name string `msgpack:"name,omitempty"`
		skip int    //lint:ignore U1000 an unexported field, which codecs skip
		Gone int    `msgpack:"-"`
		At   time.Time
		Next *A
		M    map[string][]byte
		Arr  [3]uint16
		Any  any
	}
	got := typeShape(reflect.TypeFor[A]())
	want := "struct{ID int;name string;At time.Time;Next *@typed.A;M map[string][]uint8;Arr [3]uint16;Any any;}"
	if got != want {
		t.Errorf("typeShape =\n%s\nwant\n%s", got, want)
	}
}

func TestFingerprintSeparatesTypes(t *testing.T) {
	type P struct{ X, Y int }
	type Q struct{ X, Y int } // same shape, other name: same type on the wire
	type R struct{ Y, X int } // other order
	type S struct{ X, Y int64 }
	fp := func(tp reflect.Type) uint64 { return fingerprint("msgpack", tp) }
	if fp(reflect.TypeFor[P]()) != fp(reflect.TypeFor[Q]()) {
		t.Error("same shape, different fingerprints")
	}
	seen := map[uint64]string{}
	for _, tp := range []reflect.Type{reflect.TypeFor[P](), reflect.TypeFor[R](), reflect.TypeFor[S](), reflect.TypeFor[int](), reflect.TypeFor[[]int](), reflect.TypeFor[string]()} {
		f := fp(tp)
		if other, dup := seen[f]; dup {
			t.Errorf("%v and %s share a fingerprint", tp, other)
		}
		seen[f] = tp.String()
	}
	if fingerprint("msgpack", reflect.TypeFor[P]()) == fingerprint("json", reflect.TypeFor[P]()) {
		t.Error("the codec name does not count")
	}
}

func TestCheckHeader(t *testing.T) {
	h := makeHeader("msgpack", reflect.TypeFor[int]())
	msg := append(h[:], 0x01)
	if why := checkHeader(msg, &h, "int"); why != "" {
		t.Errorf("own header refused: %s", why)
	}
	other := makeHeader("msgpack", reflect.TypeFor[string]())
	for _, tc := range []struct {
		msg  []byte
		want string
	}{
		{[]byte("plain"), "not a typed ipcchan message"},
		{h[:5], "not a typed ipcchan message"},
		{append(other[:], 0xa0), "sent as another type"},
		{append([]byte{0xC1, 'Q', 9, 0}, h[4:]...), "format version 9"},
	} {
		if why := checkHeader(tc.msg, &h, "int"); !strings.Contains(why, tc.want) {
			t.Errorf("checkHeader(%x) = %q, want %q", tc.msg, why, tc.want)
		}
	}
}
