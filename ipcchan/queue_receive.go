package ipcchan

import (
	"context"
	"io"
	"syscall"

	"github.com/ipcchan/ipcchan/internal/posix"
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

// receive gets the next message for a caller. While a Recv stream is
// active on this handle, the caller either takes the message the stream
// holds or borrows the stream's receive token, so that the stream never
// keeps a message from a caller that waits for one.
func (q *Queue[T]) receive(ctx context.Context, block bool) (T, uint, error) {
	var zero T
	if s := q.stream.Load(); s != nil {
		it, err := s.acquire(ctx, block)
		if err != nil {
			return zero, 0, q.streamWaitError(err)
		}
		if it != nil {
			return it.v, it.prio, nil
		}
		defer s.release()
	}
	bp := q.bufs.Get().(*[]byte)
	defer q.bufs.Put(bp)
	for {
		tok := q.wait.Token()
		v, prio, _, err := q.tryReceive(ctx, block, *bp, false)
		switch {
		case err == nil || err == io.EOF:
			return v, prio, err
		case err != syscall.EAGAIN:
			return zero, 0, err
		case !block:
			return zero, 0, &Error{Kind: "queue", Name: q.name, Op: "receive", Err: ErrEmpty, Detail: "the queue is empty"}
		}
		if err := q.wait.Wait(ctx, loop.Readable, tok); err != nil {
			return zero, 0, q.waitError("receive", err, "a message")
		}
	}
}

// tryReceive makes one non-blocking receive into buf and decodes the
// message. It returns syscall.EAGAIN when the queue is empty and io.EOF at
// the end of the stream, which it puts back for the other receivers
// (waiting for room, if block, until ctx is done). With keep, raw is a copy
// of the message bytes.
func (q *Queue[T]) tryReceive(ctx context.Context, block bool, buf []byte, keep bool) (v T, prio uint, raw []byte, err error) {
	n, prio, err := q.sysReceive(buf)
	if err == syscall.EAGAIN {
		return v, 0, nil, err
	}
	if err != nil {
		return v, 0, nil, q.sysError("receive", err)
	}
	if n == 0 && !q.noEOF {
		q.putBackEOF(ctx, block)
		return v, prio, nil, io.EOF
	}
	msg := buf[:n]
	if keep {
		raw = append([]byte(nil), msg...)
	}
	v, err = q.decode(msg, prio)
	return v, prio, raw, err
}

func (q *Queue[T]) sysReceive(buf []byte) (int, uint, error) {
	q.mu.RLock()
	defer q.mu.RUnlock()
	if q.closing.Load() {
		return 0, 0, errClosed
	}
	return posix.MqReceive(q.fd, buf)
}

// putBackEOF returns the end-of-stream mark to the queue so that every
// receiver sees it, as every receiver of a closed channel does. If the
// queue is full (someone sent after the end), it waits for room while ctx
// lasts, if block; other receivers then see the end only once the queue
// has room for the mark again.
func (q *Queue[T]) putBackEOF(ctx context.Context, block bool) {
	for {
		tok := q.wait.Token()
		err := q.trySend(nil, 0)
		if err != syscall.EAGAIN || !block || q.wait.Wait(ctx, loop.Writable, tok) != nil {
			return
		}
	}
}

// decode turns message bytes into a T; msg is the caller's buffer, which
// the result does not keep.
func (q *Queue[T]) decode(msg []byte, prio uint) (T, error) {
	v, err := q.w.Decode(msg)
	if me, ok := err.(*MessageError); ok {
		me.Queue, me.Op, me.Priority = q.name, "receive", prio
	}
	return v, err
}

// ReceiveAppend is Receive without the allocation: it appends the next
// message's bytes to dst and returns the extended slice and the message's
// priority. Reusing dst (ReceiveAppend(ctx, buf[:0])) receives a stream of
// messages with no garbage, as fast as the raw system call. The bytes are
// the message as it travels: for Queue[[]byte] and Queue[string] the data
// itself; for typed queues the 12-byte header and the encoding (use
// Receive to get values). It returns io.EOF at the end of the stream.
func (q *Queue[T]) ReceiveAppend(ctx context.Context, dst []byte) ([]byte, uint, error) {
	if s := q.stream.Load(); s != nil {
		it, err := s.acquire(ctx, true)
		if err != nil {
			return dst, 0, q.streamWaitError(err)
		}
		if it != nil { // the Recv goroutine had read it: back to bytes
			msg, bp, err := q.encode(it.v)
			if bp != nil {
				defer q.bufs.Put(bp)
			}
			return append(dst, msg...), it.prio, err
		}
		defer s.release()
	}
	bp := q.bufs.Get().(*[]byte)
	defer q.bufs.Put(bp)
	for {
		tok := q.wait.Token()
		n, prio, err := q.sysReceive(*bp)
		switch {
		case err == nil && n == 0 && !q.noEOF:
			q.putBackEOF(ctx, true)
			return dst, prio, io.EOF
		case err == nil:
			return append(dst, (*bp)[:n]...), prio, nil
		case err != syscall.EAGAIN:
			return dst, 0, q.sysError("receive", err)
		}
		if err := q.wait.Wait(ctx, loop.Readable, tok); err != nil {
			return dst, 0, q.waitError("receive", err, "a message")
		}
	}
}
