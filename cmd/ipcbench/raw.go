package main

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// The raw baseline: the mq system calls from Go as a program without a
// library would write them, on blocking descriptors.

func rawOpen(name string, flags int) (int, error) {
	p, err := unix.BytePtrFromString(name[1:])
	if err != nil {
		return -1, err
	}
	fd, _, e := unix.Syscall6(unix.SYS_MQ_OPEN, uintptr(unsafe.Pointer(p)), uintptr(flags|unix.O_CLOEXEC), 0, 0, 0, 0)
	if e != 0 {
		return -1, e
	}
	return int(fd), nil
}

func rawOpen2(a, b string) (int, int, error) {
	in, err := rawOpen(a, unix.O_RDONLY)
	if err != nil {
		return -1, -1, err
	}
	out, err := rawOpen(b, unix.O_WRONLY)
	return in, out, err
}

func rawSend(fd int, msg []byte, prio uint) error {
	var p unsafe.Pointer
	if len(msg) > 0 {
		p = unsafe.Pointer(&msg[0])
	}
	for {
		_, _, e := unix.Syscall6(unix.SYS_MQ_TIMEDSEND, uintptr(fd), uintptr(p), uintptr(len(msg)), uintptr(prio), 0, 0)
		if e == unix.EINTR {
			continue
		}
		if e != 0 {
			return e
		}
		return nil
	}
}

func rawReceive(fd int, buf []byte) (int, uint, error) {
	var prio uint32
	for {
		n, _, e := unix.Syscall6(unix.SYS_MQ_TIMEDRECEIVE, uintptr(fd), uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)), uintptr(unsafe.Pointer(&prio)), 0, 0)
		if e == unix.EINTR {
			continue
		}
		if e != 0 {
			return 0, 0, e
		}
		return int(n), uint(prio), nil
	}
}

func closeFds(fds ...int) {
	for _, fd := range fds {
		unix.Close(fd)
	}
}
