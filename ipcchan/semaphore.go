package ipcchan

import (
	"context"
	"fmt"
	"sync/atomic"
	"syscall"
	"unsafe"

	"github.com/ipcchan/ipcchan/internal/futex"
	"github.com/ipcchan/ipcchan/internal/ipcerr"
	"github.com/ipcchan/ipcchan/internal/objfmt"
	"github.com/ipcchan/ipcchan/internal/options"
	"github.com/ipcchan/ipcchan/loop"
)

// A Semaphore is a POSIX named semaphore, exactly as glibc's sem_open makes
// it: the file /dev/shm/sem.NAME holding a 32-byte sem_t, driven by
// futexes. A C program's sem_post wakes a Go Acquire and the reverse, and
// the count is the one sem_getvalue reports. Its methods are safe for
// concurrent use. The sem_t holds the count and the number of possibly
// sleeping waiters in one 64-bit word (package objfmt has its layout).
//
// Acquire takes a token with one compare-and-swap when the count is not
// zero. Otherwise it counts itself as a waiter and waits on the count's
// futex word, as a goroutine waits on a channel: first on its thread in
// the kernel for a short slice, then parked without a thread, however many
// goroutines wait (see the package documentation); a Release wakes as many
// waiters as there are tokens, not all of them. An idle semaphore costs no
// thread and no goroutine.
type Semaphore struct {
	core
	data *uint64
}

// OpenSemaphore opens the named semaphore name ("/slots"). It takes the
// options Create, Exclusive, Perm and Value (the initial count of a created
// semaphore, at most 2147483647; default 0).
func OpenSemaphore(name string, opts ...Option) (*Semaphore, error) {
	obj := ipcerr.Object{Kind: "semaphore", Name: name}
	cfg, err := options.Apply(obj, options.Create|options.Exclusive|options.Perm|options.Value, opts)
	if err != nil {
		return nil, err
	}
	if cfg.Value > objfmt.SemValueMax {
		return nil, obj.Err("open", ErrInvalid, fmt.Sprintf("Value(%d) exceeds SEM_VALUE_MAX (%d)", cfg.Value, objfmt.SemValueMax))
	}
	spec := objSpec{size: objfmt.SemSize, typeName: "sem_t"} // glibc's: no header
	mem, _, err := openObject(obj, cfg, spec, func(m []byte) { objfmt.SemInit(m, uint32(cfg.Value)) })
	if err != nil {
		return nil, err
	}
	s := &Semaphore{core: core{obj: obj}, data: objfmt.SemData(mem)}
	s.waiters.SetPolicy(futex.WakeCount) // no more than the tokens there are
	attach(s, &s.m, mem, -1)             // glibc's sem_t has no users table
	return s, nil
}

// Name returns the semaphore's name.
func (s *Semaphore) Name() string { return s.obj.Name }

// word is the count's futex word, the low half of data.
func (s *Semaphore) word() *uint32 { return (*uint32)(unsafe.Pointer(s.data)) }

// TryAcquire takes a token if the count is above zero, without waiting.
func (s *Semaphore) TryAcquire() bool {
	if s.closed() {
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
	if s.closed() {
		return s.closedErr("acquire")
	}
	if s.tryAcquire() {
		return nil
	}
	// Count this goroutine as a possible sleeper, as glibc's sem_wait does,
	// so that Release (in any process) knows to wake someone.
	d := atomic.AddUint64(s.data, objfmt.SemWaiter)
	for {
		if d&objfmt.SemValueMask == 0 {
			if err := s.waitErr("acquire", s.waiters.Wait(ctx, s.word(), 0, -1, 0), ctx); err != nil {
				s.giveUp()
				return err
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

// waitErr is the error of a wait of op that ended for reason, or nil if it
// should look again.
func (s *Semaphore) waitErr(op string, reason uint32, ctx context.Context) error {
	switch reason {
	case futex.ByContext:
		return s.obj.Err(op, context.Cause(ctx), context.Cause(ctx).Error()+" while waiting for a token")
	case futex.ByClose:
		return s.closedErr(op)
	}
	return nil
}

// giveUp stops counting a waiter that leaves without a token. If a
// Release meant to wake it, and tokens and other waiters remain, it passes
// the wake-up on, so that no other waiter sleeps beside a free token.
func (s *Semaphore) giveUp() {
	d := atomic.AddUint64(s.data, ^uint64(objfmt.SemWaiter-1)) // minus one waiter
	if d&objfmt.SemValueMask > 0 && d>>objfmt.SemWaiterShift > 0 {
		futex.Pass(s.word())
	}
}

// Release returns a token, waking one waiter (in any process) if there is
// one. It fails with ErrLimit at SEM_VALUE_MAX, as sem_post does.
func (s *Semaphore) Release() error {
	if s.closed() {
		return s.closedErr("release")
	}
	for {
		d := atomic.LoadUint64(s.data)
		if d&objfmt.SemValueMask == objfmt.SemValueMax {
			return s.obj.Fail("release", ErrLimit, syscall.EOVERFLOW, fmt.Sprintf("the count is already SEM_VALUE_MAX (%d)", objfmt.SemValueMax))
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
	if s.closed() {
		return 0, s.closedErr("value")
	}
	return int(atomic.LoadUint64(s.data) & objfmt.SemValueMask), nil
}

// Watch runs cb on l's goroutine when the semaphore has a token, so that
// an Acquire would not wait, for ev = loop.Readable (the only event a
// semaphore has). As for a descriptor added with l.Add, it is
// level-triggered: cb runs again while tokens remain after it returns, so
// a callback takes what it wants with TryAcquire. A watch takes no token
// itself, and costs a goroutine but no thread: it waits parked, counted as
// a waiter, so that a Release (in any process) wakes it. stop ends the
// watch; so do Close and l's end.
func (s *Semaphore) Watch(l *loop.Loop, ev loop.Events, cb func(loop.Events)) (stop func(), err error) {
	if ev != loop.Readable {
		return nil, s.obj.Err("watch", ErrInvalid, "a semaphore is watched for loop.Readable: a token to take")
	}
	return s.watch(l, ev, cb, func(ctx context.Context) error {
		for atomic.LoadUint64(s.data)&objfmt.SemValueMask == 0 {
			d := atomic.AddUint64(s.data, objfmt.SemWaiter)
			reason := uint32(futex.Woken)
			if d&objfmt.SemValueMask == 0 {
				reason = s.waiters.Park(ctx, s.word(), 0, -1, 0)
			}
			s.giveUp() // a watch takes no token: the wake-up goes on to a waiter that does
			if err := s.waitErr("watch", reason, ctx); err != nil {
				return err
			}
		}
		return nil
	})
}

// Close releases this process's handle; the semaphore stays until Unlink.
// Goroutines blocked in Acquire return ErrClosed, and watches end.
// Calling Close twice is harmless.
func (s *Semaphore) Close() error {
	s.close()
	return nil
}

// Unlink removes the semaphore's name; handles already open keep working.
func (s *Semaphore) Unlink() error { return UnlinkSemaphore(s.obj.Name) }

// UnlinkSemaphore removes the named semaphore name (like sem_unlink).
func UnlinkSemaphore(name string) error { return unlinkObject("semaphore", name) }
