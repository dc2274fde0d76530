package ipcchan

import (
	"runtime"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// A mapping is the shared memory of a Semaphore, Mutex or WaitGroup
// handle. Close marks it closed, so that calls fail with ErrClosed; the
// memory itself is unmapped once the handle is unreachable, when no call
// can be using it any more. That keeps the hot paths (an uncontended lock,
// TryAcquire) free of the reference counting an immediate unmap would need:
// a closed handle keeps one page mapped until the garbage collector frees
// the handle.
type mapping struct {
	mem    []byte
	isDead atomic.Bool
}

// attach gives owner's mapping the memory mem, and arranges for mem to be
// unmapped once owner is unreachable.
func attach[T any](owner *T, m *mapping, mem []byte) {
	m.mem = mem
	runtime.AddCleanup(owner, func(mem []byte) { unix.Munmap(mem) }, mem)
}

// closed reports whether close was called.
func (m *mapping) closed() bool { return m.isDead.Load() }

// close reports whether this call closed the mapping (false the second time).
func (m *mapping) close() bool { return m.isDead.CompareAndSwap(false, true) }
