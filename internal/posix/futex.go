package posix

import (
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

const (
	futexWait        = 0
	futexWake        = 1
	futexPrivateFlag = 128

	futex2SizeU32 = 0x02
	futex2Private = futexPrivateFlag

	sysFutexWaitv = 449 // futex_waitv, Linux 5.16
)

// FutexWake wakes up to n waiters on the futex word at addr. shared is true
// for a word in memory shared between processes.
func FutexWake(addr *uint32, n int, shared bool) (int, error) {
	op := futexWake
	if !shared {
		op |= futexPrivateFlag
	}
	r, _, errno := unix.RawSyscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(addr)), uintptr(op), uintptr(n), 0, 0, 0)
	if errno != 0 {
		return 0, errno
	}
	return int(r), nil
}

// A FutexWaiter is one entry of a FutexWaitv call: wait while *Addr == Val.
type FutexWaiter struct {
	Addr   *uint32
	Val    uint32
	Shared bool
}

// futexWaitv is the kernel's struct futex_waitv.
type futexWaitv struct {
	val      uint64
	uaddr    uint64
	flags    uint32
	reserved uint32
}

// FutexWaitv sleeps until one of the words is woken, or returns EAGAIN at
// once if one of them does not hold its expected value. It returns the
// index of the word that was woken. timeout 0 means no limit. On kernels
// before 5.16 it returns ENOSYS.
func FutexWaitv(ws []FutexWaiter, timeout time.Duration) (int, error) {
	var buf [4]futexWaitv
	if len(ws) > len(buf) {
		return 0, syscall.EINVAL
	}
	for i, w := range ws {
		buf[i] = futexWaitv{val: uint64(w.Val), uaddr: uint64(uintptr(unsafe.Pointer(w.Addr))), flags: futex2SizeU32}
		if !w.Shared {
			buf[i].flags |= futex2Private
		}
	}
	return waitv(&buf[0], len(ws), timeout)
}

// waitv makes the call on the n entries at first, with a timeout on
// the real-time clock, which the vDSO reads without a system call (the
// monotonic one x/sys reads with one).
func waitv(first *futexWaitv, n int, timeout time.Duration) (int, error) {
	var ts *unix.Timespec
	if timeout > 0 {
		abs := unix.NsecToTimespec(time.Now().Add(timeout).UnixNano())
		ts = &abs
	}
	r, _, errno := unix.Syscall6(sysFutexWaitv, uintptr(unsafe.Pointer(first)), uintptr(n), 0,
		uintptr(unsafe.Pointer(ts)), uintptr(unix.CLOCK_REALTIME), 0)
	if errno != 0 {
		return -1, errno
	}
	return int(r), nil
}

// FutexWaitvMax is the most words one futex_waitv call sleeps on.
const FutexWaitvMax = 128

// A Waitv is the argument of a futex_waitv call on up to FutexWaitvMax
// words, built once and reused: what a thread that sleeps on many words
// again and again passes to the kernel, without allocating.
type Waitv struct {
	buf [FutexWaitvMax]futexWaitv
	n   int
}

// Reset empties the list.
func (v *Waitv) Reset() { v.n = 0 }

// Add appends the word addr, to wait on while it holds val; shared is true
// for a word in memory shared between processes. It reports false when the
// list is full.
func (v *Waitv) Add(addr *uint32, val uint32, shared bool) bool {
	if v.n == len(v.buf) {
		return false
	}
	v.buf[v.n] = futexWaitv{val: uint64(val), uaddr: uint64(uintptr(unsafe.Pointer(addr))), flags: futex2SizeU32}
	if !shared {
		v.buf[v.n].flags |= futex2Private
	}
	v.n++
	return true
}

// Len returns how many words the list holds.
func (v *Waitv) Len() int { return v.n }

// Wait sleeps until one of the words is woken (it returns its index), or
// for at most timeout (0: no limit; then ETIMEDOUT), or returns EAGAIN at
// once if one of them does not hold its value. The caller must keep the
// words' memory mapped while it sleeps.
func (v *Waitv) Wait(timeout time.Duration) (int, error) {
	if v.n == 0 {
		return -1, syscall.EINVAL
	}
	return waitv(&v.buf[0], v.n, timeout)
}

// FutexWait sleeps while *addr == val, for at most timeout (0: no limit).
// It is the fallback where futex_waitv is missing.
func FutexWait(addr *uint32, val uint32, shared bool, timeout time.Duration) error {
	op := futexWait
	if !shared {
		op |= futexPrivateFlag
	}
	var ts *unix.Timespec
	if timeout > 0 {
		t := unix.NsecToTimespec(timeout.Nanoseconds())
		ts = &t
	}
	_, _, errno := unix.Syscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(addr)), uintptr(op), uintptr(val), uintptr(unsafe.Pointer(ts)), 0, 0)
	if errno != 0 {
		return errno
	}
	return nil
}
