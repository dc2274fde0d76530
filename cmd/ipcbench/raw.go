package main

import (
	"strconv"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/ipcchan/ipcchan/ipcchan"
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

// rawPingPong is queuePingPong with the system calls.
func rawPingPong(b *bench, n int) (float64, error) {
	ping, pong, cmd, err := b.pair("raw-echo")
	if err != nil {
		return 0, err
	}
	in, out, err := rawOpen2(pong, ping) // we read pong and write ping
	if err != nil {
		return 0, err
	}
	defer closeFds(out, in)
	msg, buf := make([]byte, 64), make([]byte, 8192)
	rt, err := roundTrips(n, func() error {
		if err := rawSend(out, msg, 0); err != nil {
			return err
		}
		_, _, err := rawReceive(in, buf)
		return err
	})
	if err != nil {
		return 0, err
	}
	rawSend(out, nil, 0)
	return rt / 2, b.unpair(ping, pong, cmd)
}

// rawStream is queueStream with the system calls.
func rawStream(size int) measurement {
	return func(b *bench, n int) (float64, error) {
		name, err := b.queue("stream")
		if err != nil {
			return 0, err
		}
		defer ipcchan.UnlinkQueue(name)
		fd, err := rawOpen(name, 0)
		if err != nil {
			return 0, err
		}
		defer closeFds(fd)
		cmd, err := b.start("raw-flood", name, strconv.Itoa(n), strconv.Itoa(size))
		if err != nil {
			return 0, err
		}
		buf := make([]byte, 8192)
		rawReceive(fd, buf)
		start := time.Now()
		got := 0
		for {
			m, _, err := rawReceive(fd, buf)
			if err != nil {
				return 0, err
			}
			if m == 0 {
				break
			}
			got++
		}
		ns := nsPer(start, got)
		return ns, cmd.Wait()
	}
}

// rawEcho is the role IN OUT: echo with blocking mq syscalls until a
// zero-byte message.
func rawEcho(a peerArgs) error {
	in, out, err := rawOpen2(a[0], a[1])
	if err != nil {
		return err
	}
	buf := make([]byte, 8192)
	for {
		n, prio, err := rawReceive(in, buf)
		if err != nil || n == 0 {
			return err
		}
		if err := rawSend(out, buf[:n], prio); err != nil {
			return err
		}
	}
}

// rawFlood is the role NAME N SIZE: queueFlood with mq syscalls, a
// zero-byte message for the end.
func rawFlood(a peerArgs) error {
	fd, err := rawOpen(a[0], unix.O_WRONLY)
	if err != nil {
		return err
	}
	msg := make([]byte, a.int(2))
	for range a.int(1) + 1 {
		if err := rawSend(fd, msg, 0); err != nil {
			return err
		}
	}
	return rawSend(fd, nil, 0)
}
