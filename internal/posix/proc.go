package posix

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// PidfdOpen returns a pidfd for pid: a descriptor that becomes readable
// when the process exits. ESRCH means there is no such process.
func PidfdOpen(pid int) (int, error) {
	return unix.PidfdOpen(pid, unix.PIDFD_NONBLOCK)
}

// Alive reports whether process pid is running (not exited, not a zombie).
func Alive(pid int) bool {
	fd, err := PidfdOpen(pid)
	if err == syscall.ESRCH {
		return false
	}
	if err != nil {
		return true // cannot tell (EMFILE...): assume alive, never steal a live lock
	}
	defer unix.Close(fd)
	return !Exited(fd)
}

// Exited reports whether the process of pidfd has exited.
func Exited(pidfd int) bool {
	fds := []unix.PollFd{{Fd: int32(pidfd), Events: unix.POLLIN}}
	n, err := unix.Poll(fds, 0)
	return err == nil && n == 1 && fds[0].Revents&unix.POLLIN != 0
}
