package codec

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestRawIsByteExact(t *testing.T) {
	in := []byte{0, 1, 0xff, 'a'}
	out, err := Raw.Append([]byte("pre"), in)
	if err != nil || string(out) != "pre\x00\x01\xffa" {
		t.Fatalf("Append = %q, %v", out, err)
	}
	var b []byte
	if err := Raw.Decode(in, &b); err != nil || string(b) != string(in) {
		t.Fatalf("Decode = %q, %v", b, err)
	}
	in[0] = 9
	if b[0] != 0 {
		t.Error("Decode kept the caller's buffer")
	}
	var s string
	if err := Raw.Decode([]byte("héllo"), &s); err != nil || s != "héllo" {
		t.Fatalf("Decode string = %q, %v", s, err)
	}
	type Blob []byte
	var bl Blob
	if err := Raw.Decode([]byte("x"), &bl); err != nil || string(bl) != "x" {
		t.Fatalf("Decode Blob = %q, %v", bl, err)
	}
	if out, err := Raw.Append(nil, Blob("y")); err != nil || string(out) != "y" {
		t.Fatalf("Append Blob = %q, %v", out, err)
	}
}

func TestRawRefusesOtherTypes(t *testing.T) {
	_, err := Raw.Append(nil, 42)
	var ce *Error
	if !errors.As(err, &ce) || ce.Op != "encode" || !strings.Contains(err.Error(), "only []byte and string") {
		t.Errorf("Append(int) = %v", err)
	}
	var n int
	if err := Raw.Decode([]byte("x"), &n); err == nil {
		t.Error("Decode into *int succeeded")
	}
	if err := Raw.Decode([]byte("x"), nil); err == nil {
		t.Error("Decode into nil succeeded")
	}
}

type sample struct {
	ID    int
	Name  string `msgpack:"name"`
	Skip  string `msgpack:"-"`
	Data  []byte
	Inner struct{ X, Y float64 }
}

func TestMsgpackRoundTrip(t *testing.T) {
	in := sample{ID: 7, Name: "n", Skip: "dropped", Data: []byte{1, 2}}
	in.Inner.X = 1.5
	b, err := Msgpack.Append([]byte{0xaa}, in)
	if err != nil || b[0] != 0xaa {
		t.Fatalf("Append = %x, %v", b, err)
	}
	var out sample
	if err := Msgpack.Decode(b[1:], &out); err != nil {
		t.Fatal(err)
	}
	in.Skip = ""
	if !reflect.DeepEqual(in, out) {
		t.Errorf("round trip = %+v, want %+v", out, in)
	}
	// The decoded value does not share the input buffer.
	b[len(b)-1] ^= 0xff
	if out.Inner.Y != 0 || out.Data[0] != 1 {
		t.Error("decoded value changed with the buffer")
	}
}

func TestMsgpackRejectsBadInput(t *testing.T) {
	good, _ := Msgpack.Append(nil, sample{ID: 1})
	for name, data := range map[string][]byte{
		"truncated": good[:len(good)-2],
		"trailing":  append(append([]byte{}, good...), 0x01),
		"empty":     nil,
		"wrong":     []byte{0xa3, 'a', 'b', 'c'},    // a string, not a map
		"huge":      {0xdb, 0x7f, 0xff, 0xff, 0xff}, // a 2 GiB string header
	} {
		var out sample
		err := Msgpack.Decode(data, &out)
		var ce *Error
		if !errors.As(err, &ce) || ce.Op != "decode" {
			t.Errorf("%s: Decode = %v, want a decode error", name, err)
		}
	}
	if _, err := Msgpack.Append(nil, make(chan int)); err == nil {
		t.Error("encoding a channel succeeded")
	}
}

func BenchmarkMsgpackAppend(b *testing.B) {
	v := sample{ID: 7, Name: "name", Data: []byte("data")}
	buf := make([]byte, 0, 256)
	for range b.N {
		buf, _ = Msgpack.Append(buf[:0], v)
	}
}

func BenchmarkMsgpackDecode(b *testing.B) {
	data, _ := Msgpack.Append(nil, sample{ID: 7, Name: "name", Data: []byte("data")})
	for range b.N {
		var v sample
		Msgpack.Decode(data, &v)
	}
}

// TestMsgpackHugeLengthRefused: headers claiming more elements or bytes
// than the message holds are refused before anything is allocated (the
// fuzzer's find: 6 bytes claiming 3.7 billion elements exhausted memory).
func TestMsgpackHugeLengthRefused(t *testing.T) {
	cases := map[string][]byte{
		"array32":      {0xdd, 0xdd, 0xdd, 0x12, 0xc0, 0xc0},
		"map32":        {0xdf, 0x7f, 0xff, 0xff, 0xff, 0x01},
		"str32":        {0xdb, 0xff, 0xff, 0xff, 0xff, 'a'},
		"bin32 nested": {0x91, 0xc6, 0x7f, 0xff, 0xff, 0xff},
		"ext32":        {0xc9, 0x7f, 0xff, 0xff, 0xff, 0x01},
	}
	for name, data := range cases {
		var v struct{ Score []int64 }
		var s []string
		for _, target := range []any{&v, &s, new(map[string]int), new(any)} {
			err := Msgpack.Decode(data, target)
			if err == nil || !strings.Contains(err.Error(), "only") {
				t.Errorf("%s into %T: %v, want a refused length", name, target, err)
			}
		}
	}
	var ok []int64
	if err := Msgpack.Decode([]byte{0x93, 1, 2, 3}, &ok); err != nil || len(ok) != 3 {
		t.Errorf("a true length was refused: %v %v", ok, err)
	}
}
