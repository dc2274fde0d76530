package ipcchan

import (
	"context"
	"fmt"
	"os"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/ipcchan/ipcchan/internal/futex"
	"github.com/ipcchan/ipcchan/internal/ipcerr"
	"github.com/ipcchan/ipcchan/internal/objfmt"
	"github.com/ipcchan/ipcchan/internal/options"
	"github.com/ipcchan/ipcchan/internal/posix"
)

// A Mutex is a lock shared by processes that survives the death of its
// holder: if a process dies holding it, the next LockContext acquires it
// and returns ErrOwnerDead, the POSIX robust-mutex contract. Like
// sync.Mutex it belongs to no goroutine: it is held by a process, and any
// goroutine of that process may Unlock it.
//
// The lock is a futex word in an ipcchan object (/dev/shm/ipcchan.mutex.NAME,
// after the 192-byte header): 0 when free, else the holder's pid, with bit 31
// set when someone may be sleeping. A second word records whether the
// protected state is consistent (package objfmt has the layout). A goroutine that waits for a holder in
// another process watches that process through a pidfd on the reactor, so
// its death is seen at once, not by polling; a blocked Lock waits as a
// goroutine waits on a channel: a short slice on its thread in the kernel,
// then parked without a thread (see the package documentation), plus one
// goroutine for the watch.
//
// A pid that the kernel reuses after its holder died would look alive: a
// holder that dies while nobody waits, followed by the reuse of its pid
// before the next Lock, is not detected (pids wrap after pid_max, 4194304
// by default, new processes).
type Mutex struct {
	core
	word  *uint32 // 0, or holder pid | mutexWaiters
	state *uint32 // objfmt.MutexConsistent, MutexOwnerDied, MutexNotRecoverable
	pid   uint32
}

const (
	mutexWaiters        = objfmt.MutexWaiters
	mutexPidMask        = objfmt.MutexPidMask
	mutexConsistent     = objfmt.MutexConsistent
	mutexOwnerDied      = objfmt.MutexOwnerDied
	mutexNotRecoverable = objfmt.MutexNotRecoverable
)

// OpenMutex opens the mutex name ("/lock"). It takes the options Create,
// Exclusive and Perm.
func OpenMutex(name string, opts ...Option) (*Mutex, error) {
	obj := ipcerr.Object{Kind: "mutex", Name: name}
	cfg, err := options.Apply(obj, options.Create|options.Exclusive|options.Perm, opts)
	if err != nil {
		return nil, err
	}
	spec := objSpec{kind: objfmt.Mutex, size: objfmt.MutexPayload, align: 4, typeName: "ipcchan.Mutex"}
	mem, _, err := openObject(obj, cfg, spec, func([]byte) {})
	if err != nil {
		return nil, err
	}
	m := &Mutex{core: core{obj: obj}, pid: uint32(os.Getpid())}
	m.waiters.SetPolicy(mutexPolicy)
	m.word, m.state = objfmt.MutexWords(objfmt.Payload(mem))
	attach(m, &m.m, mem, addUser(mem))
	return m, nil
}

// Name returns the mutex's name.
func (m *Mutex) Name() string { return m.obj.Name }

// Lock locks m, waiting as long as it takes; it implements sync.Locker.
// It is for code that cannot repair shared state: if the holder died
// holding the mutex, Lock passes the mutex on, still marked as left by a
// dead holder, and panics; use LockContext to handle ErrOwnerDead. It also
// panics if the mutex is not recoverable or the handle is closed.
func (m *Mutex) Lock() {
	err := m.LockContext(context.Background())
	if err == nil {
		return
	}
	if isOwnerDead(err) {
		m.release(false)
	}
	panic(fmt.Sprintf("ipcchan: %v (Lock cannot report this: use LockContext)", err))
}

func isOwnerDead(err error) bool {
	e, ok := err.(*Error)
	return ok && e.Err == ErrOwnerDead
}

// LockContext locks m, waiting until it is free, ctx is done, or the
// handle is closed. If the previous holder died holding it, LockContext
// acquires it all the same and returns ErrOwnerDead: the state the mutex
// protects may be half-updated; repair it and call MarkConsistent before
// Unlock, or the mutex becomes unusable for everyone (ErrNotRecoverable).
func (m *Mutex) LockContext(ctx context.Context) error {
	if m.closed() {
		return m.closedErr("lock")
	}
	if atomic.CompareAndSwapUint32(m.word, 0, m.pid) {
		return m.acquired()
	}
	return m.lockSlow(ctx)
}

// TryLock locks m if it is free and consistent, without waiting.
func (m *Mutex) TryLock() bool {
	if m.closed() {
		return false
	}
	if atomic.LoadUint32(m.state) != mutexConsistent || !atomic.CompareAndSwapUint32(m.word, 0, m.pid) {
		return false
	}
	if atomic.LoadUint32(m.state) != mutexConsistent {
		m.release(false)
		return false
	}
	return true
}

// acquired checks the state of a mutex just locked.
func (m *Mutex) acquired() error {
	switch atomic.LoadUint32(m.state) {
	case mutexOwnerDied:
		return m.ownerDead(0)
	case mutexNotRecoverable:
		m.release(false)
		return m.notRecoverable()
	}
	return nil
}

func (m *Mutex) lockSlow(ctx context.Context) error {
	for {
		if atomic.LoadUint32(m.state) == mutexNotRecoverable {
			return m.notRecoverable()
		}
		w := atomic.LoadUint32(m.word)
		if w == 0 {
			// Others may be asleep: keep the waiters bit, to wake them later.
			if atomic.CompareAndSwapUint32(m.word, 0, m.pid|mutexWaiters) {
				return m.acquired()
			}
			continue
		}
		holder := w & mutexPidMask
		pidfd := -1
		if holder != m.pid {
			fd, err := posix.PidfdOpen(int(holder))
			if err == syscall.ESRCH || (err == nil && posix.Exited(fd)) {
				if err == nil {
					unix.Close(fd)
				}
				if atomic.CompareAndSwapUint32(m.word, w, m.pid|w&mutexWaiters) {
					if atomic.CompareAndSwapUint32(m.state, mutexConsistent, mutexOwnerDied) || atomic.LoadUint32(m.state) == mutexOwnerDied {
						return m.ownerDead(holder)
					}
					m.release(false)
					return m.notRecoverable()
				}
				continue
			}
			if err == nil {
				pidfd = fd
			}
		}
		if w&mutexWaiters == 0 && !atomic.CompareAndSwapUint32(m.word, w, w|mutexWaiters) {
			if pidfd >= 0 {
				unix.Close(pidfd)
			}
			continue
		}
		reason := m.waiters.Wait(ctx, m.word, w|mutexWaiters, pidfd, 0)
		if pidfd >= 0 {
			unix.Close(pidfd)
		}
		switch reason {
		case futex.ByContext:
			m.giveUp()
			return m.obj.Err("lock", context.Cause(ctx), fmt.Sprintf("%v while waiting for process %d to unlock it", context.Cause(ctx), holder))
		case futex.ByClose:
			m.giveUp()
			return m.closedErr("lock")
		}
	}
}

// giveUp passes on the wake-up that an Unlock may have meant for a waiter
// that leaves without the lock: that Unlock cleared the waiters bit, so
// without it the other sleepers (in any process) would sleep on beside a
// free mutex. A sleeper woken for nothing looks, sets the bit again and
// sleeps; while the bit is set, the holder's Unlock wakes one.
func (m *Mutex) giveUp() {
	if atomic.LoadUint32(m.word)&mutexWaiters == 0 {
		futex.Pass(m.word)
	}
}

// mutexPolicy wakes one parked waiter when the mutex is free (the next
// locker), or held without the waiters bit (one to set it, so that the
// holder's Unlock wakes them): a level policy, looked at until it holds.
var mutexPolicy = futex.Policy{Level: true, Wakes: func(w uint32, parked int, _ bool) int {
	if w&mutexPidMask == 0 || w&mutexWaiters == 0 {
		return min(1, parked)
	}
	return 0
}}

// Unlock unlocks m. It panics if this process does not hold m, like
// sync.Mutex. Unlocking a mutex acquired with ErrOwnerDead without calling
// MarkConsistent first makes it not recoverable: every later lock fails
// with ErrNotRecoverable, as POSIX robust mutexes do.
func (m *Mutex) Unlock() {
	if m.closed() {
		panic(fmt.Sprintf("ipcchan: unlock of mutex %s after Close", m.obj.Name))
	}
	if w := atomic.LoadUint32(m.word); w&mutexPidMask != m.pid {
		if w == 0 {
			panic(fmt.Sprintf("ipcchan: unlock of unlocked mutex %s", m.obj.Name))
		}
		panic(fmt.Sprintf("ipcchan: unlock of mutex %s held by process %d, not this one (%d)", m.obj.Name, w&mutexPidMask, m.pid))
	}
	m.release(atomic.LoadUint32(m.state) == mutexOwnerDied)
}

// release frees the lock; with poison, it first makes the mutex not
// recoverable.
func (m *Mutex) release(poison bool) {
	wake := 1
	if poison {
		atomic.StoreUint32(m.state, mutexNotRecoverable)
		wake = futex.WakeAll
	}
	if atomic.SwapUint32(m.word, 0)&mutexWaiters != 0 {
		futex.Wake(m.word, wake)
	}
}

// MarkConsistent declares that the state the mutex protects was repaired
// after LockContext returned ErrOwnerDead. The caller must hold the mutex.
func (m *Mutex) MarkConsistent() error {
	if m.closed() {
		return m.closedErr("mark consistent")
	}
	if atomic.LoadUint32(m.word)&mutexPidMask != m.pid {
		return m.obj.Err("mark consistent", ErrInvalid, "this process does not hold the mutex")
	}
	if !atomic.CompareAndSwapUint32(m.state, mutexOwnerDied, mutexConsistent) {
		return m.obj.Err("mark consistent", ErrInvalid, "the mutex is not marked as left by a dead holder")
	}
	return nil
}

func (m *Mutex) ownerDead(holder uint32) error {
	who := "a holder that died"
	if holder != 0 {
		who = fmt.Sprintf("process %d, which died holding it", holder)
	}
	return m.obj.Err("lock", ErrOwnerDead, fmt.Sprintf(
		"acquired from %s: the state it protects may be inconsistent; repair it and call MarkConsistent before Unlock", who))
}

func (m *Mutex) notRecoverable() error {
	return m.obj.Fail("lock", ErrNotRecoverable, syscall.ENOTRECOVERABLE, fmt.Sprintf(
		"not recoverable: a holder took it over from a dead one and unlocked it without MarkConsistent; remove it (ipcchan.UnlinkMutex(%q)) and create it again", m.obj.Name))
}

// Close releases this process's handle (not the lock); goroutines blocked
// in LockContext return ErrClosed. Calling Close twice is harmless.
func (m *Mutex) Close() error {
	m.close()
	return nil
}

// Unlink removes the mutex's name; handles already open keep working.
func (m *Mutex) Unlink() error { return UnlinkMutex(m.obj.Name) }

// UnlinkMutex removes the mutex name.
func UnlinkMutex(name string) error { return unlinkObject("mutex", name) }
