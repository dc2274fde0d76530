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

// initialPidNS is the inode of the initial PID namespace's file in
// /proc/PID/ns (PROC_PID_INIT_INO): the same on every Linux.
const initialPidNS = 0xEFFFFFFC

// InitialPidNamespace reports whether this process is in the machine's
// initial PID namespace, where every process is visible; in another (a
// container's), processes of other namespaces are not, though they may
// share /dev/shm and the IPC namespace (the containers of a Kubernetes
// pod). It reports false when it cannot tell.
func InitialPidNamespace() bool {
	var st unix.Stat_t
	return unix.Stat("/proc/self/ns/pid", &st) == nil && st.Ino == initialPidNS
}
