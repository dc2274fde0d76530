package posix

import (
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// BeforeLink, when set (by tests only), runs after an object is built and
// before it is linked under its name: the moment a creator's death must
// leave nothing half-made behind.
var BeforeLink func(tmp string)

// ShmDir is where Linux keeps POSIX shared memory objects and glibc keeps
// named semaphores ("sem." + name).
const ShmDir = "/dev/shm/"

// TempPrefix starts the names of the files objects are built in before they
// are linked under their real name; a pid follows, so that files left by a
// creator that died can be recognised.
const TempPrefix = ".ipcchan-tmp-"

// OpenShm opens the existing file path for reading and writing, refusing
// symbolic links as glibc does.
func OpenShm(path string) (int, error) {
	return unix.Open(path, unix.O_RDWR|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
}

// CreateShm builds a file of size bytes in ShmDir under a temporary name,
// with exactly mode perm, lets init fill its mapping, and then links it to
// path, so that no process ever sees it half-built: glibc's sem_open does
// the same. It returns the descriptor and the mapping of the new file, or
// EEXIST if path exists.
func CreateShm(path string, perm uint32, size int, init func(mem []byte)) (fd int, mem []byte, err error) {
	var tmp string
	for range 100 {
		tmp = fmt.Sprintf("%s%s%d-%08x", ShmDir, TempPrefix, os.Getpid(), rand.Uint32())
		fd, err = unix.Open(tmp, unix.O_RDWR|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, perm)
		if err != syscall.EEXIST {
			break
		}
	}
	if err != nil {
		return -1, nil, err
	}
	defer unix.Unlink(tmp)
	fail := func(e error) (int, []byte, error) {
		if mem != nil {
			unix.Munmap(mem)
		}
		unix.Close(fd)
		return -1, nil, e
	}
	// The umask narrowed the mode; set exactly what was asked.
	if err := unix.Fchmod(fd, perm); err != nil {
		return fail(err)
	}
	if err := unix.Ftruncate(fd, int64(size)); err != nil {
		return fail(err)
	}
	// Reserve the memory now: on a full /dev/shm a sparse file would map
	// fine and then kill the process with SIGBUS at its first write. With
	// the pages allocated, a full /dev/shm is ENOSPC here, an error.
	if err := unix.Fallocate(fd, 0, 0, int64(size)); err != nil && err != syscall.EOPNOTSUPP {
		return fail(err)
	}
	if mem, err = Mmap(fd, size); err != nil {
		return fail(err)
	}
	init(mem)
	if BeforeLink != nil {
		BeforeLink(tmp)
	}
	if err := unix.Link(tmp, path); err != nil {
		return fail(err)
	}
	return fd, mem, nil
}

// populateMax is the largest mapping Mmap populates at once: for a small
// object that saves a page fault on first use (a quarter of an open+close
// here); a large one is left to fault in as used, so that a sparse object
// does not get all of its pages allocated at open.
const populateMax = 1 << 20

// Mmap maps size bytes of fd, shared and writable.
func Mmap(fd, size int) ([]byte, error) {
	flags := unix.MAP_SHARED
	if size <= populateMax {
		flags |= unix.MAP_POPULATE
	}
	return unix.Mmap(fd, 0, size, unix.PROT_READ|unix.PROT_WRITE, flags)
}

// FileSize returns the size of the file open as fd.
func FileSize(fd int) (int64, error) {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return 0, err
	}
	return st.Size, nil
}

// WriteAt writes all of b into the file fd from offset off (pwrite,
// repeated while it writes part). Like the mq calls it is the raw system
// call: b does not escape, so a value whose bytes are sent stays on its
// goroutine's stack (x/sys's wrapper lets b escape when the race detector
// is on).
func WriteAt(fd int, b []byte, off int64) error {
	for len(b) > 0 {
		n, _, errno := unix.Syscall6(unix.SYS_PWRITE64, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)), uintptr(off), 0, 0)
		if errno != 0 {
			return errno
		}
		b, off = b[n:], off+int64(n)
	}
	return nil
}

// ReadFullAt fills b from the file fd from offset off (pread, repeated
// while it reads part); a file that ends first is io.ErrUnexpectedEOF. As
// WriteAt, it is the raw system call.
func ReadFullAt(fd int, b []byte, off int64) error {
	for len(b) > 0 {
		n, _, errno := unix.Syscall6(unix.SYS_PREAD64, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)), uintptr(off), 0, 0)
		switch {
		case errno != 0:
			return errno
		case n == 0:
			return io.ErrUnexpectedEOF
		}
		b, off = b[n:], off+int64(n)
	}
	return nil
}
