// Package codec turns values into message bytes and back.
//
// A Codec knows nothing of queues: ipcchan frames what it produces. Raw
// passes []byte and string through untouched, so a Go program and a C
// program see the same bytes. Layout carries a pointer-free struct as its
// bytes, with no header, so that a C struct and a Go struct of the same
// layout are the same message. Msgpack (MessagePack, from
// github.com/vmihailenco/msgpack/v5) is the default for every other type.
package codec

import (
	"fmt"
	"reflect"
)

// A Codec encodes values to bytes and decodes them back. Implementations
// must be safe for concurrent use.
type Codec interface {
	// Name identifies the encoding (for example "raw" or "msgpack"); two
	// peers agree on a typed message only if they use the same name.
	Name() string
	// Append appends the encoding of v to dst and returns the result.
	Append(dst []byte, v any) ([]byte, error)
	// Decode decodes data into v, a non-nil pointer. It must not keep data,
	// which the caller reuses.
	Decode(data []byte, v any) error
}

// IsRaw reports whether t is a type that Raw carries: []byte or string, or
// a type defined on them (type Line string). Raw refuses every other type,
// as Layout refuses the types CheckLayout reports; code that picks a codec
// for a type parameter asks both.
func IsRaw(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.String:
		return true
	case reflect.Slice:
		return t.Elem().Kind() == reflect.Uint8
	}
	return false
}

// Error is a failure to encode or decode a value of a given type.
type Error struct {
	Codec string
	Op    string // "encode" or "decode"
	Type  string
	Err   error
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s %s %s: %v", e.Codec, e.Op, e.Type, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

func typeName(v any) string {
	if v == nil {
		return "nil"
	}
	return reflect.TypeOf(v).String()
}
