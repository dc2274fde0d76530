package ipcchan

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/ipcchan/ipcchan/internal/posix"
)

// Objects of ipcchan's own format (Mutex, WaitGroup, Shm) live in a file in
// /dev/shm that starts with a 192-byte header, little endian:
//
//	offset   0  magic        "ipcchan\x00"
//	offset   8  version      uint32, objVersion
//	offset  12  kind         uint32: 1 shm, 2 mutex, 3 waitgroup
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
// only when complete, so an opener never sees it half-built. The users table
// tells who uses the object without reading other processes' /proc files:
// an object whose users are all dead is stale (ipcchan rm --stale).
const (
	objHeaderSize     = 192
	objVersion        = 1
	objTypeOffset     = 64
	objOverflowOffset = 44
	objUsersOffset    = 128
	objUserSlots      = 16
)

var objMagic = [8]byte{'i', 'p', 'c', 'c', 'h', 'a', 'n', 0}

type objKind uint32

const (
	kindShm       objKind = 1
	kindMutex     objKind = 2
	kindWaitGroup objKind = 3
)

func (k objKind) String() string {
	switch k {
	case kindShm:
		return "shm"
	case kindMutex:
		return "mutex"
	case kindWaitGroup:
		return "waitgroup"
	}
	return fmt.Sprintf("kind %d", uint32(k))
}

// objPrefix is the file-name prefix of each kind in /dev/shm. Shm objects
// have none, so that C's shm_open reaches them by the same name.
func (k objKind) prefix() string {
	switch k {
	case kindMutex:
		return "ipcchan.mutex."
	case kindWaitGroup:
		return "ipcchan.wg."
	}
	return ""
}

// objPath checks name for kind and returns its file in /dev/shm.
func objPath(kind, op, name, prefix string) (string, error) {
	if err := posix.CheckName(name, posix.NameMax-len(prefix)); err != nil {
		return "", nameError(kind, name, op, err)
	}
	return posix.ShmDir + prefix + name[1:], nil
}

// objSpec says what an object's file must hold.
type objSpec struct {
	kind        objKind
	size        uint64 // payload bytes; for a slice of unknown length, 0 and anySize
	anySize     bool   // a slice opened without a length: any multiple of elemSize
	align       uint32
	elemSize    uint32
	fingerprint uint64
	typeName    string // the payload's Go type, for the header and messages
}

func (s *objSpec) header() [objHeaderSize]byte {
	var h [objHeaderSize]byte
	copy(h[0:8], objMagic[:])
	binary.LittleEndian.PutUint32(h[8:], objVersion)
	binary.LittleEndian.PutUint32(h[12:], uint32(s.kind))
	binary.LittleEndian.PutUint64(h[16:], s.size)
	binary.LittleEndian.PutUint32(h[24:], s.align)
	binary.LittleEndian.PutUint32(h[28:], s.elemSize)
	binary.LittleEndian.PutUint64(h[32:], s.fingerprint)
	binary.LittleEndian.PutUint32(h[40:], uint32(os.Getpid()))
	copy(h[objTypeOffset:objUsersOffset], s.typeName)
	return h
}

// describe tells what a header says its payload is.
func describe(h []byte) string {
	name := string(bytes.TrimRight(h[objTypeOffset:objUsersOffset], "\x00"))
	size, align := binary.LittleEndian.Uint64(h[16:]), binary.LittleEndian.Uint32(h[24:])
	if elem := binary.LittleEndian.Uint32(h[28:]); elem > 0 && uint64(elem) != size {
		return fmt.Sprintf("%s (%d elements of %d bytes, alignment %d)", name, size/uint64(elem), elem, align)
	}
	return fmt.Sprintf("%s (%d bytes, alignment %d)", name, size, align)
}

// check explains how the header h differs from the spec, or returns "".
func (s *objSpec) check(h []byte, fileSize int64) string {
	if len(h) < objHeaderSize || [8]byte(h[0:8]) != objMagic {
		return fmt.Sprintf("it is not an ipcchan object (no ipcchan header in its first %d bytes)", objHeaderSize)
	}
	if v := binary.LittleEndian.Uint32(h[8:]); v != objVersion {
		return fmt.Sprintf("it has format version %d; this library reads version %d", v, objVersion)
	}
	if k := objKind(binary.LittleEndian.Uint32(h[12:])); k != s.kind {
		return fmt.Sprintf("it is an ipcchan %v, not a %v", k, s.kind)
	}
	size := binary.LittleEndian.Uint64(h[16:])
	if size > uint64(fileSize-objHeaderSize) || fileSize < objHeaderSize {
		return fmt.Sprintf("its header says %d bytes of payload but the file has %d; it is damaged", size, fileSize-objHeaderSize)
	}
	fp, align, elem := binary.LittleEndian.Uint64(h[32:]), binary.LittleEndian.Uint32(h[24:]), binary.LittleEndian.Uint32(h[28:])
	sameType := fp == s.fingerprint && align == s.align && elem == s.elemSize
	if !sameType || (!s.anySize && size != s.size) || (s.anySize && (elem == 0 || size%uint64(elem) != 0)) {
		want := s.spec()
		if sameType && !s.anySize {
			return fmt.Sprintf("it holds %s, not %s: the same type, another length", describe(h), want)
		}
		return fmt.Sprintf("it holds %s, not %s", describe(h), want)
	}
	return ""
}

// spec describes what s asks for, as describe does for a header.
func (s *objSpec) spec() string {
	switch {
	case s.anySize:
		return fmt.Sprintf("%s (elements of %d bytes, alignment %d)", s.typeName, s.elemSize, s.align)
	case s.elemSize > 0 && uint64(s.elemSize) != s.size:
		return fmt.Sprintf("%s (%d elements of %d bytes, alignment %d)", s.typeName, s.size/uint64(s.elemSize), s.elemSize, s.align)
	}
	return fmt.Sprintf("%s (%d bytes, alignment %d)", s.typeName, s.size, s.align)
}

// openObject opens or creates the object file path, and returns its mapping
// (header and payload) and whether this call created it. init fills the
// payload of a new object.
func openObject(kindName, name, path string, cfg *config, spec objSpec, init func(payload []byte)) (mem []byte, created bool, err error) {
	fail := func(sentinel, sys error, detail string) ([]byte, bool, error) {
		return nil, false, &Error{Kind: kindName, Name: name, Op: "open", Err: sentinel, Sys: sys, Detail: detail}
	}
	total := objHeaderSize + int(spec.size)
	for range 100 {
		fd, err := posix.OpenShm(path)
		if err == nil {
			mem, err := mapExisting(fd, spec)
			unix.Close(fd)
			if err != "" {
				return fail(ErrTypeMismatch, nil, fmt.Sprintf("%s: %s; remove it (ipcchan.Unlink%s(%q)) if it is left over", path, err, unlinkFunc(spec.kind), name))
			}
			if cfg.has(optExclusive) {
				unix.Munmap(mem)
				return fail(ErrExist, syscall.EEXIST, fmt.Sprintf("already exists and Exclusive() was given; remove it (ipcchan.Unlink%s(%q)) or open it without Exclusive()", unlinkFunc(spec.kind), name))
			}
			return mem, false, nil
		}
		if err != syscall.ENOENT {
			detail, sentinel := shmOpenError(err)
			return fail(sentinel, err, detail)
		}
		if !cfg.has(optCreate) {
			return fail(ErrNotExist, err, "does not exist; create it with ipcchan.Create(), or start the program that creates it (names are global to the machine)")
		}
		h := spec.header()
		fd, mem, err = posix.CreateShm(path, uint32(cfg.perm), total, func(m []byte) {
			copy(m, h[:])
			init(m[objHeaderSize:])
		})
		if err == syscall.EEXIST {
			continue // another process created it first: open theirs
		}
		if err != nil {
			detail, sentinel := shmOpenError(err)
			return fail(sentinel, err, detail)
		}
		unix.Close(fd)
		return mem, true, nil
	}
	return fail(ErrExist, nil, "created and removed by others too often to open")
}

func mapExisting(fd int, spec objSpec) ([]byte, string) {
	size, err := posix.FileSize(fd)
	if err != nil {
		return nil, err.Error()
	}
	if size < objHeaderSize {
		return nil, fmt.Sprintf("it has %d bytes, less than an ipcchan header", size)
	}
	mem, err := posix.Mmap(fd, int(size))
	if err != nil {
		return nil, err.Error()
	}
	if why := spec.check(mem, size); why != "" {
		unix.Munmap(mem)
		return nil, why
	}
	return mem, ""
}

// shmOpenError maps the errors of opening or creating files in /dev/shm:
// the ipcchan error and what to do.
func shmOpenError(err error) (detail string, sentinel error) {
	switch err {
	case syscall.EACCES, syscall.EPERM:
		return "permission denied: its mode does not let this user read and write it; the creator can grant access with Perm(0o660) or Perm(0o666)", ErrPermission
	case syscall.ENOSPC:
		return "/dev/shm is full; remove unused objects from it, or make it larger (mount -o remount,size=N /dev/shm)", ErrLimit
	case syscall.EROFS:
		return "/dev/shm is mounted read-only", ErrLimit
	case syscall.EMFILE:
		return "this process has too many descriptors open (RLIMIT_NOFILE); close some or raise ulimit -n", ErrLimit
	case syscall.ENFILE:
		return "the system's table of open files is full (/proc/sys/fs/file-max)", ErrLimit
	case syscall.ELOOP:
		return "it is a symbolic link, which ipcchan does not follow", ErrInvalid
	case syscall.ENOENT:
		return "/dev/shm does not exist: mount a tmpfs there (mount -t tmpfs tmpfs /dev/shm)", ErrNotExist
	}
	return "", nil
}

func unlinkFunc(k objKind) string {
	switch k {
	case kindMutex:
		return "Mutex"
	case kindWaitGroup:
		return "WaitGroup"
	}
	return "Shm"
}

// objUsers returns the users table of the object in mem.
func objUsers(mem []byte) *[objUserSlots]uint32 {
	return (*[objUserSlots]uint32)(unsafe.Pointer(&mem[objUsersOffset]))
}

// addUser records this process as a user of the object in mem, taking a
// free slot, or else the slot of a dead process. It returns the slot, or
// -1 when all are taken by live processes; the object is then marked so
// that it is never judged stale.
func addUser(mem []byte) int {
	users, pid := objUsers(mem), uint32(os.Getpid())
	for i := range users {
		if atomic.CompareAndSwapUint32(&users[i], 0, pid) {
			return i
		}
	}
	for i := range users {
		if p := atomic.LoadUint32(&users[i]); p != pid && !posix.Alive(int(p)) && atomic.CompareAndSwapUint32(&users[i], p, pid) {
			return i
		}
	}
	atomic.StoreUint32((*uint32)(unsafe.Pointer(&mem[objOverflowOffset])), 1)
	return -1
}

// dropUser frees the slot addUser returned.
func dropUser(mem []byte, slot int) {
	if slot >= 0 {
		atomic.CompareAndSwapUint32(&objUsers(mem)[slot], uint32(os.Getpid()), 0)
	}
}

// unlinkObject removes an object's file.
func unlinkObject(kind, name, prefix string) error {
	path, err := objPath(kind, "unlink", name, prefix)
	if err != nil {
		return err
	}
	return unlinkPath(kind, name, path)
}

func unlinkPath(kind, name, path string) error {
	err := unix.Unlink(path)
	switch err {
	case nil:
		return nil
	case syscall.ENOENT:
		return &Error{Kind: kind, Name: name, Op: "unlink", Err: ErrNotExist, Sys: err}
	case syscall.EACCES, syscall.EPERM:
		return &Error{Kind: kind, Name: name, Op: "unlink", Err: ErrPermission, Sys: err,
			Detail: "permission denied: " + strings.TrimSuffix(posix.ShmDir, "/") + " is sticky; only the owner (or root) can remove it"}
	}
	return &Error{Kind: kind, Name: name, Op: "unlink", Sys: err}
}
