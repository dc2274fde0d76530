package typed

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"reflect"
	"strconv"
	"strings"
)

// Typed messages (every codec but Raw) start with a 12-byte header:
//
//	offset 0  0xC1         a byte MessagePack never uses, so a typed message
//	                       cannot be mistaken for a bare MessagePack value
//	offset 1  'Q'
//	offset 2  version      frameVersion
//	offset 3  0            reserved
//	offset 4  fingerprint  uint64, little endian: FNV-1a of the codec name
//	                       and the shape of the type (see typeShape)
//	offset 12 payload      the codec's encoding of the value
//
// A message of zero bytes, in any queue, marks the end of the stream.
const (
	frameMagic0  = 0xC1
	frameMagic1  = 'Q'
	frameVersion = 1
	HeaderSize   = 12
)

// Framed reports whether msg starts like a typed message (its magic), and
// returns the payload after the header: what a tool that does not know the
// type (cmd/ipcchan's recv) may try to decode.
func Framed(msg []byte) (payload []byte, ok bool) {
	if len(msg) < HeaderSize || msg[0] != frameMagic0 || msg[1] != frameMagic1 {
		return nil, false
	}
	return msg[HeaderSize:], true
}

func makeHeader(codecName string, t reflect.Type) [HeaderSize]byte {
	var h [HeaderSize]byte
	h[0], h[1], h[2] = frameMagic0, frameMagic1, frameVersion
	binary.LittleEndian.PutUint64(h[4:], fingerprint(codecName, t))
	return h
}

func fingerprint(codecName string, t reflect.Type) uint64 {
	f := fnv.New64a()
	f.Write([]byte(codecName))
	f.Write([]byte{0})
	f.Write([]byte(typeShape(t)))
	return f.Sum64()
}

// checkHeader explains why msg does not carry the header want, or returns
// "" when it does.
func checkHeader(msg []byte, want *[HeaderSize]byte, typeName string) string {
	if _, ok := Framed(msg); !ok {
		return fmt.Sprintf("not a typed ipcchan message (no header; raw bytes from a []byte or string queue, or a C program?), so not a %s", typeName)
	}
	if msg[2] != want[2] {
		return fmt.Sprintf("typed message of format version %d; this library reads version %d", msg[2], want[2])
	}
	got, exp := binary.LittleEndian.Uint64(msg[4:]), binary.LittleEndian.Uint64(want[4:])
	if got != exp {
		return fmt.Sprintf("sent as another type (fingerprint %016x), not as %s (fingerprint %016x)", got, typeName, exp)
	}
	return ""
}

// typeShape describes what a codec sees of t: field names as encoded and
// field types, recursively, but not the names of defined types, so that two
// programs that declare the same struct in different packages agree. Types
// that encode themselves (EncodeMsgpack, MarshalMsgpack, MarshalBinary,
// MarshalText: time.Time, for instance) are described by their full name.
func typeShape(t reflect.Type) string {
	var b strings.Builder
	writeShape(&b, t, map[reflect.Type]bool{})
	return b.String()
}

var selfEncoding = []string{"EncodeMsgpack", "MarshalMsgpack", "MarshalBinary", "MarshalText"}

func writeShape(b *strings.Builder, t reflect.Type, seen map[reflect.Type]bool) {
	if t.Name() != "" && t.PkgPath() != "" {
		for _, m := range selfEncoding {
			_, ok := t.MethodByName(m)
			_, pok := reflect.PointerTo(t).MethodByName(m)
			if ok || pok {
				b.WriteString(t.PkgPath() + "." + t.Name())
				return
			}
		}
	}
	if seen[t] {
		b.WriteString("@" + t.String()) // recursive type
		return
	}
	switch t.Kind() {
	case reflect.Pointer:
		b.WriteString("*")
		seen[t] = true
		writeShape(b, t.Elem(), seen)
		delete(seen, t)
	case reflect.Slice:
		b.WriteString("[]")
		seen[t] = true
		writeShape(b, t.Elem(), seen)
		delete(seen, t)
	case reflect.Array:
		b.WriteString("[" + strconv.Itoa(t.Len()) + "]")
		writeShape(b, t.Elem(), seen)
	case reflect.Map:
		b.WriteString("map[")
		seen[t] = true
		writeShape(b, t.Key(), seen)
		b.WriteString("]")
		writeShape(b, t.Elem(), seen)
		delete(seen, t)
	case reflect.Struct:
		seen[t] = true
		b.WriteString("struct{")
		for i := range t.NumField() {
			f := t.Field(i)
			name, skip := fieldName(f)
			if skip {
				continue
			}
			b.WriteString(name + " ")
			writeShape(b, f.Type, seen)
			b.WriteString(";")
		}
		b.WriteString("}")
		delete(seen, t)
	case reflect.Interface:
		b.WriteString("any")
	default:
		b.WriteString(t.Kind().String())
	}
}

// fieldName is the name under which msgpack encodes f, and whether it
// skips f.
func fieldName(f reflect.StructField) (string, bool) {
	if !f.IsExported() && !f.Anonymous {
		return "", true
	}
	tag := f.Tag.Get("msgpack")
	name, _, _ := strings.Cut(tag, ",")
	if name == "-" {
		return "", true
	}
	if name == "" {
		name = f.Name
	}
	return name, false
}
