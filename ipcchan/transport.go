package ipcchan

import (
	"context"
	"iter"
)

// A Sender is the sending side of a typed queue on any transport: a POSIX
// *Queue[T], a shared-memory ring, or a queue on NATS JetStream
// (natsq.Queue[T]). Code written against Sender and Receiver runs
// unchanged on each; only the Open call differs. It promises FIFO order
// per sender and nothing about priorities (see PrioritySender).
type Sender[T any] interface {
	// Send sends v, waiting while the queue is full until there is room,
	// ctx is done, or the handle is closed.
	Send(ctx context.Context, v T) error
	// TrySend sends v, or returns ErrFull at once if the queue is full.
	TrySend(v T) error
	// CloseSend ends the stream: every receiver's Recv and All end, and
	// Receive returns io.EOF, once the messages sent before are received.
	CloseSend(ctx context.Context) error
	// Close closes this handle; the queue stays.
	Close() error
}

// A Receiver is the receiving side of a typed queue on any transport. See
// Sender.
type Receiver[T any] interface {
	// Receive returns the next message, waiting while the queue is empty;
	// io.EOF after the end of the stream.
	Receive(ctx context.Context) (T, error)
	// TryReceive returns the next message, or ErrEmpty at once.
	TryReceive() (T, error)
	// Recv returns a channel of the messages, closed at the end of the
	// stream, on Close, or on an error (then Err says which).
	Recv() <-chan T
	// All iterates over the messages until the end of the stream.
	All(ctx context.Context) iter.Seq2[T, error]
	// Err is the error that ended the Recv channel, or nil.
	Err() error
	// Close closes this handle; the queue stays.
	Close() error
}

// A PrioritySender is a Sender whose messages carry a priority, 0 to
// 32767, and whose receivers take messages of higher priority first. How
// exactly depends on the transport, and the difference is real:
//
//   - a POSIX Queue orders by the exact priority (all 32768 of them) among
//     the messages in the queue when a receive happens, FIFO within one;
//   - a natsq.Queue orders by four levels (0, 1-9, 10-99, 100 and above),
//     FIFO within a level whatever the exact priorities, and a message
//     just sent may be overtaken for an instant by a lower one (JetStream
//     hands messages to consumers asynchronously).
//
// Either way the exact priority travels with the message
// (PriorityReceiver). Rings have no priorities.
type PrioritySender[T any] interface {
	Sender[T]
	// SendPriority sends v at priority prio (0 to 32767), waiting while
	// the queue is full.
	SendPriority(ctx context.Context, v T, prio uint) error
	// TrySendPriority is TrySend at priority prio.
	TrySendPriority(v T, prio uint) error
}

// A PriorityReceiver is a Receiver that also tells the priority each
// message was sent with. See PrioritySender for the order.
type PriorityReceiver[T any] interface {
	Receiver[T]
	// ReceivePriority is Receive that also returns the message's priority.
	ReceivePriority(ctx context.Context) (T, uint, error)
	// TryReceivePriority is TryReceive that also returns the priority.
	TryReceivePriority() (T, uint, error)
}

var (
	_ PrioritySender[[]byte]   = (*Queue[[]byte])(nil)
	_ PriorityReceiver[[]byte] = (*Queue[[]byte])(nil)
)
