package ipcchan

import (
	"context"
	"iter"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ipcchan/ipcchan/internal/large"
	"github.com/ipcchan/ipcchan/internal/posix"
	"github.com/ipcchan/ipcchan/internal/typed"
	"github.com/ipcchan/ipcchan/loop"
)

// Recv returns a channel that delivers the queue's messages, for
// `for v := range q.Recv()` and select. The channel is closed at the end of
// the stream (CloseSend), when the handle is closed, or on an error; Err
// then tells which. Every call returns the same channel until it is closed.
//
// Behind the channel, one goroutine reads a message from the kernel only
// after it has handed over the previous one, so it holds at most one
// message that the program has not taken yet. That message goes to the
// next receive on this handle (from the channel, Receive or All), or back
// into the queue on Close: breaking out of a range loop loses nothing. If
// the queue stays full for a second (a busy sender and no other receiver),
// Close cannot put it back and returns it instead, in a *MessageError whose
// Value is the message. If the process dies without Close, the message
// dies with it; code that must not lose a message to SIGKILL should use
// Receive or All, which read a message only when asked for one.
func (q *Queue[T]) Recv() <-chan T { return q.rx.Recv(q.take) }

// Err returns the error that ended the Recv channel, or nil if it ended
// because of the end of the stream or Close (or has not ended). After an
// error, the next Recv starts a new stream.
func (q *Queue[T]) Err() error { return q.rx.Err() }

// All returns an iterator over the queue's messages for
// `for v, err := range q.All(ctx)`. It reads a message only when the loop
// asks for the next one, so breaking out loses nothing. It ends at the end
// of the stream; when ctx is done, the handle is closed or a system call
// fails, it yields the error and ends. A message that cannot be decoded is
// yielded as a *MessageError and the iteration goes on if the loop does.
func (q *Queue[T]) All(ctx context.Context) iter.Seq2[T, error] {
	return typed.All(ctx, q.Receive)
}

// take reads the next message for the Recv stream, keeping its bytes so
// that Close can put it back.
func (q *Queue[T]) take(ctx context.Context) (typed.Taken[T], error) {
	bp := q.bufs.Get().(*[]byte)
	defer q.bufs.Put(bp)
	n, prio, err := q.receiveInto(ctx, true, *bp)
	if err != nil {
		return typed.Taken[T]{}, err
	}
	raw, ok, err := q.takeLarge((*bp)[:n], prio, nil)
	if err != nil {
		return typed.Taken[T]{}, err
	}
	if !ok {
		raw = append([]byte(nil), (*bp)[:n]...)
	}
	v, err := q.w.DecodeOwned(raw, prio) // v may share raw, which is sent back only if v is not delivered
	if err != nil {
		return typed.Taken[T]{}, err // the stream ends; Err holds the message
	}
	return typed.Taken[T]{Value: v, Prio: prio, PutBack: func() error { return q.putBack(v, raw, prio) }}, nil
}

// putBack returns to the queue, at its priority, a message that Recv read
// but did not deliver. Close calls it while the descriptor is still open.
// If the queue stays full, the message is returned in the error instead.
func (q *Queue[T]) putBack(v T, msg []byte, prio uint) error {
	send := msg
	var out *large.Outgoing
	if len(msg) > q.msgSize { // a large message: in a new file of its own
		var err error
		if out, err = q.store.Put(msg); err != nil {
			return &MessageError{Kind: q.obj.Kind, Queue: q.obj.Name, Op: "close", Priority: prio, Data: msg, Value: v, Err: err,
				Detail: "Recv had read it ahead but could not put it back: " + err.Error() + "; it is in this error's Value"}
		}
		send = out.Ref
	}
	err := q.fd.Final(time.Now().Add(putBackPatience), loop.Writable, func(fd int) error { return posix.MqSend(fd, send, prio, unix.Timespec{}) })
	if out != nil {
		if err == nil {
			out.Sent()
		} else {
			out.Drop()
		}
	}
	switch err {
	case nil:
		return nil
	case syscall.EAGAIN:
		return &MessageError{Kind: q.obj.Kind, Queue: q.obj.Name, Op: "close", Priority: prio, Data: msg, Value: v, Err: ErrFull,
			Detail: "Recv had read it ahead but could not put it back: the queue stayed full for " + putBackPatience.String() + "; it is in this error's Value"}
	}
	return &MessageError{Kind: q.obj.Kind, Queue: q.obj.Name, Op: "close", Priority: prio, Data: msg, Value: v, Err: err,
		Detail: "Recv had read it ahead but could not put it back: " + err.Error() + "; it is in this error's Value"}
}

// putBackPatience bounds how long Close waits for room to return a message.
var putBackPatience = time.Second
