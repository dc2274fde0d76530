package natsq

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ipcchan/ipcchan/ipcchan"
)

// Send sends v at priority 0. It returns once JetStream has stored the
// message (on a Pipelined handle: once it is on its way, see Pipelined);
// while the stream is full (Capacity), it waits, trying again after a
// pause that doubles from 1 ms up to 50 ms (JetStream does not tell a
// publisher when room appears), until there is room, ctx is done or the
// handle is closed.
func (q *Queue[T]) Send(ctx context.Context, v T) error {
	return q.send(ctx, v, 0, true)
}

// SendPriority sends v at priority prio (0 to 32767), carried by the
// subject of its level (see Level).
func (q *Queue[T]) SendPriority(ctx context.Context, v T, prio uint) error {
	return q.send(ctx, v, prio, true)
}

// TrySend sends v at priority 0, or returns ipcchan.ErrFull at once if
// the stream is full. It still waits for JetStream's acknowledgement (on a
// Pipelined handle, first for those of the messages in flight).
func (q *Queue[T]) TrySend(v T) error {
	return q.send(context.Background(), v, 0, false)
}

// TrySendPriority is TrySend at priority prio.
func (q *Queue[T]) TrySendPriority(v T, prio uint) error {
	return q.send(context.Background(), v, prio, false)
}

// CloseSend ends the stream: it sends the zero-byte message that makes
// every receiver's Recv and All end and Receive return io.EOF.
func (q *Queue[T]) CloseSend(ctx context.Context) error {
	if q.w.NoEOF() {
		return q.obj.Err("close send", ipcchan.ErrInvalid, "this handle was opened with NoEndOfStream: a zero-byte message is data, not the end")
	}
	if err := q.Flush(ctx); err != nil { // the end comes after every message in flight
		return err
	}
	return q.publish(ctx, "close send", &nats.Msg{Subject: q.subject[0]}, true)
}

func (q *Queue[T]) send(ctx context.Context, v T, prio uint, block bool) error {
	if prio > MaxPriority {
		return q.obj.Err("send", ipcchan.ErrInvalid, fmt.Sprintf("priority %d is out of range: 0 to %d, as for a POSIX queue", prio, MaxPriority))
	}
	data, err := q.w.Encode(nil, &v)
	if err != nil {
		return err
	}
	msg := &nats.Msg{Subject: q.subject[Level(prio)], Data: data}
	if prio != 0 {
		msg.Header = nats.Header{priorityHeader: []string{strconv.FormatUint(uint64(prio), 10)}}
	}
	if q.pipe != nil {
		if block {
			return q.sendPipelined(ctx, msg, prio, true)
		}
		if err := q.Flush(ctx); err != nil { // TrySend: in order, and ErrFull at once
			return err
		}
	}
	return q.publish(ctx, "send", msg, block)
}

// fullPollMax is the longest pause between two attempts to send into a
// full stream: JetStream does not tell a publisher when room appears.
const fullPollMax = 50 * time.Millisecond

// publish stores msg in the stream, waiting while it is full if block.
func (b *base) publish(ctx context.Context, op string, msg *nats.Msg, block bool) error {
	pause := time.Millisecond
	for {
		if b.closed() {
			return b.obj.Closed(op)
		}
		_, err := b.js.PublishMsg(ctx, msg, jetstream.WithExpectStream(b.stream))
		if err == nil {
			return nil
		}
		if !isFull(err) {
			return b.natsError(op, err, "JetStream did not store the message")
		}
		if !block {
			return &ipcchan.Error{Kind: b.obj.Kind, Name: b.obj.Name, Op: op, Err: ipcchan.ErrFull, Sys: err, Detail: "the stream is full (its Capacity)"}
		}
		t := time.NewTimer(pause)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return b.obj.Ended(op, context.Cause(ctx), "room")
		case <-b.done:
			t.Stop()
			return b.obj.Closed(op)
		}
		pause = min(2*pause, fullPollMax)
	}
}

// errCodeStoreFailed is JetStream's JSStreamStoreFailedF, which has no
// constant in nats.go.
const errCodeStoreFailed jetstream.ErrorCode = 10077

// isFull tells JetStream's refusal of a message because the stream is at
// its MaxMsgs (or MaxBytes) with the discard-new policy.
func isFull(err error) bool {
	var apiErr *jetstream.APIError
	if !errors.As(err, &apiErr) || apiErr.ErrorCode != errCodeStoreFailed {
		return false
	}
	return strings.Contains(apiErr.Description, "maximum messages") || strings.Contains(apiErr.Description, "maximum bytes")
}
