package ipcchan

import (
	"fmt"
	"os"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/ipcchan/ipcchan/internal/ipcerr"
	"github.com/ipcchan/ipcchan/internal/kinds"
	"github.com/ipcchan/ipcchan/internal/objfmt"
	"github.com/ipcchan/ipcchan/internal/options"
	"github.com/ipcchan/ipcchan/internal/posix"
)

// Objects that live in /dev/shm (Semaphore, Mutex, WaitGroup, Ring, Shm)
// are opened the same way: the name checked, the file opened, or built in
// a temporary file and linked under its name, then mapped and checked
// against what the caller asked for. Those of ipcchan's own format start
// with the header of package objfmt, which tells their kind and payload
// type, and who uses them; a semaphore is glibc's bare sem_t.

// objSpec says what an object's file must hold.
type objSpec struct {
	kind        objfmt.Kind // the header's kind; 0 for a file without a header (a glibc sem_t)
	size        uint64      // payload bytes (the whole file's without a header); for a slice of unknown length, 0 and anySize
	anySize     bool        // a slice opened without a length: any multiple of elemSize
	align       uint32
	elemSize    uint32
	fingerprint uint64
	typeName    string // the payload's Go type, for the header and messages
}

func (s *objSpec) header() [objfmt.HeaderSize]byte {
	h := objfmt.Header{Kind: s.kind, Size: s.size, Align: s.align, ElemSize: s.elemSize, Fingerprint: s.fingerprint,
		Creator: uint32(os.Getpid()), Type: s.typeName}
	return h.Marshal()
}

// fileSize is the size of a new object's file.
func (s *objSpec) fileSize() int {
	if s.kind == 0 {
		return int(s.size)
	}
	return objfmt.HeaderSize + int(s.size)
}

// check explains how the object whose first bytes are b, in a file of
// fileSize bytes, differs from the spec, or returns "".
func (s *objSpec) check(b []byte, fileSize int64) string {
	if s.kind == 0 {
		if fileSize < int64(s.size) {
			return fmt.Sprintf("it has %d bytes, not a %d-byte %s", fileSize, s.size, s.typeName)
		}
		return ""
	}
	h, err := objfmt.Parse(b)
	if err != nil {
		return err.Error()
	}
	if h.Kind != s.kind {
		return fmt.Sprintf("it is an ipcchan %v, not a %v", h.Kind, s.kind)
	}
	if s.kind == objfmt.Ring || s.kind == objfmt.Topic || s.kind == objfmt.Service { // its shape is in its control block, which OpenRing (OpenTopic, OpenServer) checks
		if h.Fingerprint != s.fingerprint || h.Type != objfmt.TypeField(s.typeName) {
			return fmt.Sprintf("it is a %v of %s, not of %s", s.kind, h.Type, s.typeName)
		}
		return ""
	}
	if fileSize < objfmt.HeaderSize || h.Size > uint64(fileSize-objfmt.HeaderSize) {
		return fmt.Sprintf("its header says %d bytes of payload but the file has %d; it is damaged", h.Size, fileSize-objfmt.HeaderSize)
	}
	sameType := h.Fingerprint == s.fingerprint && h.Align == s.align && h.ElemSize == s.elemSize
	if !sameType || (!s.anySize && h.Size != s.size) || (s.anySize && (h.ElemSize == 0 || h.Size%uint64(h.ElemSize) != 0)) {
		if sameType && !s.anySize {
			return fmt.Sprintf("it holds %s, not %s: the same type, another length", h.Describe(), s.spec())
		}
		return fmt.Sprintf("it holds %s, not %s", h.Describe(), s.spec())
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

// objPath checks the name of obj and returns its file in /dev/shm.
func objPath(obj ipcerr.Object, op string) (string, error) {
	if err := posix.CheckName(obj.Name, posix.NameMax-len(kinds.Prefix(obj.Kind))); err != nil {
		return "", nameError(obj.Kind, obj.Name, op, err)
	}
	return kinds.Path(obj.Kind, obj.Name), nil
}

// openObject opens or creates the file of obj, and returns its mapping (of
// spec's size when the file has no header, all of it otherwise) and
// whether this call created it. init fills a new object's payload (after
// the header, if it has one); the rest of a new file is zero.
func openObject(obj ipcerr.Object, cfg *options.Config, spec objSpec, init func(payload []byte)) (mem []byte, created bool, err error) {
	path, err := objPath(obj, "open")
	if err != nil {
		return nil, false, err
	}
	unlink := kinds.Of(obj.Kind).Unlink
	for range 100 {
		if !cfg.Has(options.Exclusive) {
			fd, err := posix.OpenShm(path)
			if err == nil {
				mem, why := mapExisting(fd, spec)
				unix.Close(fd)
				if why != "" {
					return nil, false, obj.Fail("open", ErrTypeMismatch, nil, fmt.Sprintf("%s: %s; remove it (ipcchan.%s(%q)) if it is left over", path, why, unlink, obj.Name))
				}
				return mem, false, nil
			}
			if err != syscall.ENOENT {
				return nil, false, shmOpenError(obj, err)
			}
			if !cfg.Has(options.Create) {
				return nil, false, notExistError(obj, err)
			}
		}
		fd, mem, err := posix.CreateShm(path, uint32(cfg.Perm), spec.fileSize(), func(m []byte) {
			if spec.kind == 0 {
				init(m)
				return
			}
			h := spec.header()
			copy(m, h[:])
			init(objfmt.Payload(m))
		})
		if err == syscall.EEXIST {
			if cfg.Has(options.Exclusive) {
				return nil, false, existError(obj)
			}
			continue // another process created it first: open theirs
		}
		if err != nil {
			return nil, false, shmOpenError(obj, err)
		}
		unix.Close(fd)
		return mem, true, nil
	}
	return nil, false, obj.Err("open", ErrExist, "created and removed by others too often to open")
}

// mapExisting maps the object open as fd and checks it against spec.
func mapExisting(fd int, spec objSpec) ([]byte, string) {
	size, err := posix.FileSize(fd)
	if err != nil {
		return nil, err.Error()
	}
	mapSize := int(size)
	switch {
	case spec.kind == 0: // a bare sem_t: map what it is, past it nothing is ours
		if why := spec.check(nil, size); why != "" {
			return nil, why
		}
		mapSize = int(spec.size)
	case size < objfmt.HeaderSize:
		return nil, fmt.Sprintf("it has %d bytes, less than an ipcchan header", size)
	}
	mem, err := posix.Mmap(fd, mapSize)
	if err != nil {
		return nil, err.Error()
	}
	if spec.kind != 0 {
		if why := spec.check(mem, size); why != "" {
			unix.Munmap(mem)
			return nil, why
		}
	}
	return mem, ""
}

// shmOpenError turns a failure to open or create a file in /dev/shm into
// the object's error, saying what to do.
func shmOpenError(obj ipcerr.Object, err error) error {
	e := obj.Fail("open", nil, err, "")
	switch err {
	case syscall.EACCES, syscall.EPERM:
		e.Err, e.Detail, e.Hint = ErrPermission, detailPermission, hintPermission
	case syscall.ENOSPC:
		e.Err, e.Detail = ErrLimit, "/dev/shm is full; remove unused objects from it, or make it larger (mount -o remount,size=N /dev/shm)"
	case syscall.EROFS:
		e.Err, e.Detail = ErrLimit, "/dev/shm is mounted read-only"
	case syscall.EMFILE:
		e.Err, e.Detail = ErrLimit, "this process has too many descriptors open (RLIMIT_NOFILE); close some or raise ulimit -n"
	case syscall.ENFILE:
		e.Err, e.Detail = ErrLimit, "the system's table of open files is full (/proc/sys/fs/file-max)"
	case syscall.ELOOP:
		e.Err, e.Detail = ErrInvalid, "it is a symbolic link, which ipcchan does not follow"
	case syscall.ENOENT:
		e.Err, e.Detail = ErrNotExist, "/dev/shm does not exist: mount a tmpfs there (mount -t tmpfs tmpfs /dev/shm)"
	}
	return e
}

// notExistError is the error of opening, without Create, an object that
// does not exist: ErrWrongKind, naming them, when objects of other kinds
// have the name.
func notExistError(obj ipcerr.Object, sys error) error {
	var others []string
	for _, k := range kinds.Named(obj.Name) {
		if k != obj.Kind {
			others = append(others, k)
		}
	}
	if len(others) == 0 {
		e := obj.Fail("open", ErrNotExist, sys, "does not exist")
		e.Hint = hintCreate
		return e
	}
	var opens []string
	for _, k := range others {
		opens = append(opens, "ipcchan."+kinds.Of(k).Open)
	}
	e := obj.Fail("open", ErrWrongKind, sys, fmt.Sprintf("%s is %s, not %s", obj.Name, kinds.List(others), kinds.Describe(obj.Kind)))
	e.Hint = fmt.Sprintf("open it as what it is (%s), or create %s beside it with Create(): objects of different kinds may share a name",
		strings.Join(opens, " or "), kinds.Describe(obj.Kind))
	return e
}

// existError is the error of creating with Exclusive an object that
// exists.
func existError(obj ipcerr.Object) error {
	e := obj.Fail("open", ErrExist, syscall.EEXIST, "already exists")
	e.Hint = fmt.Sprintf("open it without Exclusive() to share it, or remove it (ipcchan.%s(%q))", kinds.Of(obj.Kind).Unlink, obj.Name)
	return e
}

// addUser records this process as a user of the object in mem; see
// objfmt.AddUser.
func addUser(mem []byte) int { return objfmt.AddUser(mem, uint32(os.Getpid()), posix.Alive) }

// dropUser frees the slot addUser returned.
func dropUser(mem []byte, slot int) { objfmt.DropUser(mem, slot, uint32(os.Getpid())) }

// unlinkObject removes the file of the object name of kind.
func unlinkObject(kind, name string) error {
	obj := ipcerr.Object{Kind: kind, Name: name}
	path, err := objPath(obj, "unlink")
	if err != nil {
		return err
	}
	return unlinkPath(obj, path)
}

func unlinkPath(obj ipcerr.Object, path string) error {
	err := unix.Unlink(path)
	switch err {
	case nil:
		return nil
	case syscall.ENOENT:
		return obj.Fail("unlink", ErrNotExist, err, "")
	case syscall.EACCES, syscall.EPERM:
		return obj.Fail("unlink", ErrPermission, err,
			"permission denied: "+strings.TrimSuffix(posix.ShmDir, "/")+" is sticky; only the owner (or root) can remove it")
	}
	return obj.Fail("unlink", nil, err, "")
}
