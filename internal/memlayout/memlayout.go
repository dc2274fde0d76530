// Package memlayout knows which Go types can be shared as their bytes
// (in shared memory, or as a message that is T's bytes, codec.Layout):
// numbers, bools, fixed arrays and structs of those, and sync/atomic's
// value types; and it fingerprints their memory layout, so that two
// programs can tell whether they agree on what each byte means.
package memlayout

import (
	"fmt"
	"hash/fnv"
	"reflect"
	"strconv"
	"strings"
	"sync"
)

// A Layout is what memlayout knows of a type, computed once per type.
type Layout struct {
	Unsafe      string // why its values cannot be shared as their bytes, or ""
	Fingerprint uint64 // of its memory layout, when Unsafe is ""
}

var layouts sync.Map // reflect.Type -> Layout

// Of returns what memlayout knows of t.
func Of(t reflect.Type) Layout {
	if v, ok := layouts.Load(t); ok {
		return v.(Layout)
	}
	l := Layout{Unsafe: unsafeReason(t)}
	if l.Unsafe == "" {
		l.Fingerprint = fingerprint(t)
	}
	layouts.Store(t, l)
	return l
}

// unsafeReason explains why values of t cannot be shared as their bytes,
// naming the first offending field by its path ("Stats.Hist[0].Name is a
// string"), or returns "" when t holds only numbers, bools, fixed arrays
// and structs of those (sync/atomic's value types among them).
func unsafeReason(t reflect.Type) string {
	root := t.Name()
	if root == "" {
		root = t.String()
	}
	return unsafeAt(t, root)
}

func unsafeAt(t reflect.Type, path string) string {
	if t.PkgPath() == "sync" {
		return fmt.Sprintf("%s is a sync.%s, which works within one process only; use ipcchan.Mutex or ipcchan.WaitGroup", path, t.Name())
	}
	switch t.Kind() {
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64, reflect.Complex64, reflect.Complex128:
		return ""
	case reflect.Array:
		return unsafeAt(t.Elem(), path+"[0]")
	case reflect.Struct:
		for i := range t.NumField() {
			f := t.Field(i)
			if why := unsafeAt(f.Type, path+"."+f.Name); why != "" {
				return why
			}
		}
		return ""
	case reflect.Uintptr:
		return path + " is a uintptr, an address that means nothing in another process"
	case reflect.Pointer, reflect.UnsafePointer:
		return path + " is a pointer, which means nothing in another process"
	case reflect.String:
		return path + " is a string (a pointer to its bytes); use a fixed array such as [32]byte"
	case reflect.Slice:
		return path + " is a slice (a pointer to its elements); use a fixed array, or ShmSlice"
	case reflect.Map:
		return path + " is a map, which lives on this process's heap"
	case reflect.Interface:
		return path + " is an interface, which holds a pointer"
	case reflect.Chan:
		return path + " is a channel, which works within one process only"
	case reflect.Func:
		return path + " is a func, which means nothing in another process"
	}
	return fmt.Sprintf("%s is a %v", path, t.Kind())
}

// fingerprint identifies the memory layout of t: the offset, size
// and kind of every field, with field names, recursively. Two programs that
// agree on it agree on what each byte of the object means.
func fingerprint(t reflect.Type) uint64 {
	var b strings.Builder
	writeLayout(&b, t)
	f := fnv.New64a()
	f.Write([]byte(b.String()))
	return f.Sum64()
}

func writeLayout(b *strings.Builder, t reflect.Type) {
	switch t.Kind() {
	case reflect.Struct:
		b.WriteString("{")
		for i := range t.NumField() {
			f := t.Field(i)
			b.WriteString(f.Name + "@" + strconv.FormatUint(uint64(f.Offset), 10) + ":")
			writeLayout(b, f.Type)
			b.WriteString(";")
		}
		b.WriteString("}")
	case reflect.Array:
		b.WriteString("[" + strconv.Itoa(t.Len()) + "]")
		writeLayout(b, t.Elem())
	default:
		b.WriteString(t.Kind().String())
	}
	b.WriteString("/" + strconv.FormatUint(uint64(t.Size()), 10))
}
