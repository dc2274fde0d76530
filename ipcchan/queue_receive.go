package ipcchan

import (
	"context"
	"io"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/ipcchan/ipcchan/internal/posix"
	"github.com/ipcchan/ipcchan/internal/typed"
	"github.com/ipcchan/ipcchan/loop"
)

// Receive returns the next message: the oldest of the highest priority. It
// waits while the queue is empty until a message arrives, ctx is done, or
// the handle is closed. After the end of the stream (CloseSend, or a
// zero-byte message from C) it returns io.EOF.
//
// A message that cannot be decoded as T is returned as a *MessageError
// (ErrTypeMismatch or ErrCorrupt) holding the message's bytes.
func (q *Queue[T]) Receive(ctx context.Context) (T, error) {
	v, _, err := q.receive(ctx, true)
	return v, err
}

// ReceivePriority is Receive that also returns the message's priority.
func (q *Queue[T]) ReceivePriority(ctx context.Context) (T, uint, error) {
	return q.receive(ctx, true)
}

// TryReceive returns the next message if there is one, and ErrEmpty at
// once if there is not.
func (q *Queue[T]) TryReceive() (T, error) {
	v, _, err := q.receive(context.Background(), false)
	return v, err
}

// TryReceivePriority is TryReceive that also returns the message's priority.
func (q *Queue[T]) TryReceivePriority() (T, uint, error) {
	return q.receive(context.Background(), false)
}

// receive gets the next message for a caller: the one a Recv stream of
// this handle holds, if any, or else one from the kernel.
func (q *Queue[T]) receive(ctx context.Context, block bool) (T, uint, error) {
	if q.w.Kind() == typed.Layout && q.msgSize == q.w.Size() {
		return q.rx.Receive(ctx, block, func() (T, uint, error) { return q.receiveLayout(ctx, block) })
	}
	return q.rx.Receive(ctx, block, func() (T, uint, error) {
		bp := q.bufs.Get().(*[]byte)
		defer q.bufs.Put(bp)
		n, prio, err := q.receiveInto(ctx, block, *bp)
		if err != nil {
			var zero T
			return zero, prio, err
		}
		if msg, ok, err := q.takeLarge((*bp)[:n], prio, nil); ok {
			if err != nil {
				var zero T
				return zero, prio, err
			}
			v, err := q.w.DecodeOwned(msg, prio) // the message is the value's: no copy
			return v, prio, err
		}
		v, err := q.w.Decode((*bp)[:n], prio)
		return v, prio, err
	})
}

// receiveLayout receives a message of a Layout queue whose messages are
// exactly T's size into a T, with no copy.
func (q *Queue[T]) receiveLayout(ctx context.Context, block bool) (T, uint, error) {
	var v T
	n, prio, err := q.receiveInto(ctx, block, unsafe.Slice((*byte)(unsafe.Pointer(&v)), q.msgSize))
	if err != nil || n != q.msgSize {
		var zero T
		if err == nil { // shorter than a T: what Decode says of it (of a copy, so that v stays on the stack)
			_, err = q.w.Decode(append([]byte(nil), unsafe.Slice((*byte)(unsafe.Pointer(&v)), n)...), prio)
		}
		return zero, prio, err
	}
	return v, prio, nil
}

// ReceiveAppend is Receive without the allocation: it appends the next
// message's bytes to dst and returns the extended slice and the message's
// priority. Reusing dst (ReceiveAppend(ctx, buf[:0])) receives a stream of
// messages with no garbage, as fast as the raw system call; when dst has
// room for a message of the queue's MsgSize, the kernel writes the message
// there, with no copy. The bytes are
// the message as it travels: for Queue[[]byte] and Queue[string] the data
// itself; for typed queues the 12-byte header and the encoding (use
// Receive to get values). It returns io.EOF at the end of the stream.
func (q *Queue[T]) ReceiveAppend(ctx context.Context, dst []byte) ([]byte, uint, error) {
	held, release, err := q.rx.Acquire(ctx, true)
	if err != nil {
		return dst, 0, err
	}
	if held != nil { // a Recv stream had read it: back to bytes
		msg, err := q.w.Encode(nil, &held.Value)
		return append(dst, msg...), held.Prio, err
	}
	defer release()
	if free := dst[len(dst):cap(dst)]; len(free) >= q.msgSize { // room for any message: the kernel writes it there
		n, prio, err := q.receiveInto(ctx, true, free[:q.msgSize])
		if err != nil {
			return dst, prio, err
		}
		if dst, ok, err := q.takeLarge(free[:n], prio, dst); ok {
			return dst, prio, err
		}
		return dst[:len(dst)+n], prio, nil
	}
	bp := q.bufs.Get().(*[]byte)
	defer q.bufs.Put(bp)
	n, prio, err := q.receiveInto(ctx, true, *bp)
	if err != nil {
		return dst, prio, err
	}
	if dst, ok, err := q.takeLarge((*bp)[:n], prio, dst); ok {
		return dst, prio, err
	}
	return append(dst, (*bp)[:n]...), prio, nil
}

// receiveInto receives the next message from the kernel into buf (of the
// queue's message size), waiting while the queue is empty if block: first
// in the kernel for a slice (poll.BlockSlice, 10 ms; unless the process has
// as many threads waiting there as it allows), then on the reactor (see
// internal/poll). At the end of the stream it puts the mark back, for the
// other receivers, and returns io.EOF; without block it returns ErrEmpty
// at once.
func (q *Queue[T]) receiveInto(ctx context.Context, block bool, buf []byte) (int, uint, error) {
	var n int
	var prio uint
	err := q.fd.Run(ctx, loop.Readable, block, func(fd int, deadline unix.Timespec) (err error) {
		n, prio, err = posix.MqReceive(fd, buf, deadline)
		return err
	})
	switch {
	case err == syscall.EAGAIN:
		return 0, 0, q.obj.Err("receive", ErrEmpty, "the queue is empty")
	case err != nil:
		return 0, 0, q.err("receive", err, "a message")
	case q.w.IsEOF(buf[:n]):
		q.putBackEOF(ctx, block)
		return 0, prio, io.EOF
	}
	return n, prio, nil
}

// putBackEOF returns the end-of-stream mark to the queue so that every
// receiver sees it, as every receiver of a closed channel does. If the
// queue is full (someone sent after the end), it waits for room while ctx
// lasts, if block; other receivers then see the end only once the queue
// has room for the mark again.
func (q *Queue[T]) putBackEOF(ctx context.Context, block bool) {
	q.fd.Run(ctx, loop.Writable, block, func(fd int, deadline unix.Timespec) error { return posix.MqSend(fd, nil, 0, deadline) })
}
