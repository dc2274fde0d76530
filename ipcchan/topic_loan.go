package ipcchan

import (
	"context"

	"golang.org/x/sys/unix"

	"github.com/ipcchan/ipcchan/internal/large"
	"github.com/ipcchan/ipcchan/internal/objfmt"
	"github.com/ipcchan/ipcchan/internal/options"
	"github.com/ipcchan/ipcchan/internal/ring"
	"github.com/ipcchan/ipcchan/internal/typed"
)

// A topic's pool: a message larger than MsgSize is written into a run of
// the pool and its slot holds a reference; every subscription reads it
// there. The run goes back to the pool when the publisher a Capacity later
// claims the slot, or, when an allocation finds no room, once every live
// subscription has read it (or no slot holds it: its slot was published
// over by a publisher that does not know the pool).

// openPool opens the topic's pool, if it has one (flagged), making it if
// this call made the topic.
func (t *Topic[T]) openPool(cfg *options.Config, created, flagged bool) error {
	path, err := objPath(t.obj, "open")
	if err != nil {
		return err
	}
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return t.obj.Fail("open", nil, err, "")
	}
	pool, err := openPool(t.obj, cfg, created, flagged, &st, t.topic.Holds, &t.waiters)
	if pool == nil || err != nil {
		if err != nil && created {
			unix.Unlink(path) // made by this call, and of no use without its pool
		}
		return err
	}
	// A run is the topic's while its slot holds it and a live subscription
	// has yet to read it: History keeps no large message for subscriptions
	// that come later, once the pool needs the room.
	pool.Done = func(pos uint64) bool { return !t.topic.Unread(pos) }
	publish := func(ctx context.Context, run large.Run, n int, block bool) error {
		c, err := t.topic.ClaimPublish(ctx, block)
		if err != nil {
			return err
		}
		t.retire(c)
		pool.Queue(run, c.Pos())
		objfmt.PoolRef(t.topic.Buf(c), n, run.Block, run.Blocks, 0)
		t.topic.Publish(c, objfmt.PoolRefSize)
		return nil
	}
	t.pool = &pooled{obj: t.obj, pool: pool, err: t.err, closed: t.closed, publishRun: publish}
	return nil
}

// retire gives back to the pool the run that the message the slot c held
// a Capacity before referred to: the publisher of c is about to overwrite
// it, and no subscription may read it any more (under Block they all have;
// under DropOldest one still copying it finds the slot changed, and drops
// the copy).
func (t *Topic[T]) retire(c ring.Claim) {
	if t.pool == nil {
		return
	}
	_, block, blocks, _, ok := objfmt.ParsePoolRef(t.topic.Previous(c))
	run := large.Run{Block: block, Blocks: blocks}
	if ok && t.pool.pool.View(run, c.Pos()-uint64(t.topic.Capacity())) {
		t.pool.pool.Free(run)
	}
}

// inPool returns the message that data, read in the slot of position pos,
// refers to in the pool, or data itself if it is not a reference; gone if
// it is one whose run went back to the pool (read by every subscription
// there was, before this one came with History).
func (t *Topic[T]) inPool(pos uint64, data []byte) (msg []byte, gone bool) {
	if t.pool == nil {
		return data, false
	}
	size, block, blocks, _, ok := objfmt.ParsePoolRef(data)
	if !ok {
		return data, false
	}
	run := large.Run{Block: block, Blocks: blocks}
	if size > int(blocks)*t.pool.pool.BlockSize() || !t.pool.pool.QueuedAt(run, pos) {
		return nil, true
	}
	return t.pool.pool.Bytes(run, size), false
}

// goneError is the error of a receive of a large message whose run went
// back to the pool before this subscription read it.
func (t *Topic[T]) goneError(data []byte) error {
	return &MessageError{Kind: t.obj.Kind, Queue: t.obj.Name, Op: "receive", Data: append([]byte(nil), data...), Err: ErrNotExist,
		Detail: "a large message that every subscription there was had read, whose memory went back to the topic's pool before this one, which came later with History, read it"}
}

// Loan lends n bytes of the topic's pool for a message that the caller
// writes in place (Loan.Bytes) and then publishes without a copy
// (Loan.Send): zero-copy, for a Topic[[]byte] made with LargeMessages (see
// PoolSize). Every subscription reads the message where the publisher
// wrote it. It waits while the pool has no room until there is, ctx is
// done or the handle is closed.
func (t *Topic[T]) Loan(ctx context.Context, n int) (*Loan, error) { return t.loan(ctx, n, true) }

// TryLoan is Loan, or ErrFull at once if the pool has no room.
func (t *Topic[T]) TryLoan(n int) (*Loan, error) { return t.loan(context.Background(), n, false) }

func (t *Topic[T]) loan(ctx context.Context, n int, block bool) (*Loan, error) {
	if err := t.zeroCopy("loan"); err != nil {
		return nil, err
	}
	run, err := t.pool.alloc(ctx, n, block, "loan")
	if err != nil {
		return nil, err
	}
	return &Loan{p: t.pool, run: run, b: t.pool.pool.Bytes(run, n)}, nil
}

// zeroCopy says why loans and views do not apply to this topic, or nil.
func (t *Topic[T]) zeroCopy(op string) error {
	switch {
	case t.closed():
		return t.closedErr(op)
	case t.w.Kind() != typed.Bytes:
		return t.obj.Err(op, ErrInvalid, "loans and views are for a Topic[[]byte]; this topic carries "+t.w.TypeName())
	case t.pool == nil:
		e := t.obj.Err(op, ErrInvalid, "the topic has no pool of shared memory to lend")
		e.Hint = "make it with ipcchan.LargeMessages() (and ipcchan.PoolSize to size the pool)"
		return e
	}
	return nil
}

// ReceiveView returns the subscription's next message where it lies,
// without copying it out, waiting until one is published, ctx is done or
// the subscription is closed; io.EOF after the end of the stream. A large
// message is viewed in the topic's pool, a small one in its slot. Under
// Overflow(Block) the view holds the subscription at the message: the
// publishers wait for its Release as for a subscriber that has not read
// it, and the subscription's other receives fail with ErrInvalid until
// then. Under DropOldest, which never waits, the view is a copy of the
// message in memory of its own. For a Topic[[]byte] made with
// LargeMessages.
func (s *Subscription[T]) ReceiveView(ctx context.Context) (*View, error) {
	return s.receiveView(ctx, true)
}

// TryReceiveView is ReceiveView, or ErrEmpty at once if no message is
// there.
func (s *Subscription[T]) TryReceiveView() (*View, error) {
	return s.receiveView(context.Background(), false)
}

func (s *Subscription[T]) receiveView(ctx context.Context, block bool) (*View, error) {
	t := s.t
	if err := t.zeroCopy("receive"); err != nil {
		return nil, err
	}
	if s.closed() {
		return nil, t.closedErr("receive")
	}
	if s.rx.Streaming() {
		return nil, t.obj.Err("receive", ErrInvalid, "a Recv stream runs on this subscription: it takes the messages; subscribe again for views")
	}
	if !s.st.viewing.CompareAndSwap(false, true) {
		return nil, s.viewHeld()
	}
	if t.topic.DropOldest() {
		defer s.st.viewing.Store(false)
		var b, ref []byte
		if err := s.st.sub.TakeAt(ctx, block, func(pos uint64, data []byte) {
			m, gone := t.inPool(pos, data)
			if ref = nil; gone {
				ref = append(ref, data...)
			}
			b = append(b[:0], m...)
		}); err != nil {
			return nil, t.err("receive", err)
		}
		if ref != nil {
			return nil, t.goneError(ref)
		}
		return &View{obj: t.obj, b: b}, nil
	}
	var b, ref []byte
	c, err := s.st.sub.Peek(ctx, block, func(pos uint64, data []byte) {
		var gone bool
		if b, gone = t.inPool(pos, data); gone {
			ref = append(ref[:0], data...)
		}
	})
	if err != nil {
		s.st.viewing.Store(false)
		return nil, t.err("receive", err)
	}
	if ref != nil {
		s.st.sub.Advance(c)
		s.st.viewing.Store(false)
		return nil, t.goneError(ref)
	}
	return &View{obj: t.obj, b: b, release: func() {
		s.st.sub.Advance(c)
		s.st.viewing.Store(false)
	}}, nil
}

// viewHeld is the error of a receive while a view holds the subscription.
func (s *Subscription[T]) viewHeld() error {
	e := s.t.obj.Err("receive", ErrInvalid, "a view holds this subscription at its message")
	e.Hint = "Release the view first, or receive on a subscription of its own"
	return e
}
