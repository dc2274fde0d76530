package codec

import (
	"encoding/binary"
	"errors"
	"reflect"
	"strings"
	"testing"
)

type point struct {
	X, Y int32
	Tag  [4]byte
}

// TestLayoutIsTheBytes: a value is its bytes in memory, in the machine's
// byte order, and back; types with pointers and messages of another size
// are refused.
func TestLayoutIsTheBytes(t *testing.T) {
	p := point{X: 1, Y: -2, Tag: [4]byte{'a', 'b', 'c', 'd'}}
	b, err := Layout.Append([]byte{0xee}, p)
	if err != nil || len(b) != 13 || b[0] != 0xee {
		t.Fatalf("Append = %x, %v", b, err)
	}
	if x, y := binary.NativeEndian.Uint32(b[1:]), binary.NativeEndian.Uint32(b[5:]); x != 1 || int32(y) != -2 || string(b[9:]) != "abcd" {
		t.Errorf("Append wrote %x", b[1:])
	}
	var q point
	if err := Layout.Decode(b[1:], &q); err != nil || q != p {
		t.Errorf("Decode = %+v, %v", q, err)
	}
	var ce *Error
	if err := Layout.Decode(b[1:5], &q); !errors.As(err, &ce) || !strings.Contains(err.Error(), "4 bytes, not the 12") {
		t.Errorf("Decode of 4 bytes = %v", err)
	}
	type named struct {
		ID   int
		Name string
	}
	if _, err := Layout.Append(nil, named{}); !errors.As(err, &ce) || !strings.Contains(err.Error(), "named.Name is a string") {
		t.Errorf("Append of a struct with a string = %v", err)
	}
	if err := CheckLayout(reflect.TypeFor[named]()); err == nil {
		t.Error("CheckLayout accepted a string field")
	}
	if err := CheckLayout(reflect.TypeFor[point]()); err != nil {
		t.Errorf("CheckLayout(point) = %v", err)
	}
}
