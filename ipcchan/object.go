package ipcchan

import (
	"fmt"
	"os"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/ipcchan/ipcchan/internal/kinds"
	"github.com/ipcchan/ipcchan/internal/objfmt"
	"github.com/ipcchan/ipcchan/internal/options"
	"github.com/ipcchan/ipcchan/internal/posix"
)

// Objects of ipcchan's own format (Mutex, WaitGroup, Shm) live in a file
// in /dev/shm that starts with the header of package objfmt, which tells
// their kind and payload type, and who uses them.

// objPath checks name for kind and returns its file in /dev/shm.
func objPath(kind, op, name, prefix string) (string, error) {
	if err := posix.CheckName(name, posix.NameMax-len(prefix)); err != nil {
		return "", nameError(kind, name, op, err)
	}
	return posix.ShmDir + prefix + name[1:], nil
}

// objSpec says what an object's file must hold.
type objSpec struct {
	kind        objfmt.Kind
	size        uint64 // payload bytes; for a slice of unknown length, 0 and anySize
	anySize     bool   // a slice opened without a length: any multiple of elemSize
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

// check explains how the object whose first bytes are b, in a file of
// fileSize bytes, differs from the spec, or returns "".
func (s *objSpec) check(b []byte, fileSize int64) string {
	h, err := objfmt.Parse(b)
	if err != nil {
		return err.Error()
	}
	if h.Kind != s.kind {
		return fmt.Sprintf("it is an ipcchan %v, not a %v", h.Kind, s.kind)
	}
	if s.kind == objfmt.Ring { // its shape is in its control block, which OpenRing checks
		if h.Fingerprint != s.fingerprint || h.Type != objfmt.TypeField(s.typeName) {
			return fmt.Sprintf("it is a ring of %s, not of %s", h.Type, s.typeName)
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

// openObject opens or creates the object file path, and returns its mapping
// (header and payload) and whether this call created it. init fills the
// payload of a new object.
func openObject(kindName, name, path string, cfg *options.Config, spec objSpec, init func(payload []byte)) (mem []byte, created bool, err error) {
	fail := func(sentinel, sys error, detail string) ([]byte, bool, error) {
		return nil, false, &Error{Kind: kindName, Name: name, Op: "open", Err: sentinel, Sys: sys, Detail: detail}
	}
	total := objfmt.HeaderSize + int(spec.size)
	for range 100 {
		fd, err := posix.OpenShm(path)
		if err == nil {
			mem, err := mapExisting(fd, spec)
			unix.Close(fd)
			if err != "" {
				return fail(ErrTypeMismatch, nil, fmt.Sprintf("%s: %s; remove it (ipcchan.Unlink%s(%q)) if it is left over", path, err, unlinkFunc(spec.kind), name))
			}
			if cfg.Has(options.Exclusive) {
				unix.Munmap(mem)
				return nil, false, existError(kindName, name, "Unlink"+unlinkFunc(spec.kind))
			}
			return mem, false, nil
		}
		if err != syscall.ENOENT {
			return nil, false, shmOpenError(kindName, name, err)
		}
		if !cfg.Has(options.Create) {
			return nil, false, notExistError(kindName, name, err)
		}
		h := spec.header()
		fd, mem, err = posix.CreateShm(path, uint32(cfg.Perm), total, func(m []byte) {
			copy(m, h[:])
			init(objfmt.Payload(m))
		})
		if err == syscall.EEXIST {
			continue // another process created it first: open theirs
		}
		if err != nil {
			return nil, false, shmOpenError(kindName, name, err)
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
	if size < objfmt.HeaderSize {
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

// shmOpenError turns a failure to open or create a file in /dev/shm into
// the object's error, saying what to do.
func shmOpenError(kind, name string, err error) error {
	e := &Error{Kind: kind, Name: name, Op: "open", Sys: err}
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
func notExistError(kind, name string, sys error) error {
	var others []string
	for _, k := range kinds.Named(name) {
		if k != kind {
			others = append(others, k)
		}
	}
	if len(others) == 0 {
		return &Error{Kind: kind, Name: name, Op: "open", Err: ErrNotExist, Sys: sys, Detail: "does not exist", Hint: hintCreate}
	}
	return &Error{Kind: kind, Name: name, Op: "open", Err: ErrWrongKind, Sys: sys,
		Detail: fmt.Sprintf("%s is %s, not %s", name, kinds.List(others), kinds.Describe(kind)),
		Hint:   fmt.Sprintf("open it as what it is (%s), or create %s beside it with Create(): objects of different kinds may share a name", openFuncs(others), kinds.Describe(kind))}
}

// openFuncs names the functions that open objects of kinds: "OpenQueue or
// OpenRing".
func openFuncs(ks []string) string {
	names := map[string]string{kinds.Queue: "OpenQueue", kinds.Ring: "OpenRing", kinds.Semaphore: "OpenSemaphore",
		kinds.Shm: "OpenShm", kinds.Mutex: "OpenMutex", kinds.WaitGroup: "OpenWaitGroup"}
	var fs []string
	for _, k := range ks {
		fs = append(fs, "ipcchan."+names[k])
	}
	return strings.Join(fs, " or ")
}

// existError is the error of creating with Exclusive an object that
// exists; unlink names the function that removes it ("UnlinkMutex").
func existError(kind, name, unlink string) error {
	return &Error{Kind: kind, Name: name, Op: "open", Err: ErrExist, Sys: syscall.EEXIST, Detail: "already exists",
		Hint: fmt.Sprintf("open it without Exclusive() to share it, or remove it (ipcchan.%s(%q))", unlink, name)}
}

func unlinkFunc(k objfmt.Kind) string {
	switch k {
	case objfmt.Ring:
		return "Ring"
	case objfmt.Mutex:
		return "Mutex"
	case objfmt.WaitGroup:
		return "WaitGroup"
	}
	return "Shm"
}

// addUser records this process as a user of the object in mem; see
// objfmt.AddUser.
func addUser(mem []byte) int { return objfmt.AddUser(mem, uint32(os.Getpid()), posix.Alive) }

// dropUser frees the slot addUser returned.
func dropUser(mem []byte, slot int) { objfmt.DropUser(mem, slot, uint32(os.Getpid())) }

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
