package codec

import (
	"bytes"
	"errors"
	"sync"

	"github.com/vmihailenco/msgpack/v5"
)

// Msgpack is the codec for every type that is not []byte or string. Structs
// are encoded as maps keyed by field name (or the `msgpack:"name"` tag), so
// any MessagePack library can read them.
var Msgpack Codec = msgpackCodec{}

type msgpackCodec struct{}

func (msgpackCodec) Name() string { return "msgpack" }

// appendWriter lets a pooled msgpack.Encoder append to a caller's slice.
type appendWriter struct{ b []byte }

func (w *appendWriter) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}

func (w *appendWriter) WriteByte(c byte) error {
	w.b = append(w.b, c)
	return nil
}

func (w *appendWriter) WriteString(s string) (int, error) {
	w.b = append(w.b, s...)
	return len(s), nil
}

type encoder struct {
	w   appendWriter
	enc *msgpack.Encoder
}

var encoders = sync.Pool{New: func() any {
	e := &encoder{}
	e.enc = msgpack.NewEncoder(&e.w)
	return e
}}

func (msgpackCodec) Append(dst []byte, v any) ([]byte, error) {
	e := encoders.Get().(*encoder)
	e.w.b = dst
	err := e.enc.Encode(v)
	out := e.w.b
	e.w.b = nil
	encoders.Put(e)
	if err != nil {
		return dst, &Error{"msgpack", "encode", typeName(v), err}
	}
	return out, nil
}

type decoder struct {
	r   bytes.Reader
	dec *msgpack.Decoder
}

var decoders = sync.Pool{New: func() any {
	d := &decoder{}
	d.dec = msgpack.NewDecoder(&d.r)
	return d
}}

var errTrailing = errors.New("trailing bytes after the value")

func (msgpackCodec) Decode(data []byte, v any) error {
	if err := checkLengths(data); err != nil {
		return &Error{"msgpack", "decode", typeName(v), err}
	}
	d := decoders.Get().(*decoder)
	d.r.Reset(data)
	d.dec.Reset(&d.r)
	err := d.dec.Decode(v)
	if err == nil && d.r.Len() > 0 {
		err = errTrailing
	}
	d.r.Reset(nil)
	decoders.Put(d)
	if err != nil {
		return &Error{"msgpack", "decode", typeName(v), err}
	}
	return nil
}
