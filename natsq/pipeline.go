package natsq

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"

	"github.com/ipcchan/ipcchan/internal/options"
	"github.com/ipcchan/ipcchan/ipcchan"
)

// Pipelined makes Send return as soon as the message is on its way to the
// server, with up to n messages (1 to 1024) waiting for JetStream's
// acknowledgement at once, instead of waiting for each: a stream of sends
// then costs no round trip per message. A message JetStream did not store
// (a full stream, a server restarting) is sent again, under the same
// message ID, so that the stream stores it once, by the next Send or by
// Flush, which waits for every message in flight; what still cannot be
// stored is reported in an *UnsentError by that call. CloseSend and Close
// flush first.
//
// What a crash of the sender can lose: in the default mode nothing whose
// Send returned nil; with Pipelined(n), the messages sent since the last
// Flush (or CloseSend) that returned nil, at most n plus the ones being
// sent again. A message sent again may come after messages sent after it.
func Pipelined(n int) ipcchan.Option {
	return func(c *options.Config) {
		c.Given |= options.Pipeline
		if n < 1 || n > maxPipeline {
			c.Bad(fmt.Sprintf("natsq.Pipelined(%d): want 1 to %d messages in flight", n, maxPipeline))
		}
		c.Pipeline = n
	}
}

const maxPipeline = 1024 // below the 4000 async publishes a JetStream context allows by default

// An UnsentError reports messages that a pipelined handle sent and that
// JetStream did not store, even when sent again; their bytes are here, to
// be sent again later or elsewhere.
type UnsentError struct {
	Queue    string
	Messages []Unsent
	Err      error // why the last of them failed
}

// An Unsent message is one that JetStream did not store.
type Unsent struct {
	Data     []byte
	Priority uint
}

func (e *UnsentError) Error() string {
	return fmt.Sprintf("%s %s: send: %d sent messages were not stored: %v", kind, e.Queue, len(e.Messages), e.Err)
}

// Unwrap returns the error of the last failure.
func (e *UnsentError) Unwrap() error { return e.Err }

// pipeline is the pipelined sending of a handle.
type pipeline struct {
	mu       sync.Mutex // held by a send, Flush or CloseSend of a pipelined handle
	max      int
	inflight []inFlight
	unsent   []Unsent
	lastErr  error
	idPrefix string
	seq      atomic.Uint64
}

type inFlight struct {
	msg  *nats.Msg
	prio uint
	ack  jetstream.PubAckFuture
}

func newPipeline(n int) *pipeline {
	return &pipeline{max: n, idPrefix: nuid.Next()}
}

// sendPipelined hands msg to the connection, after making room among the
// messages in flight.
func (q *Queue[T]) sendPipelined(ctx context.Context, msg *nats.Msg, prio uint, block bool) error {
	p := q.pipe
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := q.settleLocked(ctx, p.max-1, block); err != nil {
		return err
	}
	if msg.Header == nil {
		msg.Header = nats.Header{}
	}
	msg.Header.Set(jetstream.MsgIDHeader, p.idPrefix+strconv.FormatUint(p.seq.Add(1), 36))
	ack, err := q.js.PublishMsgAsync(msg, jetstream.WithExpectStream(q.stream))
	if err != nil {
		return q.natsError("send", err, "cannot send the message")
	}
	p.inflight = append(p.inflight, inFlight{msg, prio, ack})
	return nil
}

// Flush waits until JetStream has stored every message this handle sent,
// sending again those it refused, while ctx lasts. It returns an
// *UnsentError for those it could not store. It does nothing on a handle
// that is not Pipelined.
func (q *Queue[T]) Flush(ctx context.Context) error {
	if q.pipe == nil {
		return nil
	}
	q.pipe.mu.Lock()
	defer q.pipe.mu.Unlock()
	return q.settleLocked(ctx, 0, true)
}

// settleLocked waits for the acknowledgements of the messages in flight
// until at most keep are left, taking those that came meanwhile; a
// refused message is sent again, waiting for it (and for room, if block).
// It reports, once, the messages that could not be stored.
func (q *Queue[T]) settleLocked(ctx context.Context, keep int, block bool) error {
	p := q.pipe
	for len(p.inflight) > 0 {
		f := p.inflight[0]
		var err error
		if len(p.inflight) > keep {
			select {
			case <-f.ack.Ok():
			case err = <-f.ack.Err():
			case <-ctx.Done():
				return q.obj.Ended("send", context.Cause(ctx), "the acknowledgements of the messages in flight")
			case <-q.done:
				err = q.obj.Closed("send")
			}
		} else {
			select {
			case <-f.ack.Ok():
			case err = <-f.ack.Err():
			default:
				return q.unsentLocked()
			}
		}
		p.inflight = p.inflight[1:]
		if err != nil {
			q.resendLocked(ctx, f, err, block)
		}
	}
	return q.unsentLocked()
}

// resendLocked sends again, and waits for, a message JetStream did not
// store; its ID lets the stream drop it if it had stored it after all.
func (q *Queue[T]) resendLocked(ctx context.Context, f inFlight, why error, block bool) {
	pause := 10 * time.Millisecond
	for {
		err := q.publish(ctx, "send", f.msg, block)
		if err == nil {
			return
		}
		if ctx.Err() != nil || q.closed() || !block || permanentSendError(err) {
			q.pipe.unsent = append(q.pipe.unsent, Unsent{Data: f.msg.Data, Priority: f.prio})
			q.pipe.lastErr = fmt.Errorf("%w (first refusal: %v)", err, why)
			return
		}
		t := time.NewTimer(pause) // a server restarting: wait for it, while ctx lasts
		select {
		case <-t.C:
		case <-ctx.Done():
		case <-q.done:
		}
		t.Stop()
		pause = min(2*pause, time.Second)
	}
}

// unsentLocked returns, and forgets, what could not be stored.
func (q *Queue[T]) unsentLocked() error {
	p := q.pipe
	if len(p.unsent) == 0 {
		return nil
	}
	e := &UnsentError{Queue: q.obj.Name, Messages: p.unsent, Err: p.lastErr}
	p.unsent, p.lastErr = nil, nil
	return e
}

// permanentSendError tells a failure that sending again will not mend,
// from one of a server or connection that is coming back.
func permanentSendError(err error) bool {
	switch {
	case errors.Is(err, nats.ErrTimeout), errors.Is(err, nats.ErrNoResponders), errors.Is(err, jetstream.ErrNoStreamResponse),
		errors.Is(err, nats.ErrConnectionReconnecting), errors.Is(err, nats.ErrDisconnected):
		return false
	}
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) && apiErr.Code == 503 {
		return false
	}
	return true
}
