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
	use    *objUse
	isDead atomic.Bool
}

// objUse is a handle's use of an object: its memory, and its slot in the
// object's users table (-1 for none), freed once, at Close or with the
// handle.
type objUse struct {
	mem     []byte
	slot    int
	dropped atomic.Bool
}

func (u *objUse) drop() {
	if u.dropped.CompareAndSwap(false, true) {
		dropUser(u.mem, u.slot)
	}
}

// attach gives owner's mapping the memory mem and users-table slot, and
// arranges for both to be released once owner is unreachable.
func attach[T any](owner *T, m *mapping, mem []byte, slot int) {
	m.use = &objUse{mem: mem, slot: slot}
	runtime.AddCleanup(owner, func(u *objUse) {
		u.drop()
		unix.Munmap(u.mem)
	}, m.use)
}

// closed reports whether close was called.
func (m *mapping) closed() bool { return m.isDead.Load() }

// close reports whether this call closed the mapping (false the second
// time), and frees the handle's users-table slot.
func (m *mapping) close() bool {
	if !m.isDead.CompareAndSwap(false, true) {
		return false
	}
	m.use.drop()
	return true
}
