// Package objfmt is the byte layout of the objects ipcchan keeps in
// /dev/shm: the header of its own objects (Mutex, WaitGroup, Shm), their
// payloads, and glibc's sem_t. Nothing outside it knows an offset of them.
package objfmt

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"sync/atomic"
	"unsafe"
)

// Objects of ipcchan's own format live in a file in /dev/shm that starts
// with a 192-byte header, little endian (the machine's order: every
// ipcchan layout is little endian, as are the machines it runs on):
//
//	offset   0  magic        "ipcchan\x00"
//	offset   8  version      uint32, Version
//	offset  12  kind         uint32: 1 shm, 2 mutex, 3 waitgroup, 4 ring, 5 large message, 6 topic, 7 pool, 8 service
//	offset  16  size         uint64, bytes of payload after the header
//	offset  24  align        uint32, alignment of the payload's type
//	offset  28  elemSize     uint32, size of one element (shm) or 0
//	offset  32  fingerprint  uint64, of the payload type's layout (shm) or 0
//	offset  40  creator      uint32, pid of the creating process
//	offset  44  overflow     uint32, 1 once more handles were open than users has slots
//	offset  48  reserved     16 bytes
//	offset  64  type         64 bytes: the payload's Go type, NUL-padded
//	offset 128  users        16 x uint32: pids of the open handles, 0 for a free slot
//	offset 192  payload
//
// The file is built under a temporary name and linked under its real name
// only when complete, so an opener never sees it half-built. The users
// table tells who uses the object without reading other processes' /proc
// files: an object whose users are all dead is stale (ipcchan rm --stale).
const (
	HeaderSize = 192
	Version    = 1
	UserSlots  = 16

	offVersion     = 8
	offKind        = 12
	offSize        = 16
	offAlign       = 24
	offElemSize    = 28
	offFingerprint = 32
	offCreator     = 40
	offOverflow    = 44
	offType        = 64
	offUsers       = 128
	typeLen        = offUsers - offType
)

// magic starts every ipcchan object.
var magic = [8]byte{'i', 'p', 'c', 'c', 'h', 'a', 'n', 0}

// A Kind is what an ipcchan object is.
type Kind uint32

// The kinds.
const (
	Shm       Kind = 1
	Mutex     Kind = 2
	WaitGroup Kind = 3
	Ring      Kind = 4
)

func (k Kind) String() string {
	switch k {
	case Shm:
		return "shm"
	case Mutex:
		return "mutex"
	case WaitGroup:
		return "waitgroup"
	case Ring:
		return "ring"
	case Large:
		return "large message"
	case Topic:
		return "topic"
	case Pool:
		return "pool"
	case Service:
		return "service"
	}
	return fmt.Sprintf("kind %d", uint32(k))
}

// Header is the header of an ipcchan object, as its fields.
type Header struct {
	Kind        Kind
	Size        uint64 // payload bytes
	Align       uint32
	ElemSize    uint32
	Fingerprint uint64
	Creator     uint32 // pid
	Overflow    bool   // the users table ran out of slots once
	Type        string // the payload's Go type, at most 64 bytes
	Users       [UserSlots]uint32
}

// Marshal returns the header's bytes.
func (h *Header) Marshal() [HeaderSize]byte {
	var b [HeaderSize]byte
	copy(b[0:8], magic[:])
	le := binary.LittleEndian
	le.PutUint32(b[offVersion:], Version)
	le.PutUint32(b[offKind:], uint32(h.Kind))
	le.PutUint64(b[offSize:], h.Size)
	le.PutUint32(b[offAlign:], h.Align)
	le.PutUint32(b[offElemSize:], h.ElemSize)
	le.PutUint64(b[offFingerprint:], h.Fingerprint)
	le.PutUint32(b[offCreator:], h.Creator)
	if h.Overflow {
		le.PutUint32(b[offOverflow:], 1)
	}
	copy(b[offType:offUsers], h.Type)
	for i, pid := range h.Users {
		le.PutUint32(b[offUsers+4*i:], pid)
	}
	return b
}

// Parse reads the header at the start of b. It explains what is wrong
// when b is not an ipcchan object of this version.
func Parse(b []byte) (Header, error) {
	if len(b) < HeaderSize || [8]byte(b[0:8]) != magic {
		return Header{}, fmt.Errorf("it is not an ipcchan object (no ipcchan header in its first %d bytes)", HeaderSize)
	}
	le := binary.LittleEndian
	if v := le.Uint32(b[offVersion:]); v != Version {
		return Header{}, fmt.Errorf("it has format version %d; this library reads version %d", v, Version)
	}
	h := Header{
		Kind: Kind(le.Uint32(b[offKind:])), Size: le.Uint64(b[offSize:]), Align: le.Uint32(b[offAlign:]),
		ElemSize: le.Uint32(b[offElemSize:]), Fingerprint: le.Uint64(b[offFingerprint:]),
		Creator: le.Uint32(b[offCreator:]), Overflow: le.Uint32(b[offOverflow:]) != 0,
		Type: string(bytes.TrimRight(b[offType:offUsers], "\x00")),
	}
	for i := range h.Users {
		h.Users[i] = le.Uint32(b[offUsers+4*i:])
	}
	return h, nil
}

// TypeField returns the type string as a header holds it: at most the 64
// bytes of its field, so that a longer Go type name compares equal to what
// its object's header says.
func TypeField(typeName string) string {
	if len(typeName) > typeLen {
		return typeName[:typeLen]
	}
	return typeName
}

// Describe tells what the header says its payload is:
// "main.Stats (176 bytes, alignment 8)".
func (h *Header) Describe() string {
	if h.ElemSize > 0 && uint64(h.ElemSize) != h.Size {
		return fmt.Sprintf("%s (%d elements of %d bytes, alignment %d)", h.Type, h.Size/uint64(h.ElemSize), h.ElemSize, h.Align)
	}
	return fmt.Sprintf("%s (%d bytes, alignment %d)", h.Type, h.Size, h.Align)
}

// users returns the users table of the object mapped at mem.
func users(mem []byte) *[UserSlots]uint32 {
	return (*[UserSlots]uint32)(unsafe.Pointer(&mem[offUsers]))
}

// AddUser records pid as a user of the object mapped at mem, in a free
// slot, or else in the slot of a process that alive says is dead. It
// returns the slot, or -1 when all are taken by live processes; the object
// is then marked so that it is never judged stale.
func AddUser(mem []byte, pid uint32, alive func(pid int) bool) int {
	us := users(mem)
	for i := range us {
		if atomic.CompareAndSwapUint32(&us[i], 0, pid) {
			return i
		}
	}
	for i := range us {
		if p := atomic.LoadUint32(&us[i]); p != pid && !alive(int(p)) && atomic.CompareAndSwapUint32(&us[i], p, pid) {
			return i
		}
	}
	atomic.StoreUint32((*uint32)(unsafe.Pointer(&mem[offOverflow])), 1)
	return -1
}

// DropUser frees the slot that AddUser returned for pid.
func DropUser(mem []byte, slot int, pid uint32) {
	if slot >= 0 {
		atomic.CompareAndSwapUint32(&users(mem)[slot], pid, 0)
	}
}

// Payload returns the payload of the object mapped at mem.
func Payload(mem []byte) []byte { return mem[HeaderSize:] }
