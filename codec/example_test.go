package codec_test

import (
	"fmt"
	"reflect"

	"github.com/ipcchan/ipcchan/codec"
)

// Line is a string type: Raw carries it as its bytes.
type Line string

// Order is a pointer-free struct: Layout carries it as its bytes.
type Order struct {
	ID  uint64
	Qty int32
	_   [4]byte
}

// Note holds a string, a pointer: only an encoding such as Msgpack
// carries it.
type Note struct {
	ID   uint64
	Text string
}

// bytesCodec returns the codec that carries values of T most directly:
// Raw for byte and string types, Layout for pointer-free types (what a C
// peer reads as its own struct), Msgpack for the rest.
func bytesCodec[T any]() codec.Codec {
	t := reflect.TypeFor[T]()
	switch {
	case codec.IsRaw(t):
		return codec.Raw
	case codec.CheckLayout(t) == nil:
		return codec.Layout
	}
	return codec.Msgpack
}

func ExampleIsRaw() {
	fmt.Println(codec.IsRaw(reflect.TypeFor[[]byte]()), codec.IsRaw(reflect.TypeFor[Line]()), codec.IsRaw(reflect.TypeFor[[]int32]()))
	fmt.Println(bytesCodec[[]byte]().Name(), bytesCodec[Line]().Name(), bytesCodec[Order]().Name(), bytesCodec[Note]().Name())

	b, err := codec.Raw.Append(nil, Line("hello"))
	fmt.Printf("%q %v\n", b, err)
	_, err = codec.Raw.Append(nil, []int32{1})
	fmt.Println(err)
	// Output:
	// true true false
	// raw raw layout msgpack
	// "hello" <nil>
	// raw encode []int32: the raw codec carries only []byte and string
}
