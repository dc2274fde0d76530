package ipcchan

import (
	"context"
	"io"
	"iter"

	"github.com/ipcchan/ipcchan/internal/objfmt"
	"github.com/ipcchan/ipcchan/internal/ring"
	"github.com/ipcchan/ipcchan/internal/typed"
)

// MaxBatchRun is the most messages one claim of a ring's slots holds: a
// SendBatch or ReceiveBatch of more takes a claim per MaxBatchRun.
const MaxBatchRun = objfmt.RingRunMax

// SendBatch sends vs in order, as Send does each, but many at a time: it
// claims a run of slots for them with one compare-and-swap and publishes
// it with one store, so that a receiver sees them all at once, contiguous
// and in order. A batch larger than the room in the ring, or than
// MaxBatchRun, goes in several runs, each contiguous (another sender's
// messages may come between them); it waits while the ring is full, until
// ctx is done or the handle is closed. It returns how many of vs were sent
// before an error: those are delivered, the rest are not. After CloseSend
// it fails with ErrClosed. Messages that a codec encodes (a T with
// pointers), or that may travel out of the ring's slots (LargeMessages), go
// one at a time.
func (r *Ring[T]) SendBatch(ctx context.Context, vs []T) (int, error) {
	if r.closed() {
		return 0, r.closedErr("send")
	}
	if r.w.Kind() == typed.Typed || r.store != nil {
		return r.sendEach(ctx, vs)
	}
	ok, bad := r.encodable(vs)
	sent := 0
	for sent < ok {
		c, err := r.ring.ClaimWriteRun(ctx, true, ok-sent)
		if err != nil {
			return sent, r.err("send", err)
		}
		if r.w.Kind() == typed.Layout && r.ring.MaxLen() == r.w.Size() { // its bytes, in place (a slot of another size: copy, cut to it)
			for i := range c.Len() {
				*(*T)(r.ring.DataAt(c.Pos() + uint64(i))) = vs[sent+i]
			}
		} else {
			for i := range c.Len() {
				msg, _ := r.w.Encode(nil, &vs[sent+i]) // checked by encodable
				copy(r.ring.Slot(c, i), msg)
				r.ring.SetLen(c, i, len(msg))
			}
		}
		r.ring.PublishRun(c)
		sent += c.Len()
	}
	return sent, bad
}

// encodable is how many of vs, from the first, Encode takes (all of a
// pointer-free T; []byte or string messages up to the first too large or
// empty one), and that message's error: checked before a slot is claimed,
// since a claimed slot cannot be given back empty.
func (r *Ring[T]) encodable(vs []T) (int, error) {
	if r.w.Kind() == typed.Layout {
		return len(vs), nil
	}
	for i := range vs {
		if _, err := r.w.Encode(nil, &vs[i]); err != nil {
			return i, err
		}
	}
	return len(vs), nil
}

// sendEach is SendBatch of messages that are encoded (or may be large): one
// Send each.
func (r *Ring[T]) sendEach(ctx context.Context, vs []T) (int, error) {
	for i := range vs {
		if err := r.send(ctx, &vs[i], true, "send"); err != nil {
			return i, err
		}
	}
	return len(vs), nil
}

// ReceiveBatch waits for a message as Receive does, then fills buf with it
// and with the messages after it that are ready, up to len(buf), without
// waiting for more: it returns how many. It claims a sender's run of
// messages (or its first len(buf)) with one compare-and-swap. At the end of
// the stream it returns 0 and io.EOF (the messages before the end come
// first, in full batches). A message that does not decode as T ends the
// batch: it is returned, with how many came before it, as Receive returns
// it. Messages that are decoded (a codec's T), or may be large, or a Recv
// stream's, are taken one at a time.
func (r *Ring[T]) ReceiveBatch(ctx context.Context, buf []T) (int, error) {
	if len(buf) == 0 {
		return 0, nil
	}
	if !r.direct() || r.store != nil || r.ring.MaxLen() != r.w.Size() {
		return r.receiveEach(ctx, buf)
	}
	if r.closed() {
		return 0, r.closedErr("receive")
	}
	got, block := 0, true
	for got < len(buf) {
		c, err := r.ring.ClaimReadRun(ctx, block, len(buf)-got)
		if err != nil {
			if got > 0 && (err == ring.ErrEmpty || err == io.EOF) {
				return got, nil
			}
			return got, r.err("receive", err)
		}
		for i := range c.Len() {
			buf[got+i] = *(*T)(r.ring.DataAt(c.Pos() + uint64(i))) // a pointer-free T of MaxLen bytes
		}
		got += c.Len()
		r.ring.Release(c)
		block = false
	}
	return got, nil
}

// receiveEach is ReceiveBatch of messages that are decoded, or may be
// large, or while a Recv stream runs: one Receive, then TryReceive each.
func (r *Ring[T]) receiveEach(ctx context.Context, buf []T) (int, error) {
	return receiveEach(ctx, buf, r.Receive, r.TryReceive)
}

// Batches returns an iterator over the ring's messages in batches of up
// to n (at least 1): each is a ReceiveBatch into a buffer of n that the
// iterator reuses, so a batch is valid until the loop asks for the next.
// It ends at the end of the stream; an error is its last pair.
//
//	for batch, err := range r.Batches(ctx, 64) { ... }
func (r *Ring[T]) Batches(ctx context.Context, n int) iter.Seq2[[]T, error] {
	return batches(ctx, n, r.ReceiveBatch)
}

// batches is the iterator of Ring.Batches and Subscription.Batches.
func batches[T any](ctx context.Context, n int, receive func(context.Context, []T) (int, error)) iter.Seq2[[]T, error] {
	return func(yield func([]T, error) bool) {
		buf := make([]T, max(n, 1))
		for {
			k, err := receive(ctx, buf)
			if k > 0 && !yield(buf[:k], nil) {
				return
			}
			if err == io.EOF {
				return
			}
			if err != nil {
				yield(nil, err)
				return
			}
		}
	}
}
