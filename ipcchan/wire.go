package ipcchan

import (
	"fmt"
	"reflect"
	"unsafe"

	"github.com/ipcchan/ipcchan/codec"
)

// A Wire is the message format of a Queue[T]: how one value of T becomes
// the bytes of one message, and back. []byte and string values are the
// bytes themselves (what C sends); every other T is its codec's encoding
// behind the 12-byte type header. Queue[T] uses a Wire, and so do the other
// transports of the Sender and Receiver interfaces (package natsq), so that
// a message keeps its bytes from one transport to another: the bridge of
// cmd/ipcchan forwards them untouched, and a Queue[Job] on one machine
// talks to a natsq.Queue[Job] on another. A Wire is safe for concurrent use.
type Wire[T any] struct {
	kind     payload
	codec    codec.Codec
	header   [headerSize]byte
	typeName string
}

// NewWire returns the format of values of T encoded with cd, or with the
// default codec when cd is nil: codec.Raw for []byte and string types,
// codec.Msgpack for every other type. A codec that cannot carry T is an
// *Error (ErrInvalid) whose Detail says why.
func NewWire[T any](cd codec.Codec) (*Wire[T], error) {
	w, detail := makeWire[T](cd)
	if detail != "" {
		return nil, &Error{Kind: "wire", Op: "new", Err: ErrInvalid, Detail: detail}
	}
	return &w, nil
}

// makeWire builds the Wire, or explains why it cannot.
func makeWire[T any](cd codec.Codec) (Wire[T], string) {
	rt := reflect.TypeFor[T]()
	w := Wire[T]{codec: cd, typeName: rt.String()}
	if w.codec == nil {
		w.codec = codec.For(rt)
	}
	switch {
	case w.codec != codec.Raw:
		w.kind = payloadTyped
		w.header = makeHeader(w.codec.Name(), rt)
	case rt.Kind() == reflect.String:
		w.kind = payloadString
	case codec.IsRaw(rt):
		w.kind = payloadBytes
	default:
		return w, fmt.Sprintf("codec.Raw carries only []byte and string, not %s; leave WithCodec out to use msgpack", rt)
	}
	return w, ""
}

// Overhead is the number of bytes a message has beyond its value's
// encoding: 12 for typed values (the header), 0 for []byte and string.
func (w *Wire[T]) Overhead() int {
	if w.kind == payloadTyped {
		return headerSize
	}
	return 0
}

// TypeName is the name of T, as errors show it.
func (w *Wire[T]) TypeName() string { return w.typeName }

// Append appends the message that carries v to dst and returns the
// extended slice. An error comes from the codec.
func (w *Wire[T]) Append(dst []byte, v T) ([]byte, error) {
	switch w.kind {
	case payloadBytes:
		return append(dst, *(*[]byte)(unsafe.Pointer(&v))...), nil
	case payloadString:
		return append(dst, *(*string)(unsafe.Pointer(&v))...), nil
	}
	dst = append(dst, w.header[:]...)
	return w.codec.Append(dst, v)
}

// Decode returns the value that msg carries. The value does not keep msg.
// A message that is not a T is a *MessageError (ErrTypeMismatch or
// ErrCorrupt) holding a copy of msg; its Queue, Op and Priority are left
// for the caller to fill in.
func (w *Wire[T]) Decode(msg []byte) (T, error) {
	var v T
	switch w.kind {
	case payloadBytes:
		*(*[]byte)(unsafe.Pointer(&v)) = append([]byte(nil), msg...)
	case payloadString:
		*(*string)(unsafe.Pointer(&v)) = string(msg)
	default:
		if why := checkHeader(msg, &w.header, w.typeName); why != "" {
			return v, &MessageError{Data: append([]byte(nil), msg...), Err: ErrTypeMismatch, Detail: why}
		}
		if err := w.codec.Decode(msg[headerSize:], &v); err != nil {
			var zero T
			return zero, &MessageError{Data: append([]byte(nil), msg...), Err: ErrCorrupt,
				Detail: fmt.Sprintf("its header says %s but the payload does not decode: %v", w.typeName, err)}
		}
	}
	return v, nil
}
