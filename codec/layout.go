package codec

import (
	"errors"
	"fmt"
	"reflect"
	"unsafe"

	"github.com/ipcchan/ipcchan/internal/memlayout"
)

// Layout carries a value of a pointer-free type as its bytes, exactly as
// they lie in memory, with no header: what a C program sends with
// mq_send(q, &order, sizeof order, prio) arrives as a Queue[Order] value,
// and the reverse. The types it takes are those Shm takes: numbers, bools,
// fixed arrays, structs of these and sync/atomic's value types; no
// pointers, strings, slices, maps or interfaces.
//
//	type Order struct { // struct order { int64_t id; double price; int32_t qty; uint8_t side; uint8_t pad[3]; };
//		ID    int64
//		Price float64
//		Qty   int32
//		Side  uint8
//		_     [3]byte
//	}
//	q, err := ipcchan.OpenQueue[Order]("/orders", ipcchan.WithCodec(codec.Layout))
//
// A message is exactly unsafe.Sizeof(T) bytes; one of another length is
// refused as a type mismatch. That is all Layout can check: a message of
// the right size from a C struct with other fields, in another order, of
// other types or of another byte order decodes into nonsense. Make the two
// layouts agree by construction: fixed-size integer types on both sides
// (int64_t for int64, never long or int for Go's int), the same field
// order, explicit padding fields (_ [3]byte in Go where C pads, or
// __attribute__((packed)) on neither side), and the machine's byte order
// (binary.NativeEndian) for numbers decoded by hand; a test that sends a
// value from each side and compares the fields catches the rest.
//
// ipcchan's queues and rings copy T's bytes themselves, with no call to
// Append or Decode and no allocation or reflection per message; Append and
// Decode serve code that uses the codec on its own.
var Layout Codec = layoutCodec{}

type layoutCodec struct{}

func (layoutCodec) Name() string { return "layout" }

// CheckLayout reports why values of t cannot travel as their bytes
// (codec.Layout) or live in shared memory, naming the first offending
// field ("Order.Note is a string (a pointer to its bytes); use a fixed
// array such as [32]byte"), or returns nil.
func CheckLayout(t reflect.Type) error {
	if why := memlayout.Of(t).Unsafe; why != "" {
		return errors.New(why)
	}
	if t.Size() == 0 {
		return fmt.Errorf("%s has no size", t)
	}
	return nil
}

func (layoutCodec) Append(dst []byte, v any) ([]byte, error) {
	rv := reflect.ValueOf(v)
	if !rv.IsValid() {
		return dst, &Error{"layout", "encode", "nil", errors.New("no value")}
	}
	if err := CheckLayout(rv.Type()); err != nil {
		return dst, &Error{"layout", "encode", rv.Type().String(), err}
	}
	p := reflect.New(rv.Type())
	p.Elem().Set(rv)
	return append(dst, unsafe.Slice((*byte)(p.UnsafePointer()), rv.Type().Size())...), nil
}

func (layoutCodec) Decode(data []byte, v any) error {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return &Error{"layout", "decode", typeName(v), errors.New("want a non-nil pointer")}
	}
	t := rv.Type().Elem()
	if err := CheckLayout(t); err != nil {
		return &Error{"layout", "decode", t.String(), err}
	}
	if uintptr(len(data)) != t.Size() {
		return &Error{"layout", "decode", t.String(), fmt.Errorf("%d bytes, not the %d of a %s", len(data), t.Size(), t)}
	}
	copy(unsafe.Slice((*byte)(rv.UnsafePointer()), t.Size()), data)
	return nil
}
