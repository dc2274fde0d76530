package ipcchan

import (
	"context"
	"fmt"
	"syscall"
	"unsafe"

	"github.com/ipcchan/ipcchan/internal/posix"
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
	if q.noEOF {
		return &Error{Kind: "queue", Name: q.name, Op: "close send", Err: ErrInvalid,
			Detail: "the handle was opened with NoEndOfStream, so a zero-byte message would not end anything"}
	}
	return q.sendBytes(ctx, nil, 0, true, "close send")
}

func (q *Queue[T]) send(ctx context.Context, v T, prio uint, block bool) error {
	if prio >= posix.MqPrioMax {
		return &Error{Kind: "queue", Name: q.name, Op: "send", Err: ErrInvalid,
			Detail: fmt.Sprintf("priority %d is out of range: Linux allows 0 to %d", prio, posix.MqPrioMax-1)}
	}
	msg, bp, err := q.encode(v)
	if bp != nil {
		defer q.bufs.Put(bp)
	}
	if err != nil {
		return err
	}
	return q.sendBytes(ctx, msg, prio, block, "send")
}

// encode turns v into message bytes, checking the size before any system
// call. Raw payloads are not copied; typed ones are built in a pooled
// buffer bp that the caller returns to q.bufs.
func (q *Queue[T]) encode(v T) (msg []byte, bp *[]byte, err error) {
	switch q.w.kind {
	case payloadBytes:
		msg = *(*[]byte)(unsafe.Pointer(&v))
	case payloadString:
		s := *(*string)(unsafe.Pointer(&v))
		msg = unsafe.Slice(unsafe.StringData(s), len(s)) // only read by the kernel
	default:
		bp = q.bufs.Get().(*[]byte)
		msg = append((*bp)[:0], q.w.header[:]...)
		if msg, err = q.w.codec.Append(msg, v); err != nil {
			return nil, bp, &Error{Kind: "queue", Name: q.name, Op: "send", Err: ErrInvalid,
				Detail: fmt.Sprintf("cannot encode the %s: %v", q.w.typeName, err)}
		}
	}
	switch {
	case len(msg) > q.msgSize:
		return nil, bp, q.tooLarge(len(msg))
	case len(msg) == 0 && !q.noEOF:
		return nil, bp, &Error{Kind: "queue", Name: q.name, Op: "send", Err: ErrInvalid,
			Detail: "an empty message would end the stream for every receiver; call CloseSend for that"}
	}
	return msg, bp, nil
}

func (q *Queue[T]) tooLarge(n int) error {
	what := fmt.Sprintf("message of %d bytes", n)
	if q.w.kind == payloadTyped {
		what = fmt.Sprintf("%s of %d bytes (%d-byte header + %d encoded)", q.w.typeName, n, headerSize, n-headerSize)
	}
	lim := posix.ReadMqLimits()
	return &Error{Kind: "queue", Name: q.name, Op: "send", Err: ErrTooLarge, Detail: fmt.Sprintf(
		"%s exceeds its MsgSize of %d; send smaller messages, or recreate the queue with a larger MsgSize (this machine allows up to %d: %smsgsize_max)",
		what, q.msgSize, lim.MsgSizeMax, posix.MqSysctlDir)}
}

// sendBytes sends msg, waiting on the reactor while the queue is full.
func (q *Queue[T]) sendBytes(ctx context.Context, msg []byte, prio uint, block bool, op string) error {
	for {
		tok := q.wait.Token()
		err := q.trySend(msg, prio)
		switch {
		case err == nil:
			return nil
		case err != syscall.EAGAIN:
			return q.sysError(op, err)
		case !block:
			return &Error{Kind: "queue", Name: q.name, Op: op, Err: ErrFull,
				Detail: fmt.Sprintf("the queue is full (%d messages)", q.capacity)}
		}
		if err := q.wait.Wait(ctx, loop.Writable, tok); err != nil {
			return q.waitError(op, err, "room in the queue")
		}
	}
}

func (q *Queue[T]) trySend(msg []byte, prio uint) error {
	q.mu.RLock()
	defer q.mu.RUnlock()
	if q.closing.Load() {
		return errClosed
	}
	return posix.MqSend(q.fd, msg, prio)
}
