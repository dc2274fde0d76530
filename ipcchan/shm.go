package ipcchan

import (
	"fmt"
	"reflect"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/ipcchan/ipcchan/internal/ipcerr"
	"github.com/ipcchan/ipcchan/internal/memlayout"
	"github.com/ipcchan/ipcchan/internal/objfmt"
	"github.com/ipcchan/ipcchan/internal/options"
)

// Shm is a value of type T in POSIX shared memory (shm_open + mmap): every
// process that opens the same name sees the same T through Ptr.
//
// T may hold numbers, bools, fixed arrays, structs of those, and the value
// types of sync/atomic; OpenShm refuses anything with a pointer inside
// (pointers, strings, slices, maps, interfaces, channels, funcs), naming
// the field. Plain fields need a lock between processes (an ipcchan.Mutex);
// sync/atomic fields do not.
//
// The object is the file /dev/shm/NAME, so a C program reaches it with
// shm_open("/NAME", O_RDWR, 0) and mmap: a 192-byte header (see below),
// then T at offset 192, laid out as Go lays it out (the same as a C struct
// with the same fields, for the types allowed here, on the same machine).
//
//	offset   0  "ipcchan\x00", version 1, kind 1 (shm)
//	offset  16  payload size, alignment and element size of T
//	offset  32  fingerprint of T's layout: field names, offsets, sizes, kinds
//	offset  64  T's Go type name
//	offset 128  pids of the processes with a handle open (16 slots)
//	offset 192  T
//
// Opening it as another type, or another size, fails with ErrTypeMismatch
// describing both. The file is built under a temporary name and linked under
// its own once initialised, so two processes creating it at once both get
// one zeroed object and an opener never sees it half-made.
type Shm[T any] struct {
	obj shmObject
	ptr *T
}

// ShmSlice is a []T in POSIX shared memory, like Shm but with n elements.
type ShmSlice[T any] struct {
	obj   shmObject
	slice []T
}

type shmObject struct {
	name   string
	mem    []byte
	slot   int // in the users table
	closed atomic.Bool
}

// OpenShm opens the shared memory object name ("/stats") holding a T. It
// takes the options Create (a new object is zeroed), Exclusive and Perm.
func OpenShm[T any](name string, opts ...Option) (*Shm[T], error) {
	mem, err := openShm(reflect.TypeFor[T](), name, 1, false, opts)
	if err != nil {
		return nil, err
	}
	sh := &Shm[T]{ptr: (*T)(unsafe.Pointer(&objfmt.Payload(mem)[0]))}
	sh.obj.name, sh.obj.mem, sh.obj.slot = name, mem, addUser(mem)
	return sh, nil
}

// OpenShmSlice opens the shared memory object name holding n values of T.
// It takes the options Create, Exclusive and Perm. When opening an object
// that exists, n may be 0 to take whatever length it has.
func OpenShmSlice[T any](name string, n int, opts ...Option) (*ShmSlice[T], error) {
	if n < 0 {
		return nil, ipcerr.Object{Kind: "shm", Name: name}.Err("open", ErrInvalid, fmt.Sprintf("a slice of %d elements", n))
	}
	mem, err := openShm(reflect.TypeFor[T](), name, n, true, opts)
	if err != nil {
		return nil, err
	}
	count := n
	if n == 0 { // the length the header says
		h, _ := objfmt.Parse(mem)
		var zero T
		count = int(h.Size / uint64(unsafe.Sizeof(zero)))
	}
	ss := &ShmSlice[T]{slice: unsafe.Slice((*T)(unsafe.Pointer(&objfmt.Payload(mem)[0])), count)}
	ss.obj.name, ss.obj.mem, ss.obj.slot = name, mem, addUser(mem)
	return ss, nil
}

func openShm(t reflect.Type, name string, n int, isSlice bool, opts []Option) ([]byte, error) {
	obj := ipcerr.Object{Kind: "shm", Name: name}
	cfg, err := options.Apply(obj, options.Create|options.Exclusive|options.Perm, opts)
	if err != nil {
		return nil, err
	}
	if _, err := objPath(obj, "open"); err != nil {
		return nil, err
	}
	st := memlayout.Of(t)
	if st.Unsafe != "" {
		return nil, obj.Err("open", ErrInvalid, fmt.Sprintf("%s cannot live in shared memory: %s", t, st.Unsafe))
	}
	if t.Size() == 0 {
		return nil, obj.Err("open", ErrInvalid, fmt.Sprintf("%s has no size", t))
	}
	if n == 0 && cfg.Has(options.Create) {
		return nil, obj.Err("open", ErrInvalid, "a slice of 0 elements cannot be created; give its length (0 means \"whatever it has\" only when opening)")
	}
	typeName := t.String()
	if isSlice {
		typeName = "[]" + typeName
	}
	spec := objSpec{kind: objfmt.Shm, size: uint64(n) * uint64(t.Size()), anySize: n == 0, align: uint32(t.Align()),
		elemSize: uint32(t.Size()), fingerprint: st.Fingerprint, typeName: typeName}
	mem, _, err := openObject(obj, cfg, spec, func([]byte) {}) // a new file is zeroed
	return mem, err
}

// Ptr returns the shared T. Using it after Close is undefined: the memory
// is unmapped, and touching it crashes the process.
func (sh *Shm[T]) Ptr() *T { return sh.ptr }

// Slice returns the shared []T. Using it after Close is undefined.
func (ss *ShmSlice[T]) Slice() []T { return ss.slice }

// Len returns the number of elements.
func (ss *ShmSlice[T]) Len() int { return len(ss.slice) }

// Name returns the object's name.
func (sh *Shm[T]) Name() string { return sh.obj.name }

// Name returns the object's name.
func (ss *ShmSlice[T]) Name() string { return ss.obj.name }

// Close unmaps the object from this process; the object stays until
// Unlink. Calling Close twice is harmless.
func (sh *Shm[T]) Close() error { return sh.obj.close() }

// Close unmaps the object from this process; calling it twice is harmless.
func (ss *ShmSlice[T]) Close() error { return ss.obj.close() }

// Unlink removes the object's name; processes that have it mapped keep it.
func (sh *Shm[T]) Unlink() error { return UnlinkShm(sh.obj.name) }

// Unlink removes the object's name; processes that have it mapped keep it.
func (ss *ShmSlice[T]) Unlink() error { return UnlinkShm(ss.obj.name) }

func (o *shmObject) close() error {
	if !o.closed.CompareAndSwap(false, true) {
		return nil
	}
	dropUser(o.mem, o.slot)
	if err := unix.Munmap(o.mem); err != nil {
		return ipcerr.Object{Kind: "shm", Name: o.name}.Fail("close", nil, err, "")
	}
	return nil
}

// UnlinkShm removes the shared memory object name (like shm_unlink).
func UnlinkShm(name string) error { return unlinkObject("shm", name) }
