package ipcchan

import (
	"context"
	"errors"
	"io"
	"iter"
)

// SendBatch publishes vs in order, as Send does each: it returns how many
// were published before an error. (A topic publishes a slot at a time;
// its subscribers take several at once already, through their read-ahead.)
func (t *Topic[T]) SendBatch(ctx context.Context, vs []T) (int, error) {
	for i := range vs {
		if err := t.send(ctx, &vs[i], true); err != nil {
			return i, err
		}
	}
	return len(vs), nil
}

// ReceiveBatch waits for a message as Receive does, then fills buf with it
// and with the messages after it that are ready, up to len(buf), without
// waiting for more: it returns how many. At the end of the stream it
// returns 0 and io.EOF (the messages before the end come first).
func (s *Subscription[T]) ReceiveBatch(ctx context.Context, buf []T) (int, error) {
	return receiveEach(ctx, buf, s.Receive, s.TryReceive)
}

// Batches returns an iterator over the subscription's messages in batches
// of up to n, as Ring.Batches does.
func (s *Subscription[T]) Batches(ctx context.Context, n int) iter.Seq2[[]T, error] {
	return batches(ctx, n, s.ReceiveBatch)
}

// receiveEach is a ReceiveBatch of one receive, then non-blocking ones.
func receiveEach[T any](ctx context.Context, buf []T, receive func(context.Context) (T, error), try func() (T, error)) (int, error) {
	if len(buf) == 0 {
		return 0, nil
	}
	v, err := receive(ctx)
	if err != nil {
		return 0, err
	}
	buf[0] = v
	for got := 1; got < len(buf); got++ {
		v, err := try()
		if err != nil {
			if errors.Is(err, ErrEmpty) || err == io.EOF {
				return got, nil
			}
			return got, err
		}
		buf[got] = v
	}
	return len(buf), nil
}
