package ipcchan

import (
	"fmt"
	"os"
	"sort"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/ipcchan/ipcchan/internal/ipcerr"
	"github.com/ipcchan/ipcchan/internal/options"
	"github.com/ipcchan/ipcchan/internal/poll"
	"github.com/ipcchan/ipcchan/internal/posix"
)

// openError turns a failed mq_open into an error that says what to do.
func openError(name string, cfg *options.Config, err error) error {
	e := ipcerr.Object{Kind: "queue", Name: name}.Fail("open", nil, err, "")
	creating := cfg.Has(options.Create)
	switch err {
	case syscall.ENOENT:
		return notExistError(ipcerr.Object{Kind: "queue", Name: name}, err)
	case syscall.EEXIST:
		e.Err, e.Detail = ErrExist, "already exists"
		e.Hint = fmt.Sprintf("open it without Exclusive() to share it, or remove it (ipcchan.UnlinkQueue(%q))", name)
	case syscall.EACCES, syscall.EPERM:
		e.Err, e.Detail, e.Hint = ErrPermission, detailPermission, hintPermission
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

// What every kind of object says when opening it fails for want of it,
// or of permission.
const (
	hintCreate       = "create it with ipcchan.Create(), or start the program that creates it (names are global to the machine)"
	detailPermission = "permission denied: its mode does not let this user read and write it"
	hintPermission   = "the creator can grant access with Perm(0o660) or Perm(0o666)"
)

// attrLimitDetail explains why the kernel refused Capacity or MsgSize.
func attrLimitDetail(cfg *options.Config) string {
	lim := posix.ReadMqLimits()
	capacity, size := queueShape(cfg)
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
func emfileDetail(cfg *options.Config) string {
	var nofile unix.Rlimit
	if unix.Getrlimit(unix.RLIMIT_NOFILE, &nofile) == nil {
		if ents, err := os.ReadDir("/proc/self/fd"); err == nil && uint64(len(ents))+1 >= nofile.Cur {
			return fmt.Sprintf("this process has %d descriptors open, its limit (RLIMIT_NOFILE %d); close some, or raise it with ulimit -n", len(ents), nofile.Cur)
		}
	}
	var mq unix.Rlimit
	unix.Getrlimit(unix.RLIMIT_MSGQUEUE, &mq)
	capacity, size := queueShape(cfg)
	return fmt.Sprintf("this user's queues would exceed RLIMIT_MSGQUEUE (%d bytes for all their queues together; this one needs %d); %s; remove unused queues (ipcchan.UnlinkQueue, or ipcchan rm NAME in a shell), ask for a smaller Capacity or MsgSize, or raise the limit (ulimit -q, or LimitMSGQUEUE= in a systemd unit)",
		mq.Cur, posix.MqBytes(capacity, size), largestQueues(os.Getuid(), 3))
}

// largestQueues names the n queues of the user uid that cost the most of
// RLIMIT_MSGQUEUE: often queues that crashed programs left behind.
func largestQueues(uid, n int) string {
	qs, err := posix.ListQueues()
	if err != nil {
		return "ipcchan ls lists this user's queues (" + err.Error() + ")"
	}
	var mine []posix.QueueEntry
	var total int64
	for _, q := range qs {
		if q.UID == uid && q.AttrErr == nil {
			mine = append(mine, q)
			total += q.Charge()
		}
	}
	if len(mine) == 0 {
		return "this user has no queue left that this process can see: another IPC namespace, or queues being removed, may hold the rest"
	}
	sort.Slice(mine, func(i, j int) bool { return mine[i].Charge() > mine[j].Charge() })
	var b strings.Builder
	fmt.Fprintf(&b, "its %d queues hold %d bytes; the largest: ", len(mine), total)
	for i, q := range mine[:min(n, len(mine))] {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s (%d bytes, %d of %d messages)", q.Name, q.Charge(), q.Attr.CurMsgs, q.Attr.MaxMsg)
	}
	return b.String()
}

// err turns what an operation of the descriptor layer returned into the
// queue's error: a closed handle, the end of a wait for waitingFor (the
// context's cause), or an unexpected system error.
func (q *Queue[T]) err(op string, err error, waitingFor string) error {
	errno, isErrno := err.(syscall.Errno)
	switch {
	case err == poll.ErrClosing:
		return q.obj.Closed(op)
	case !isErrno:
		return q.obj.Ended(op, err, waitingFor)
	case errno == syscall.EBADF:
		return q.obj.Fail(op, nil, err, "bad descriptor: the queue's descriptor was closed behind its back")
	}
	return q.obj.Fail(op, nil, err, "")
}
