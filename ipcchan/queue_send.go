package ipcchan

import (
	"context"
	"fmt"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/ipcchan/ipcchan/internal/posix"
	"github.com/ipcchan/ipcchan/internal/typed"
	"github.com/ipcchan/ipcchan/loop"
)

// Send sends v at priority 0, waiting while the queue is full until there
// is room, ctx is done, or the handle is closed.
func (q *Queue[T]) Send(ctx context.Context, v T) error {
	return q.send(ctx, v, 0, true)
}

// SendPriority sends v at priority prio (0 to 32767). Receivers get the
// messages of the highest priority first, and messages of one priority in
// the order they were sent.
func (q *Queue[T]) SendPriority(ctx context.Context, v T, prio uint) error {
	return q.send(ctx, v, prio, true)
}

// TrySend sends v at priority 0 if the queue has room, and returns ErrFull
// at once if it has not.
func (q *Queue[T]) TrySend(v T) error {
	return q.send(context.Background(), v, 0, false)
}

// TrySendPriority is TrySend at priority prio.
func (q *Queue[T]) TrySendPriority(v T, prio uint) error {
	return q.send(context.Background(), v, prio, false)
}

// CloseSend ends the stream: receivers get the messages already queued,
// then Receive returns io.EOF and Recv and All end. Like closing a Go
// channel it is final for every receiver, present and future, until the
// queue is removed: the end-of-stream mark (a zero-byte message, which is
// also how a C program ends a stream) stays in the queue. It waits for room
// like Send.
func (q *Queue[T]) CloseSend(ctx context.Context) error {
	if q.w.NoEOF() {
		return q.obj.Err("close send", ErrInvalid,
			"the handle was opened with NoEndOfStream, so a zero-byte message would not end anything")
	}
	return q.sendBytes(ctx, nil, 0, true, "close send")
}

func (q *Queue[T]) send(ctx context.Context, v T, prio uint, block bool) error {
	if prio >= posix.MqPrioMax {
		return q.obj.Err("send", ErrInvalid, fmt.Sprintf("priority %d is out of range: Linux allows 0 to %d", prio, posix.MqPrioMax-1))
	}
	var buf []byte
	if q.w.Kind() == typed.Typed { // encoded into a pooled buffer; raw values are sent as they are
		bp := q.bufs.Get().(*[]byte)
		defer q.bufs.Put(bp)
		buf = (*bp)[:0]
	}
	msg, err := q.w.Encode(buf, &v)
	if err != nil {
		return err
	}
	if len(msg) > q.msgSize { // Encode allows it only when the queue carries large messages
		return q.sendLarge(ctx, msg, prio, block)
	}
	return q.sendBytes(ctx, msg, prio, block, "send")
}

// sendLarge sends msg, beyond the queue's MsgSize, in the queue's pool if
// it fits there and the pool has room now, else in a /dev/shm file of its
// own, and its reference in the queue. The run, or the file, is given
// back if the reference is not sent.
func (q *Queue[T]) sendLarge(ctx context.Context, msg []byte, prio uint, block bool) error {
	if q.pool.Fits(len(msg)) {
		sent, err := q.pool.Send(msg, func(ref []byte) error { return q.sendBytes(ctx, ref, prio, block, "send") })
		if sent || err != nil {
			return err
		}
	}
	out, err := q.store.Put(msg)
	if err != nil {
		return err
	}
	if err := q.sendBytes(ctx, out.Ref, prio, block, "send"); err != nil {
		out.Drop()
		return err
	}
	out.Sent()
	return nil
}

// sendBytes sends msg, waiting while the queue is full if block: first in
// the kernel for a slice (poll.BlockSlice, 10 ms; unless the process has
// as many threads waiting there as it allows), then on the reactor (see
// internal/poll).
func (q *Queue[T]) sendBytes(ctx context.Context, msg []byte, prio uint, block bool, op string) error {
	err := q.fd.Run(ctx, loop.Writable, block, func(fd int, deadline unix.Timespec) error { return posix.MqSend(fd, msg, prio, deadline) })
	switch err {
	case nil:
		return nil
	case syscall.EAGAIN:
		return q.obj.Err(op, ErrFull, fmt.Sprintf("the queue is full (%d messages)", q.capacity))
	}
	return q.err(op, err, "room in the queue")
}
