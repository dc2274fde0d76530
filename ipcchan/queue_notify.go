package ipcchan

import (
	"fmt"
	"syscall"

	"github.com/ipcchan/ipcchan/internal/posix"
)

// Notify asks the kernel to send this process the signal sig once, when a
// message arrives in the queue while it is empty (mq_notify with
// SIGEV_SIGNAL). The registration ends with that signal: call Notify again
// first, then receive until ErrEmpty, so that no message is missed. A
// queue has at most one registration: while one exists, Notify fails with
// ErrExist, even from the process that holds it. sig 0 removes this
// process's registration.
//
// Deliver the signal to a loop with loop.Signal, or to a channel with
// os/signal.Notify. A real-time signal (34 to 64) is queued rather than
// merged with another arrival.
func (q *Queue[T]) Notify(sig syscall.Signal) error {
	var ev *posix.Sigevent
	if sig != 0 {
		ev = &posix.Sigevent{Signo: int32(sig), Notify: posix.SigevSignal}
	}
	err := q.fd.Do(func(fd int) error { return posix.MqNotify(fd, ev) })
	switch err {
	case nil:
		return nil
	case syscall.EBUSY:
		return q.obj.Fail("notify", ErrExist, err, "a process (this one too, through any handle) is already registered for notification on this queue, and only one registration may exist; Notify(0) removes this process's")
	case syscall.EINVAL:
		return q.obj.Fail("notify", ErrInvalid, err, fmt.Sprintf("signal %d is not a valid signal number", int(sig)))
	}
	return q.err("notify", err, "")
}
