package ipcchan

import (
	"context"
	"fmt"
	"reflect"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/ipcchan/ipcchan/codec"
	"github.com/ipcchan/ipcchan/internal/futex"
	"github.com/ipcchan/ipcchan/internal/ipcerr"
	"github.com/ipcchan/ipcchan/internal/kinds"
	"github.com/ipcchan/ipcchan/internal/large"
	"github.com/ipcchan/ipcchan/internal/objfmt"
	"github.com/ipcchan/ipcchan/internal/options"
	"github.com/ipcchan/ipcchan/internal/ring"
	"github.com/ipcchan/ipcchan/internal/typed"
)

// A Loan is room for one message in a ring's pool of shared memory
// (Ring.Loan): the sender writes the message into Bytes where the receiver
// will read it, and Send publishes it without copying it. Exactly one of
// Send (successful) or Discard ends a loan. A loan held by a process that
// dies goes back to the pool; a loan never sent is never seen by a
// receiver. A Loan is for one goroutine at a time.
type Loan struct {
	p    *pooled
	run  large.Run
	b    []byte
	done bool
}

// Bytes is the loan's memory, as many bytes as were asked for: write the
// message here. It is valid until Send or Discard.
func (l *Loan) Bytes() []byte { return l.b }

// Send publishes the message in Bytes, waiting while the ring is full (a
// slot holds its reference) until there is room, ctx is done or the
// handle is closed. On an error the loan is still the caller's: Send it
// again or Discard it.
func (l *Loan) Send(ctx context.Context) error {
	if l.done {
		return l.p.obj.Err("send", ErrInvalid, "the loan was sent or discarded already")
	}
	if err := l.p.publish(ctx, l.run, len(l.b), true, "send"); err != nil {
		return err
	}
	l.done, l.b = true, nil
	return nil
}

// Discard gives the loan back unsent. Calling it after Send, or twice, is
// harmless.
func (l *Loan) Discard() {
	if !l.done {
		l.done, l.b = true, nil
		l.p.pool.Free(l.run)
	}
}

// A View is a received message where it lies (Ring.ReceiveView): in the
// ring's pool, or in its slot, until Release gives the memory back. A
// view held by a process that dies is taken back. A View is for one
// goroutine at a time.
type View struct {
	obj     ipcerr.Object
	b       []byte
	release func()
	done    bool
}

// Bytes is the message. It is valid until Release, and must not be
// written to.
func (v *View) Bytes() []byte { return v.b }

// Release gives the message's memory back, to the pool or the ring.
// Calling it twice is harmless.
func (v *View) Release() {
	if !v.done {
		v.done, v.b = true, nil
		if v.release != nil {
			v.release()
		}
	}
}

// pooled is a ring handle's use of its pool: what sends, receives, loans
// and views of large messages share, of any T.
type pooled struct {
	obj    ipcerr.Object
	pool   *large.Pool
	ring   *ring.Ring                       // a ring's (nil: a topic's)
	err    func(op string, err error) error // the ring's or topic's errors
	closed func() bool
	// publishRun claims a slot (waiting while there is no room, if
	// block), marks run Queued at its position, and publishes the
	// reference to the n bytes in it. On an error the run is still the
	// caller's.
	publishRun func(ctx context.Context, run large.Run, n int, block bool) error
}

// wantsPool reports whether a ring or topic of kind that the options make has a
// pool of large messages (LargeMessages), or why the options are wrong.
func wantsPool(obj ipcerr.Object, cfg *options.Config, kind typed.Payload) (bool, error) {
	if cfg.Has(options.PoolSize) && !cfg.Has(options.Large) {
		return false, obj.Err("open", ErrInvalid, "PoolSize sizes the pool of large messages: add ipcchan.LargeMessages()")
	}
	if !cfg.Has(options.Large) || kind == typed.Layout || (cfg.Has(options.PoolSize) && cfg.PoolSize == 0) {
		return false, nil
	}
	if cfg.Has(options.MsgSize) && cfg.MsgSize < objfmt.PoolRefSize {
		return false, obj.Err("open", ErrInvalid, fmt.Sprintf("LargeMessages needs a MsgSize of at least %d bytes, for the references, not %d", objfmt.PoolRefSize, cfg.MsgSize))
	}
	if fn := objfmt.PoolName(obj.Kind, obj.Name); len(fn) > 255 {
		return false, obj.Err("open", ErrInvalid, fmt.Sprintf("its pool's file name %q would be %d bytes, more than a file name may have (255): choose a name of at most %d bytes",
			fn, len(fn), 255-len(objfmt.PoolName(obj.Kind, "/"))+1))
	}
	return true, nil
}

// openPool opens the pool of the ring or topic obj, whose file is st and
// whose control block says whether it has one (flagged): making it if this
// call made the object (created), and removing a pool of its name left
// over from an earlier object if it has none. It returns nil when the
// object has none. live is the pool's Live.
func openPool(obj ipcerr.Object, cfg *options.Config, created, flagged bool, st *unix.Stat_t, live func(uint64) bool, waiters *futex.Set) (*large.Pool, error) {
	unlink := fmt.Sprintf("ipcchan.%s(%q)", kinds.Of(obj.Kind).Unlink, obj.Name)
	var pool *large.Pool
	var err error
	switch {
	case !flagged:
		if created {
			large.RemovePool(obj) // not this object's: its object is gone
		} else if cfg.Has(options.PoolSize) && cfg.PoolSize != 0 {
			e := obj.Err("open", ErrExist, "it exists without a pool of large messages, which only its maker gives it")
			e.Hint = "open it without PoolSize, or remove it first (" + unlink + ")"
			return nil, e
		}
		return nil, nil
	case created:
		pool, err = large.MakePool(obj, cfg.PoolSize, st.Mode&0o777, st.Ino, waiters)
	case cfg.Has(options.PoolSize) && cfg.PoolSize == 0:
		e := obj.Err("open", ErrExist, "it exists with a pool of large messages, not without one (PoolSize(0))")
		e.Hint = "open it without PoolSize, or remove it first (" + unlink + ")"
		return nil, e
	default:
		size := 0
		if cfg.Has(options.PoolSize) {
			size = cfg.PoolSize
		}
		pool, err = large.OpenPool(obj, size, st.Ino, waiters)
	}
	if err != nil {
		return nil, err
	}
	pool.Live = live
	pool.Wipe = cfg.Has(options.Wipe)
	return pool, nil
}

// openRingPool is openPool for the ring rg, and its use of the pool.
func openRingPool(obj ipcerr.Object, cfg *options.Config, created bool, flags uint32, st *unix.Stat_t, rg *ring.Ring, waiters *futex.Set,
	errOf func(op string, err error) error, closed func() bool) (*pooled, error) {
	pool, err := openPool(obj, cfg, created, flags&objfmt.RingPooled != 0, st, rg.Holds, waiters)
	if pool == nil || err != nil {
		return nil, err
	}
	publish := func(ctx context.Context, run large.Run, n int, block bool) error {
		c, err := rg.ClaimWrite(ctx, block)
		if err != nil {
			return err
		}
		pool.Queue(run, c.Pos())
		objfmt.PoolRef(rg.Buf(c), n, run.Block, run.Blocks, 0)
		rg.Publish(c, objfmt.PoolRefSize)
		return nil
	}
	return &pooled{obj: obj, pool: pool, ring: rg, err: errOf, closed: closed, publishRun: publish}, nil
}

// alloc takes a run for n bytes.
func (p *pooled) alloc(ctx context.Context, n int, block bool, op string) (large.Run, error) {
	if p.closed() {
		return large.Run{}, p.obj.Closed(op)
	}
	if n < 1 {
		return large.Run{}, p.obj.Err(op, ErrInvalid, fmt.Sprintf("a loan of %d bytes: loan 1 byte or more", n))
	}
	if n > p.pool.Size() {
		return large.Run{}, p.obj.Err(op, ErrTooLarge, fmt.Sprintf("%s is more than its pool holds (%s); make the %s again with a larger ipcchan.PoolSize", large.Bytes(int64(n)), large.Bytes(int64(p.pool.Size())), p.obj.Kind))
	}
	run, err := p.pool.Alloc(ctx, n, block)
	switch err {
	case nil:
		return run, nil
	case large.ErrPoolFull:
		return run, p.obj.Err(op, ErrFull, fmt.Sprintf("its pool is full: messages hold %s of its %s", large.Bytes(int64(p.pool.InUse())), large.Bytes(int64(p.pool.Size()))))
	case large.ErrClosed:
		return run, p.obj.Closed(op)
	}
	return run, p.obj.Ended(op, err, "room in the pool")
}

// publish sends the message of n bytes in run, Loaned by this process: a
// slot takes its reference. On an error the run is still the caller's.
func (p *pooled) publish(ctx context.Context, run large.Run, n int, block bool, op string) error {
	if p.closed() {
		return p.obj.Closed(op)
	}
	if err := p.publishRun(ctx, run, n, block); err != nil {
		return p.err(op, err)
	}
	large.Reached(large.PoolPublished)
	return nil
}

// take reports whether data, in the slot c claimed, refers to a message in
// the pool, and if so moves it from the slot into this process's hands and
// frees the slot: the caller then holds the run, and must Free it.
func (p *pooled) take(c ring.Claim, data []byte) (run large.Run, size int, ok bool) {
	if p == nil {
		return run, 0, false
	}
	size, block, blocks, _, ok := objfmt.ParsePoolRef(data)
	run = large.Run{Block: block, Blocks: blocks}
	if !ok || size > int(blocks)*p.pool.BlockSize() || !p.pool.View(run, c.Pos()) {
		return run, 0, false // a message of its own that looks like a reference
	}
	p.ring.Release(c)
	large.Reached(large.PoolReleased)
	return run, size, true
}

// Loan lends n bytes of the ring's pool for a message that the caller
// writes in place (Loan.Bytes) and then sends without a copy (Loan.Send):
// zero-copy, for a Ring[[]byte] opened with LargeMessages (see PoolSize).
// It waits while the pool has no room until there is, ctx is done or the
// handle is closed. A message of any size may be loaned, up to the pool's
// size; each takes whole 64 KiB blocks.
func (r *Ring[T]) Loan(ctx context.Context, n int) (*Loan, error) { return r.loan(ctx, n, true) }

// TryLoan is Loan, or ErrFull at once if the pool has no room.
func (r *Ring[T]) TryLoan(n int) (*Loan, error) { return r.loan(context.Background(), n, false) }

func (r *Ring[T]) loan(ctx context.Context, n int, block bool) (*Loan, error) {
	if err := r.zeroCopy("loan"); err != nil {
		return nil, err
	}
	run, err := r.pool.alloc(ctx, n, block, "loan")
	if err != nil {
		return nil, err
	}
	return &Loan{p: r.pool, run: run, b: r.pool.pool.Bytes(run, n)}, nil
}

// zeroCopy says why loans and views do not apply to this ring, or nil.
func (r *Ring[T]) zeroCopy(op string) error {
	switch {
	case r.closed():
		return r.closedErr(op)
	case r.w.Kind() != typed.Bytes:
		return r.obj.Err(op, ErrInvalid, "loans and views are for a Ring[[]byte]; this ring carries "+r.w.TypeName())
	case r.pool == nil:
		e := r.obj.Err(op, ErrInvalid, "the ring has no pool of shared memory to lend")
		e.Hint = "open it with ipcchan.LargeMessages() (and ipcchan.PoolSize to size the pool)"
		return e
	}
	return nil
}

// ReceiveView returns the next message where it lies, without copying it
// out, waiting while the ring is empty until one comes, ctx is done or the
// handle is closed; io.EOF after the end of the stream. A large message
// is viewed in the pool, a small one in its slot (which the view holds:
// the ring's later messages go on to other receives meanwhile); a message
// larger than the pool, which travelled in a file of its own, is read
// into memory of the view's own. Release the view when done with it: its
// memory goes back to the pool or the ring.
func (r *Ring[T]) ReceiveView(ctx context.Context) (*View, error) { return r.receiveView(ctx, true) }

// TryReceiveView is ReceiveView, or ErrEmpty at once if the ring is empty.
func (r *Ring[T]) TryReceiveView() (*View, error) { return r.receiveView(context.Background(), false) }

func (r *Ring[T]) receiveView(ctx context.Context, block bool) (*View, error) {
	if err := r.zeroCopy("receive"); err != nil {
		return nil, err
	}
	if r.rx.Streaming() {
		return nil, r.obj.Err("receive", ErrInvalid, "a Recv stream runs on this handle: it takes the messages; open another handle for views")
	}
	c, data, err := r.ring.ClaimRead(ctx, block)
	if err != nil {
		return nil, r.err("receive", err)
	}
	if run, size, ok := r.pool.take(c, data); ok {
		// The release keeps r, and so the pool's mapping, alive while the view is.
		return &View{obj: r.obj, b: r.pool.pool.Bytes(run, size), release: func() { r.pool.pool.Free(run) }}, nil
	}
	if msg, ok, err := r.takeFile(c, data); ok {
		if err != nil {
			return nil, err
		}
		return &View{obj: r.obj, b: msg}, nil
	}
	return &View{obj: r.obj, b: data, release: func() { r.ring.Release(c) }}, nil
}

// LoanOf returns the loan's memory as a *V, a pointer-free type (a
// large struct: an image frame, a matrix) to fill in place before
// Loan.Send: loan unsafe.Sizeof(V) bytes for it. The pointer is valid
// until Send or Discard. It fails with ErrInvalid for a V with pointers,
// or larger than the loan.
func LoanOf[V any](l *Loan) (*V, error) {
	return valueAt[V](l.p.obj, "loan", l.b)
}

// ViewOf returns the view's message as a *V, a pointer-free type, read in
// place: the message must be exactly V's size. The pointer is valid until
// Release, and must not be written through.
func ViewOf[V any](v *View) (*V, error) {
	var zero V
	if len(v.b) != int(unsafe.Sizeof(zero)) {
		return nil, v.obj.Err("receive", ErrTypeMismatch, fmt.Sprintf("a message of %d bytes is not a %s, of %d", len(v.b), reflect.TypeFor[V](), unsafe.Sizeof(zero)))
	}
	return valueAt[V](v.obj, "receive", v.b)
}

// valueAt is b as a *V, if V is pointer-free, fits b and is aligned in it.
func valueAt[V any](obj ipcerr.Object, op string, b []byte) (*V, error) {
	var zero V
	t := reflect.TypeFor[V]()
	if err := codec.CheckLayout(t); err != nil {
		return nil, obj.Err(op, ErrInvalid, fmt.Sprintf("%s cannot be laid in shared memory: %v", t, err))
	}
	size := int(unsafe.Sizeof(zero))
	if len(b) < size || size == 0 {
		return nil, obj.Err(op, ErrInvalid, fmt.Sprintf("a %s of %d bytes does not fit in %d bytes: loan unsafe.Sizeof of it", t, size, len(b)))
	}
	p := unsafe.Pointer(unsafe.SliceData(b))
	if uintptr(p)%unsafe.Alignof(zero) != 0 {
		return nil, obj.Err(op, ErrInvalid, fmt.Sprintf("the message is not aligned for a %s", t))
	}
	return (*V)(p), nil
}
