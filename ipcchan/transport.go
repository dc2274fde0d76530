package ipcchan

import (
	"context"
	"io/fs"
	"iter"

	"github.com/ipcchan/ipcchan/codec"
)

// A Sender is the sending side of a typed queue: a POSIX *Queue[T], or a
// queue on another transport such as natsq.Queue[T] (NATS JetStream). Code
// written against Sender and Receiver runs unchanged on either; only the
// Open call differs.
type Sender[T any] interface {
	// Send sends v, waiting while the queue is full.
	Send(ctx context.Context, v T) error
	// SendPriority sends v at priority prio (0 to 32767); higher priorities
	// are received first.
	SendPriority(ctx context.Context, v T, prio uint) error
	// TrySend sends v, or returns ErrFull at once if the queue is full.
	TrySend(v T) error
	// CloseSend ends the stream: every receiver's Recv and All end, and
	// Receive returns io.EOF.
	CloseSend(ctx context.Context) error
	// Close closes this handle; the queue stays.
	Close() error
}

// A Receiver is the receiving side of a typed queue: a POSIX *Queue[T], or
// a queue on another transport such as natsq.Queue[T]. See Sender.
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

var (
	_ Sender[[]byte]   = (*Queue[[]byte])(nil)
	_ Receiver[[]byte] = (*Queue[[]byte])(nil)
)

// QueueOptions is what a list of Options asks of a queue. Other
// implementations of Sender and Receiver (natsq.Open) take the same
// Options as OpenQueue, and read them with ReadQueueOptions.
type QueueOptions struct {
	Create        bool        // Create()
	Exclusive     bool        // Exclusive()
	NoEndOfStream bool        // NoEndOfStream()
	HasPerm       bool        // Perm() was given
	Perm          fs.FileMode // Perm's mode
	Capacity      int         // Capacity(n), or 0
	MsgSize       int         // MsgSize(n), or 0
	Codec         codec.Codec // WithCodec(c), or nil for the default
}

// ReadQueueOptions applies opts as OpenQueue does, and refuses what
// OpenQueue refuses (options of other kinds, out-of-range arguments), with
// an *Error that names kind ("NATS queue") and name.
func ReadQueueOptions(kind, name string, opts ...Option) (QueueOptions, error) {
	const allowed = optCreate | optExclusive | optPerm | optCapacity | optMsgSize | optCodec | optNoEOF
	c, err := apply(kind, name, allowed, opts)
	if err != nil {
		return QueueOptions{}, err
	}
	return QueueOptions{
		Create: c.has(optCreate), Exclusive: c.has(optExclusive), NoEndOfStream: c.has(optNoEOF),
		HasPerm: c.has(optPerm), Perm: c.perm, Capacity: c.capacity, MsgSize: c.msgSize, Codec: c.codec,
	}, nil
}
