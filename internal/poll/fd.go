// Package poll runs system calls on non-blocking descriptors the way
// ipcchan's queues need them, in the spirit of the standard library's
// internal/poll.FD: one place that makes the call, waits when the call
// says EAGAIN, honours a context, and lets Close wake every waiter and
// close the descriptor only once no call is using it.
//
// # How a call waits
//
// A call that may wait goes first to the kernel, with a deadline
// BlockSlice away, on a second, blocking descriptor of the same open
// object: if the call can complete, it does at once; if it cannot, the
// thread sleeps in the kernel, which hands it a message, or room, the
// moment there is one (the kernel's direct hand-off between a sender and a
// receiver). That is one system call per operation, as a blocking
// mq_receive in C makes, where trying a non-blocking call and then waiting
// for readiness with epoll takes three. A wait longer than the slice goes
// on, without a thread, on the epoll reactor (package loop), where a
// context or Close ends it at once. So a cancelled context or a Close ends
// a wait within BlockSlice; a deadline is exact.
//
// The slice is 10 ms because a shorter one costs every wait: a timer that
// expires before the next scheduler tick (4 ms at HZ=250) must be
// programmed into the timer hardware, which a virtual machine traps.
// Measured here with a C ping-pong over two queues: a blocking receive
// with no timeout 6.8 µs one-way, with a 1 ms timeout 8.1 µs, with 10 ms,
// 100 ms or 1 s 6.9 to 7.2 µs. The deadline is CLOCK_REALTIME, as
// mq_timedreceive takes; a step of the clock while a waiter sleeps
// lengthens or shortens that one slice.
//
// A waiter in the kernel holds its goroutine's thread for at most the
// slice, and at most 4 per GOMAXPROCS (8 at least) do at a time in the
// process, queues and futex objects together (package budget); others wait
// on the reactor. An FD that nobody waits on costs no thread and no
// goroutine.
package poll

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ipcchan/ipcchan/internal/budget"
	"github.com/ipcchan/ipcchan/loop"
)

// ErrClosing is returned by the operations of an FD that is being closed,
// or was.
var ErrClosing = errors.New("use of a closed descriptor")

// BlockSlice bounds a wait in the kernel, and so how long a cancelled
// context or a Close may take to end a wait.
const BlockSlice = 10 * time.Millisecond

// An Op is one attempt of an operation on fd. Without a deadline (the zero
// Timespec), fd is the non-blocking descriptor: the op must not wait, and
// says EAGAIN when it cannot go on. With one (absolute, CLOCK_REALTIME),
// fd is the blocking descriptor: the op may wait in the kernel until then
// (ETIMEDOUT).
type Op func(fd int, deadline unix.Timespec) error

// An FD is a non-blocking descriptor and its waits. Its methods are safe
// for concurrent use.
type FD struct {
	sysfd int
	wait  *loop.FD

	blockOnce sync.Once
	blockfd   int           // the blocking descriptor, or -1 when there is none
	calls     atomic.Uint32 // calls that waited in the kernel, to read the clock every refreshEvery

	mu        sync.RWMutex // held shared around system calls, exclusively to close the descriptors
	closing   atomic.Bool  // set when Close begins: new operations fail
	sysClosed bool         // under mu: the descriptors are closed
	closeOnce sync.Once
	closeErr  error
}

// New returns the FD of the non-blocking descriptor fd, which it owns from
// now on, waiting on the process's default loop.
func New(fd int) (*FD, error) {
	l, err := loop.Default()
	if err != nil {
		return nil, err
	}
	return &FD{sysfd: fd, wait: l.Watch(fd), blockfd: -1}, nil
}

// Sysfd returns the non-blocking descriptor, or -1 once it is closed.
func (f *FD) Sysfd() int {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.sysClosed {
		return -1
	}
	return f.sysfd
}

// Do makes one attempt of op with the non-blocking descriptor, or returns
// ErrClosing.
func (f *FD) Do(op func(fd int) error) error {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.closing.Load() {
		return ErrClosing
	}
	return op(f.sysfd)
}

// Run performs op. Without block it makes one attempt, which returns
// EAGAIN if op cannot go on now. With block it waits until op goes on (see
// the package documentation): until ctx is done (its cause), or until
// Close begins (ErrClosing); ev is what the reactor waits for, readable or
// writable.
func (f *FD) Run(ctx context.Context, ev loop.Events, block bool, op Op) error {
	if !block {
		return f.Do(func(fd int) error { return op(fd, unix.Timespec{}) })
	}
	if budget.Enter() {
		err := f.runBlocking(ctx, op)
		budget.Leave()
		if err != errSliceOver {
			return err
		}
	}
	for {
		// The token, taken before the attempt, keeps readiness that comes
		// between a failed attempt and the wait from being missed.
		tok := f.wait.Token()
		err := f.Do(func(fd int) error { return op(fd, unix.Timespec{}) })
		if err != syscall.EAGAIN {
			return err
		}
		if err := f.wait.Wait(ctx, ev, tok); err != nil {
			if errors.Is(err, loop.ErrClosed) {
				return ErrClosing
			}
			if c := context.Cause(ctx); c != nil {
				return c
			}
			return err
		}
	}
}

// errSliceOver says that a wait in the kernel ended at the end of its
// slice, and should go on on the reactor.
var errSliceOver = errors.New("slice over")

// runBlocking makes op wait in the kernel, on the blocking descriptor, for
// at most a slice (or until ctx's deadline, if it is sooner).
//
// Reading the clock for every call showed in the profile of a stream (5%
// of the CPU time of both processes, in the vDSO), so the end of the slice
// is shared by the process's calls, and the clock read only every
// refreshEvery calls of an FD, or when a call times out early: a call that
// can complete does with any deadline, past or not, and one that finds
// the end past refreshes it and waits again, once. (Not reading the clock
// at all until a call times out would leave most waits a slice that ends
// sooner than the next scheduler tick, which costs more than the read.)
func (f *FD) runBlocking(ctx context.Context, op Op) error {
	if done(ctx) {
		return errSliceOver // one attempt without waiting, then the context's error
	}
	end := sliceEnd.Load()
	if f.calls.Add(1)%refreshEvery == 0 {
		end = time.Now().Add(BlockSlice).UnixNano()
		sliceEnd.Store(end)
	}
	dl, hasDeadline := ctx.Deadline()
	if hasDeadline {
		end = min(end, dl.UnixNano())
	}
	for refreshed := false; ; {
		f.mu.RLock()
		if f.closing.Load() {
			f.mu.RUnlock()
			return ErrClosing
		}
		fd := f.blocking()
		if fd < 0 {
			f.mu.RUnlock()
			return errSliceOver // no blocking descriptor: the reactor it is
		}
		// max: the zero Timespec would mean "no deadline" to op, and the
		// first slice of the process starts at 0, which is long past.
		err := op(fd, unix.NsecToTimespec(max(end, 1)))
		f.mu.RUnlock()
		switch err {
		case syscall.EINTR:
			continue
		case syscall.ETIMEDOUT:
			if done(ctx) {
				return context.Cause(ctx)
			}
			if refreshed {
				return errSliceOver
			}
			refreshed = true
			end = time.Now().Add(BlockSlice).UnixNano()
			sliceEnd.Store(end)
			if hasDeadline {
				end = min(end, dl.UnixNano())
			}
			continue
		}
		return err
	}
}

// done reports whether ctx is done, more cheaply than ctx.Err(), which
// takes a cancellable context's lock.
func done(ctx context.Context) bool {
	d := ctx.Done()
	if d == nil {
		return false
	}
	select {
	case <-d:
		return true
	default:
		return false
	}
}

// sliceEnd is the end of the current slice, in Unix nanoseconds
// (CLOCK_REALTIME), shared by the waits of the process.
var sliceEnd atomic.Int64

// refreshEvery is how many calls of an FD share a reading of the clock.
const refreshEvery = 16

// blocking returns the blocking descriptor, opening it the first time: a
// second open file description of the same object, made by opening
// /proc/self/fd/N (which reaches the object even after its name is gone,
// and never another object of the same name), with the same access mode
// and without O_NONBLOCK. It returns -1 when that fails. The caller holds
// mu shared, so that the descriptor is open.
func (f *FD) blocking() int {
	f.blockOnce.Do(func() {
		flags, err := unix.FcntlInt(uintptr(f.sysfd), unix.F_GETFL, 0)
		if err != nil {
			return
		}
		fd, err := unix.Open("/proc/self/fd/"+strconv.Itoa(f.sysfd), flags&unix.O_ACCMODE|unix.O_CLOEXEC, 0)
		if err != nil {
			return
		}
		var a, b unix.Stat_t
		if unix.Fstat(f.sysfd, &a) != nil || unix.Fstat(fd, &b) != nil || a.Dev != b.Dev || a.Ino != b.Ino {
			unix.Close(fd)
			return
		}
		f.blockfd = fd
	})
	return f.blockfd
}

// Close begins closing: operations fail with ErrClosing from now on, and
// the waiting ones wake with it, those on the reactor at once, those in
// the kernel at the end of their slice. Then it calls drain, if not nil,
// which may still use the descriptor with Final, and closes the
// descriptors once no operation is using them. Only the first call does
// all this; every call returns drain's error, or else the close's.
func (f *FD) Close(drain func() error) error {
	f.closeOnce.Do(func() {
		f.closing.Store(true)
		f.wait.Close()
		if drain != nil {
			f.closeErr = drain()
		}
		f.blockOnce.Do(func() {}) // no blocking descriptor from now on
		f.mu.Lock()
		f.sysClosed = true
		err := unix.Close(f.sysfd)
		if f.blockfd >= 0 {
			unix.Close(f.blockfd)
		}
		f.mu.Unlock()
		if f.closeErr == nil && err != nil {
			f.closeErr = err
		}
	})
	return f.closeErr
}

// Final runs op on the non-blocking descriptor until it returns something
// other than EAGAIN, or until the deadline (then it returns EAGAIN). It is
// for Close's drain: the reactor no longer watches the descriptor, so it
// polls the descriptor itself between attempts.
func (f *FD) Final(deadline time.Time, ev loop.Events, op func(fd int) error) error {
	for {
		f.mu.RLock()
		err := op(f.sysfd)
		f.mu.RUnlock()
		left := time.Until(deadline)
		if err != syscall.EAGAIN || left <= 0 {
			return err
		}
		fds := []unix.PollFd{{Fd: int32(f.sysfd), Events: int16(ev)}}
		unix.Poll(fds, int(left.Milliseconds())+1)
	}
}
