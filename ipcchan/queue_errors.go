package ipcchan

import (
	"errors"
	"fmt"
	"os"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/ipcchan/ipcchan/internal/posix"
	"github.com/ipcchan/ipcchan/loop"
)

// openError turns a failed mq_open into an error that says what to do.
func openError(name string, cfg *config, err error) error {
	e := &Error{Kind: "queue", Name: name, Op: "open", Sys: err}
	creating := cfg.has(optCreate)
	switch err {
	case syscall.ENOENT:
		e.Err = ErrNotExist
		e.Detail = "does not exist; create it with ipcchan.Create(), or start the program that creates it (names are global to the machine)"
	case syscall.EEXIST:
		e.Err = ErrExist
		e.Detail = fmt.Sprintf("already exists and Exclusive() was given; open it without Exclusive() to share it, or remove it (ipcchan.UnlinkQueue(%q))", name)
	case syscall.EACCES, syscall.EPERM:
		e.Err = ErrPermission
		e.Detail = "permission denied: its mode does not let this user read and write it; the creator can grant access with Perm(0o660) or Perm(0o666)"
	case syscall.EINVAL:
		if creating {
			e.Err, e.Detail = ErrLimit, attrLimitDetail(cfg)
		} else {
			e.Err = ErrInvalid
		}
	case syscall.EMFILE:
		e.Err, e.Detail = ErrLimit, emfileDetail(cfg)
	case syscall.ENFILE:
		e.Err = ErrLimit
		e.Detail = "the system's table of open files is full (/proc/sys/fs/file-max); close descriptors or raise it"
	case syscall.ENOSPC:
		lim := posix.ReadMqLimits()
		e.Err = ErrLimit
		e.Detail = fmt.Sprintf("the machine already has the most queues allowed (%d, %squeues_max); remove unused ones or raise it (sysctl fs.mqueue.queues_max=N)", lim.QueuesMax, posix.MqSysctlDir)
	case syscall.ENOMEM:
		e.Err = ErrLimit
		e.Detail = "the kernel is out of memory for a queue of this size; ask for a smaller Capacity or MsgSize"
	case syscall.ENOSYS:
		e.Detail = "this kernel has no POSIX message queues (CONFIG_POSIX_MQUEUE is off)"
	}
	return e
}

// attrLimitDetail explains why the kernel refused Capacity or MsgSize.
func attrLimitDetail(cfg *config) string {
	lim := posix.ReadMqLimits()
	capacity, size := cfg.queueShape()
	switch {
	case capacity > posix.HardMsgMax:
		return fmt.Sprintf("Capacity %d exceeds the kernel's hard limit of %d messages per queue", capacity, posix.HardMsgMax)
	case size > posix.HardMsgSizeMax:
		return fmt.Sprintf("MsgSize %d exceeds the kernel's hard limit of %d bytes", size, posix.HardMsgSizeMax)
	case capacity > lim.MsgMax:
		return fmt.Sprintf("Capacity %d exceeds this machine's limit of %d messages per queue (%smsg_max); ask for fewer, or raise the limit as root: sysctl fs.mqueue.msg_max=%d", capacity, lim.MsgMax, posix.MqSysctlDir, capacity)
	case size > lim.MsgSizeMax:
		return fmt.Sprintf("MsgSize %d exceeds this machine's limit of %d bytes per message (%smsgsize_max); send smaller messages, or raise the limit as root: sysctl fs.mqueue.msgsize_max=%d", size, lim.MsgSizeMax, posix.MqSysctlDir, size)
	}
	return fmt.Sprintf("the kernel refused Capacity %d and MsgSize %d", capacity, size)
}

// emfileDetail tells the two causes of EMFILE apart: the descriptor limit,
// and the per-user byte allowance for queues (RLIMIT_MSGQUEUE).
func emfileDetail(cfg *config) string {
	var nofile unix.Rlimit
	if unix.Getrlimit(unix.RLIMIT_NOFILE, &nofile) == nil {
		if ents, err := os.ReadDir("/proc/self/fd"); err == nil && uint64(len(ents))+1 >= nofile.Cur {
			return fmt.Sprintf("this process has %d descriptors open, its limit (RLIMIT_NOFILE %d); close some, or raise it with ulimit -n", len(ents), nofile.Cur)
		}
	}
	var mq unix.Rlimit
	unix.Getrlimit(unix.RLIMIT_MSGQUEUE, &mq)
	capacity, size := cfg.queueShape()
	return fmt.Sprintf("this user's queues would exceed RLIMIT_MSGQUEUE (%d bytes for all their queues together; this one needs %d); remove unused queues, ask for a smaller Capacity or MsgSize, or raise the limit (ulimit -q, or LimitMSGQUEUE= in a systemd unit)",
		mq.Cur, posix.MqBytes(capacity, size))
}

// sysError wraps an unexpected system error of an operation.
func (q *Queue[T]) sysError(op string, err error) error {
	if err == errClosed {
		return q.closedError(op)
	}
	e := &Error{Kind: "queue", Name: q.name, Op: op, Sys: err}
	if err == syscall.EBADF {
		e.Detail = "bad descriptor: the queue's descriptor was closed behind its back"
	}
	return e
}

func (q *Queue[T]) closedError(op string) error {
	return &Error{Kind: "queue", Name: q.name, Op: op, Err: ErrClosed, Detail: "the queue handle is closed"}
}

// waitError wraps the end of a wait for the reactor.
func (q *Queue[T]) waitError(op string, err error, waitingFor string) error {
	if errors.Is(err, loop.ErrClosed) {
		return q.closedError(op)
	}
	return &Error{Kind: "queue", Name: q.name, Op: op, Err: err, Detail: err.Error() + " while waiting for " + waitingFor}
}

// errClosed is what the low-level helpers return when the handle is closed.
var errClosed = errors.New("closed")
