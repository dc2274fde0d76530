package ipcchan

import (
	"context"
	"fmt"
	"sync/atomic"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/ipcchan/ipcchan/internal/futex"
	"github.com/ipcchan/ipcchan/internal/ipcerr"
	"github.com/ipcchan/ipcchan/internal/objfmt"
	"github.com/ipcchan/ipcchan/internal/options"
	"github.com/ipcchan/ipcchan/internal/posix"
)

// A Semaphore is a POSIX named semaphore, exactly as glibc's sem_open makes
// it: the file /dev/shm/sem.NAME holding a 32-byte sem_t, driven by
// futexes. A C program's sem_post wakes a Go Acquire and the reverse, and
// the count is the one sem_getvalue reports. Its methods are safe for
// concurrent use. The sem_t holds the count and the number of possibly
// sleeping waiters in one 64-bit word (package objfmt has its layout).
//
// Acquire takes a token with one compare-and-swap when the count is not
// zero. Otherwise it counts itself as a waiter and sleeps on the count's
// futex word; Release wakes one sleeper when the waiter count is not zero.
// A blocked Acquire holds its goroutine's OS thread in futex_waitv (a
// futex cannot be watched by epoll), like a blocking sem_wait would; an
// idle semaphore costs no thread and no goroutine.
type Semaphore struct {
	name    string
	m       mapping
	data    *uint64
	waiters futex.Set
}

// OpenSemaphore opens the named semaphore name ("/slots"). It takes the
// options Create, Exclusive, Perm and Value (the initial count of a created
// semaphore, at most 2147483647; default 0).
func OpenSemaphore(name string, opts ...Option) (*Semaphore, error) {
	const allowed = options.Create | options.Exclusive | options.Perm | options.Value
	cfg, err := options.Apply(ipcerr.Object{Kind: "semaphore", Name: name}, allowed, opts)
	if err != nil {
		return nil, err
	}
	path, err := objPath("semaphore", "open", name, objfmt.SemPrefix)
	if err != nil {
		return nil, err
	}
	if cfg.Value > objfmt.SemValueMax {
		return nil, &Error{Kind: "semaphore", Name: name, Op: "open", Err: ErrInvalid,
			Detail: fmt.Sprintf("Value(%d) exceeds SEM_VALUE_MAX (%d)", cfg.Value, objfmt.SemValueMax)}
	}
	mem, err := openSemFile(name, path, cfg)
	if err != nil {
		return nil, err
	}
	s := &Semaphore{name: name, data: objfmt.SemData(mem)}
	attach(s, &s.m, mem, -1) // glibc's sem_t has no users table
	return s, nil
}

func openSemFile(name, path string, cfg *options.Config) ([]byte, error) {
	fail := func(sentinel, sys error, detail string) ([]byte, error) {
		return nil, &Error{Kind: "semaphore", Name: name, Op: "open", Err: sentinel, Sys: sys, Detail: detail}
	}
	for range 100 {
		if !cfg.Has(options.Exclusive) {
			fd, err := posix.OpenShm(path)
			if err == nil {
				defer unix.Close(fd)
				if size, err := posix.FileSize(fd); err != nil || size < objfmt.SemSize {
					return fail(ErrTypeMismatch, err, fmt.Sprintf("%s has %d bytes, not a %d-byte sem_t; remove it (ipcchan.UnlinkSemaphore(%q)) if it is left over", path, size, objfmt.SemSize, name))
				}
				mem, err := posix.Mmap(fd, objfmt.SemSize)
				if err != nil {
					return fail(nil, err, "")
				}
				return mem, nil
			}
			if err != syscall.ENOENT {
				return nil, shmOpenError("semaphore", name, err)
			}
			if !cfg.Has(options.Create) {
				return nil, notExistError("semaphore", name, err)
			}
		}
		fd, mem, err := posix.CreateShm(path, uint32(cfg.Perm), objfmt.SemSize, func(m []byte) {
			objfmt.SemInit(m, uint32(cfg.Value))
		})
		if err == syscall.EEXIST {
			if cfg.Has(options.Exclusive) {
				return nil, existError("semaphore", name, "UnlinkSemaphore")
			}
			continue // another process created it first: open theirs
		}
		if err != nil {
			return nil, shmOpenError("semaphore", name, err)
		}
		unix.Close(fd)
		return mem, nil
	}
	return fail(ErrExist, nil, "created and removed by others too often to open")
}

// Name returns the semaphore's name.
func (s *Semaphore) Name() string { return s.name }

// word is the count's futex word, the low half of data.
func (s *Semaphore) word() *uint32 { return (*uint32)(unsafe.Pointer(s.data)) }

// TryAcquire takes a token if the count is above zero, without waiting.
func (s *Semaphore) TryAcquire() bool {
	if s.m.closed() {
		return false
	}
	return s.tryAcquire()
}

func (s *Semaphore) tryAcquire() bool {
	for d := atomic.LoadUint64(s.data); d&objfmt.SemValueMask > 0; d = atomic.LoadUint64(s.data) {
		if atomic.CompareAndSwapUint64(s.data, d, d-1) {
			return true
		}
	}
	return false
}

// Acquire takes a token, waiting while the count is zero, until a token is
// released, ctx is done, or the handle is closed (ErrClosed).
func (s *Semaphore) Acquire(ctx context.Context) error {
	if s.m.closed() {
		return s.closedError("acquire")
	}
	if s.tryAcquire() {
		return nil
	}
	// Count this goroutine as a possible sleeper, as glibc's sem_wait does,
	// so that Release (in any process) knows to wake someone.
	d := atomic.AddUint64(s.data, objfmt.SemWaiter)
	for {
		if d&objfmt.SemValueMask == 0 {
			switch s.waiters.Wait(ctx, s.word(), 0, -1, 0) {
			case futex.ByContext:
				return s.giveUp("acquire", &Error{Kind: "semaphore", Name: s.name, Op: "acquire", Err: context.Cause(ctx),
					Detail: context.Cause(ctx).Error() + " while waiting for a token"})
			case futex.ByClose:
				return s.giveUp("acquire", s.closedError("acquire"))
			}
			d = atomic.LoadUint64(s.data)
			continue
		}
		// Take a token and stop being a waiter in one step.
		if atomic.CompareAndSwapUint64(s.data, d, d-1-objfmt.SemWaiter) {
			return nil
		}
		d = atomic.LoadUint64(s.data)
	}
}

// giveUp stops counting a waiter that leaves without a token. If a
// Release meant to wake it, and tokens and other waiters remain, it passes
// the wake-up on, so that no other waiter sleeps beside a free token.
func (s *Semaphore) giveUp(op string, err error) error {
	d := atomic.AddUint64(s.data, ^uint64(objfmt.SemWaiter-1)) // minus one waiter
	if d&objfmt.SemValueMask > 0 && d>>objfmt.SemWaiterShift > 0 {
		futex.Wake(s.word(), 1)
	}
	return err
}

// Release returns a token, waking one waiter (in any process) if there is
// one. It fails with ErrLimit at SEM_VALUE_MAX, as sem_post does.
func (s *Semaphore) Release() error {
	if s.m.closed() {
		return s.closedError("release")
	}
	for {
		d := atomic.LoadUint64(s.data)
		if d&objfmt.SemValueMask == objfmt.SemValueMax {
			return &Error{Kind: "semaphore", Name: s.name, Op: "release", Err: ErrLimit, Sys: syscall.EOVERFLOW,
				Detail: fmt.Sprintf("the count is already SEM_VALUE_MAX (%d)", objfmt.SemValueMax)}
		}
		if atomic.CompareAndSwapUint64(s.data, d, d+1) {
			if d>>objfmt.SemWaiterShift > 0 {
				futex.Wake(s.word(), 1)
			}
			return nil
		}
	}
}

// Value returns the count, as sem_getvalue does.
func (s *Semaphore) Value() (int, error) {
	if s.m.closed() {
		return 0, s.closedError("value")
	}
	return int(atomic.LoadUint64(s.data) & objfmt.SemValueMask), nil
}

// Close releases this process's handle; the semaphore stays until Unlink.
// Goroutines blocked in Acquire return ErrClosed. Calling Close twice is
// harmless.
func (s *Semaphore) Close() error {
	if s.m.close() {
		s.waiters.Close()
	}
	return nil
}

// Unlink removes the semaphore's name; handles already open keep working.
func (s *Semaphore) Unlink() error { return UnlinkSemaphore(s.name) }

// UnlinkSemaphore removes the named semaphore name (like sem_unlink).
func UnlinkSemaphore(name string) error {
	return unlinkObject("semaphore", name, objfmt.SemPrefix)
}

func (s *Semaphore) closedError(op string) error {
	return &Error{Kind: "semaphore", Name: s.name, Op: op, Err: ErrClosed, Detail: "the semaphore handle is closed"}
}
