package typed

import (
	"encoding/binary"
	"fmt"
	"reflect"
	"unsafe"

	"github.com/ipcchan/ipcchan/codec"
	"github.com/ipcchan/ipcchan/internal/ipcerr"
	"github.com/ipcchan/ipcchan/internal/memlayout"
)

// Payload says how values of T become message bytes.
type Payload uint8

const (
	Bytes  Payload = iota // T is a []byte type: the bytes themselves
	String                // T is a string type: its bytes
	Layout                // T is pointer-free, with codec.Layout: its bytes in memory
	Typed                 // the 12-byte header, then the codec's encoding
)

// A Wire is the message format of one handle of a typed queue, on any
// transport: how one value of T becomes the bytes of one message and
// back, with the checks and the errors of both directions. []byte and
// string values are the bytes themselves (what C sends), and so is a
// pointer-free T with codec.Layout (its bytes in memory, as a C struct's),
// copied with no codec call, allocation or reflection; every other T is its
// codec's encoding behind the type header (frame.go). The same bytes on
// every transport let cmd/ipcchan's bridge forward messages untouched. A
// Wire is safe for concurrent use once made.
type Wire[T any] struct {
	obj      ipcerr.Object
	kind     Payload
	codec    codec.Codec
	header   [HeaderSize]byte
	typeName string
	size     int // of T, for Layout
	noEOF    bool

	// The largest message the transport carries, set by SetLimit.
	maxSize   int
	limitText string        // "its MsgSize of 8192"
	hint      func() string // what to do about a message too large
}

// NewWire returns the format of values of T encoded with cd, or with the
// default codec when cd is nil: codec.Raw for []byte and string types,
// codec.Msgpack for every other type. A codec that cannot carry T is an
// *ipcerr.Error (ErrInvalid) of obj's open. With noEOF, a zero-byte
// message is data, not the end of the stream (NoEndOfStream).
func NewWire[T any](obj ipcerr.Object, cd codec.Codec, noEOF bool) (*Wire[T], error) {
	rt := reflect.TypeFor[T]()
	w := &Wire[T]{obj: obj, codec: cd, typeName: rt.String(), noEOF: noEOF, maxSize: -1}
	if w.codec == nil { // a queue's default: bytes as they are, the rest in MessagePack
		w.codec = codec.Msgpack
		if codec.IsRaw(rt) {
			w.codec = codec.Raw
		}
	}
	switch {
	case w.codec == codec.Layout:
		if err := codec.CheckLayout(rt); err != nil {
			return nil, obj.Err("open", ipcerr.ErrInvalid, fmt.Sprintf("%s cannot travel as its bytes (codec.Layout): %v", rt, err))
		}
		w.kind, w.size = Layout, int(rt.Size())
	case w.codec != codec.Raw:
		w.kind = Typed
		w.header = makeHeader(w.codec.Name(), rt)
	case rt.Kind() == reflect.String:
		w.kind = String
	case codec.IsRaw(rt):
		w.kind = Bytes
	default:
		return nil, obj.Err("open", ipcerr.ErrInvalid, fmt.Sprintf("codec.Raw carries only []byte and string, not %s; leave WithCodec out to use msgpack", rt))
	}
	return w, nil
}

// Kind tells how values become bytes.
func (w *Wire[T]) Kind() Payload { return w.kind }

// TypeName is the name of T, as errors show it.
func (w *Wire[T]) TypeName() string { return w.typeName }

// Fingerprint identifies the format of T's messages: the type header's
// fingerprint for a codec, the memory layout's for Layout, the shape's for
// []byte and string. A ring records it, to refuse other types.
func (w *Wire[T]) Fingerprint() uint64 {
	switch w.kind {
	case Typed:
		return binary.LittleEndian.Uint64(w.header[4:])
	case Layout:
		return memlayout.Of(reflect.TypeFor[T]()).Fingerprint
	}
	return fingerprint("raw", reflect.TypeFor[T]())
}

// Size is the size of a message of a Layout wire: T's; 0 for the others.
func (w *Wire[T]) Size() int { return w.size }

// NoEOF reports whether zero-byte messages are data on this handle.
func (w *Wire[T]) NoEOF() bool { return w.noEOF }

// IsEOF reports whether msg is the end of the stream.
func (w *Wire[T]) IsEOF(msg []byte) bool { return len(msg) == 0 && !w.noEOF }

// CheckMsgSize refuses a message size that leaves a typed message no room
// beyond its header, or is too small for T's bytes: what says so is "its
// MsgSize 8" or "MsgSize(8)".
func (w *Wire[T]) CheckMsgSize(size int, what string) error {
	switch {
	case w.kind == Typed && size <= HeaderSize:
		return w.obj.Err("open", ipcerr.ErrInvalid, fmt.Sprintf(
			"%s leaves no room: typed messages need a %d-byte header plus the encoded value; use []byte messages, or a larger MsgSize", what, HeaderSize))
	case w.kind == Layout && size < w.size:
		return w.obj.Err("open", ipcerr.ErrInvalid, fmt.Sprintf(
			"%s is smaller than a %s (%d bytes), which codec.Layout sends whole; leave MsgSize out (it defaults to the size of T), or use a larger one", what, w.typeName, w.size))
	}
	return nil
}

// SetLimit sets the largest message the transport carries, max bytes,
// described as limitText ("its MsgSize of 8192") in the error of a larger
// one, with hint (called only then) saying what to do.
func (w *Wire[T]) SetLimit(max int, limitText string, hint func() string) {
	w.maxSize, w.limitText, w.hint = max, limitText, hint
}

// Encode returns the message that carries *v, checked against the limit
// and the end-of-stream rule before anything is sent. For []byte, string
// and Layout types it is v's own bytes, which the caller must not modify
// while it uses the message; typed values are appended to dst.
func (w *Wire[T]) Encode(dst []byte, v *T) ([]byte, error) {
	var msg []byte
	switch w.kind {
	case Bytes:
		msg = *(*[]byte)(unsafe.Pointer(v))
	case String:
		s := *(*string)(unsafe.Pointer(v))
		msg = unsafe.Slice(unsafe.StringData(s), len(s)) // read only
	case Layout:
		msg = unsafe.Slice((*byte)(unsafe.Pointer(v)), w.size)
	default:
		var err error
		if msg, err = w.codec.Append(append(dst, w.header[:]...), *v); err != nil {
			return nil, w.obj.Fail("send", ipcerr.ErrInvalid, err, fmt.Sprintf("cannot encode the %s: %v", w.typeName, err))
		}
		msg = msg[len(dst):]
	}
	switch {
	case w.maxSize >= 0 && len(msg) > w.maxSize:
		return nil, w.TooLarge(len(msg))
	case len(msg) == 0 && !w.noEOF:
		return nil, w.obj.Err("send", ipcerr.ErrInvalid, "an empty message would end the stream for every receiver; call CloseSend for that")
	}
	return msg, nil
}

// TooLarge is the error of a message of n bytes over the limit.
func (w *Wire[T]) TooLarge(n int) *ipcerr.Error {
	what := fmt.Sprintf("message of %d bytes", n)
	if w.kind == Typed {
		what = fmt.Sprintf("%s of %d bytes (%d-byte header + %d encoded)", w.typeName, n, HeaderSize, n-HeaderSize)
	}
	e := w.obj.Err("send", ipcerr.ErrTooLarge, what+" exceeds "+w.limitText)
	if w.hint != nil {
		e.Hint = w.hint()
	}
	return e
}

// Decode returns the value that msg, received at priority prio, carries.
// The value does not keep msg. A message that is not a T is a
// *ipcerr.MessageError (ErrTypeMismatch or ErrCorrupt, with the codec's
// error as its Cause) holding a copy of msg.
func (w *Wire[T]) Decode(msg []byte, prio uint) (T, error) {
	var v T
	switch w.kind {
	case Bytes:
		*(*[]byte)(unsafe.Pointer(&v)) = append([]byte(nil), msg...)
	case String:
		*(*string)(unsafe.Pointer(&v)) = string(msg)
	case Layout:
		if len(msg) != w.size {
			return v, w.MessageError(msg, prio, ipcerr.ErrTypeMismatch, nil, fmt.Sprintf(
				"a %s (codec.Layout) is %d bytes, and this message has %d: sent as another type, or by a program whose struct has another size", w.typeName, w.size, len(msg)))
		}
		copy(unsafe.Slice((*byte)(unsafe.Pointer(&v)), w.size), msg)
	default:
		return w.decodeTyped(msg, prio)
	}
	return v, nil
}

// DecodeOwned is Decode of a message that the caller hands over and will
// not touch again: a []byte or string value is msg itself, with no copy.
func (w *Wire[T]) DecodeOwned(msg []byte, prio uint) (T, error) {
	var v T
	switch w.kind {
	case Bytes:
		*(*[]byte)(unsafe.Pointer(&v)) = msg
	case String:
		*(*string)(unsafe.Pointer(&v)) = unsafe.String(unsafe.SliceData(msg), len(msg))
	default:
		return w.Decode(msg, prio)
	}
	return v, nil
}

// decodeTyped decodes a message of the codec, apart from Decode so that
// the value the codec needs on the heap is not there for the other kinds.
func (w *Wire[T]) decodeTyped(msg []byte, prio uint) (T, error) {
	var v T
	if why := checkHeader(msg, &w.header, w.typeName); why != "" {
		return v, w.MessageError(msg, prio, ipcerr.ErrTypeMismatch, nil, why)
	}
	if err := w.codec.Decode(msg[HeaderSize:], &v); err != nil {
		var zero T
		return zero, w.MessageError(msg, prio, ipcerr.ErrCorrupt, err,
			fmt.Sprintf("its header says %s but the payload does not decode: %v", w.typeName, err))
	}
	return v, nil
}

// MessageError reports a received message that is not handed over as a
// value, holding a copy of its bytes.
func (w *Wire[T]) MessageError(msg []byte, prio uint, sentinel, cause error, detail string) *ipcerr.MessageError {
	return &ipcerr.MessageError{Kind: w.obj.Kind, Queue: w.obj.Name, Op: "receive", Priority: prio, Data: append([]byte(nil), msg...),
		Err: sentinel, Cause: cause, Detail: detail}
}

// NewCopyWire is NewWire for a transport that copies a pointer-free T
// whole (a ring, a topic, a service's records): with no codec given, such
// a T travels as its bytes (codec.Layout), any other T with the default
// codec.
func NewCopyWire[T any](obj ipcerr.Object, cd codec.Codec, noEOF bool) (*Wire[T], error) {
	if rt := reflect.TypeFor[T](); cd == nil && !codec.IsRaw(rt) && codec.CheckLayout(rt) == nil {
		cd = codec.Layout // a pointer-free T is copied, not encoded
	}
	return NewWire[T](obj, cd, noEOF)
}
