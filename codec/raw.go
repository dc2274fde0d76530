package codec

import (
	"errors"
	"reflect"
)

// Raw is the codec for []byte and string: the message is the bytes
// themselves, with no framing, exactly what mq_send in C sends.
var Raw Codec = raw{}

type raw struct{}

func (raw) Name() string { return "raw" }

func (raw) Append(dst []byte, v any) ([]byte, error) {
	switch x := v.(type) {
	case []byte:
		return append(dst, x...), nil
	case string:
		return append(dst, x...), nil
	}
	rv := reflect.ValueOf(v)
	if v != nil && IsRaw(rv.Type()) {
		if rv.Kind() == reflect.String {
			return append(dst, rv.String()...), nil
		}
		return append(dst, rv.Bytes()...), nil
	}
	return dst, &Error{"raw", "encode", typeName(v), errRawType}
}

func (raw) Decode(data []byte, v any) error {
	switch p := v.(type) {
	case *[]byte:
		*p = append([]byte(nil), data...)
		return nil
	case *string:
		*p = string(data)
		return nil
	}
	rv := reflect.ValueOf(v)
	if v != nil && rv.Kind() == reflect.Pointer && !rv.IsNil() && IsRaw(rv.Type().Elem()) {
		e := rv.Elem()
		if e.Kind() == reflect.String {
			e.SetString(string(data))
		} else {
			e.SetBytes(append([]byte(nil), data...))
		}
		return nil
	}
	return &Error{"raw", "decode", typeName(v), errRawType}
}

var errRawType = errors.New("the raw codec carries only []byte and string")
