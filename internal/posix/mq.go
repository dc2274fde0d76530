package posix

import (
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// MqPrioMax is the number of message priorities Linux supports
// (MQ_PRIO_MAX): valid priorities are 0 to MqPrioMax-1.
const MqPrioMax = 32768

// MqAttr is the kernel's struct mq_attr.
type MqAttr struct {
	Flags   int64 // 0 or O_NONBLOCK
	MaxMsg  int64 // capacity in messages
	MsgSize int64 // largest message in bytes
	CurMsgs int64 // messages now in the queue
	_       [4]int64
}

// kernelName turns "/name" into the NUL-terminated "name" the kernel
// expects: glibc strips the leading slash before the system call.
func kernelName(name string) (*byte, error) {
	return unix.BytePtrFromString(name[1:])
}

// MqOpen opens or creates the queue name ("/x", already checked with
// CheckName). attr may be nil for the kernel defaults.
func MqOpen(name string, flags int, mode uint32, attr *MqAttr) (int, error) {
	p, err := kernelName(name)
	if err != nil {
		return -1, err
	}
	fd, _, errno := unix.Syscall6(unix.SYS_MQ_OPEN, uintptr(unsafe.Pointer(p)), uintptr(flags),
		uintptr(mode), uintptr(unsafe.Pointer(attr)), 0, 0)
	if errno != 0 {
		return -1, errno
	}
	return int(fd), nil
}

// MqUnlink removes the queue name.
func MqUnlink(name string) error {
	p, err := kernelName(name)
	if err != nil {
		return err
	}
	_, _, errno := unix.Syscall(unix.SYS_MQ_UNLINK, uintptr(unsafe.Pointer(p)), 0, 0)
	if errno != 0 {
		return errno
	}
	return nil
}

// MqSend sends msg with priority prio. Without a deadline (the zero
// Timespec), fd must be non-blocking: the call returns EAGAIN when the
// queue is full, and, as it never blocks, it is the raw system call,
// without the scheduler's hand-off. With one (CLOCK_REALTIME, absolute),
// on a blocking descriptor, it waits while the queue is full, until the
// deadline (ETIMEDOUT), and lets the scheduler run others meanwhile.
func MqSend(fd int, msg []byte, prio uint, deadline unix.Timespec) error {
	var p unsafe.Pointer
	if len(msg) > 0 {
		p = unsafe.Pointer(&msg[0])
	}
	var errno syscall.Errno
	if deadline == (unix.Timespec{}) {
		_, _, errno = unix.RawSyscall6(unix.SYS_MQ_TIMEDSEND, uintptr(fd), uintptr(p), uintptr(len(msg)), uintptr(prio), 0, 0)
	} else {
		_, _, errno = unix.Syscall6(unix.SYS_MQ_TIMEDSEND, uintptr(fd), uintptr(p), uintptr(len(msg)), uintptr(prio), uintptr(unsafe.Pointer(&deadline)), 0)
	}
	if errno != 0 {
		return errno
	}
	return nil
}

// MqReceive receives the oldest message of the highest priority into buf,
// which must be at least the queue's message size, and returns its length
// and priority. Without a deadline (the zero Timespec), fd must be
// non-blocking, and the call returns EAGAIN when the queue is empty; with
// one, as for MqSend, it waits until the deadline (ETIMEDOUT).
func MqReceive(fd int, buf []byte, deadline unix.Timespec) (n int, prio uint, err error) {
	var p unsafe.Pointer
	if len(buf) > 0 {
		p = unsafe.Pointer(&buf[0])
	}
	var pr uint32
	var r uintptr
	var errno syscall.Errno
	if deadline == (unix.Timespec{}) {
		r, _, errno = unix.RawSyscall6(unix.SYS_MQ_TIMEDRECEIVE, uintptr(fd), uintptr(p), uintptr(len(buf)), uintptr(unsafe.Pointer(&pr)), 0, 0)
	} else {
		r, _, errno = unix.Syscall6(unix.SYS_MQ_TIMEDRECEIVE, uintptr(fd), uintptr(p), uintptr(len(buf)), uintptr(unsafe.Pointer(&pr)), uintptr(unsafe.Pointer(&deadline)), 0)
	}
	if errno != 0 {
		return 0, 0, errno
	}
	return int(r), uint(pr), nil
}

// MqGetAttr returns the queue's attributes.
func MqGetAttr(fd int) (MqAttr, error) {
	var a MqAttr
	_, _, errno := unix.RawSyscall(unix.SYS_MQ_GETSETATTR, uintptr(fd), 0, uintptr(unsafe.Pointer(&a)))
	if errno != 0 {
		return a, errno
	}
	return a, nil
}

// Sigevent is the kernel's struct sigevent on 64-bit Linux (64 bytes).
type Sigevent struct {
	Value  uintptr // sigev_value
	Signo  int32
	Notify int32    // SIGEV_SIGNAL, SIGEV_NONE, SIGEV_THREAD_ID ...
	Tid    int32    // sigev_notify_thread_id, for SIGEV_THREAD_ID
	_      [44]byte // rest of the union
}

// Notification kinds for Sigevent.Notify.
const (
	SigevSignal = 0
	SigevNone   = 1
)

// MqNotify registers (ev non-nil) or removes (ev nil) this process's
// notification for the queue: the kernel signals once when a message
// arrives in an empty queue that no receiver is blocked on, then forgets
// the registration.
func MqNotify(fd int, ev *Sigevent) error {
	_, _, errno := unix.RawSyscall(unix.SYS_MQ_NOTIFY, uintptr(fd), uintptr(unsafe.Pointer(ev)), 0)
	if errno != 0 {
		return errno
	}
	return nil
}
