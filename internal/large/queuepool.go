package large

import (
	"context"
	"errors"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ipcchan/ipcchan/internal/futex"
	"github.com/ipcchan/ipcchan/internal/ipcerr"
	"github.com/ipcchan/ipcchan/internal/objfmt"
)

// A QueuePool is a queue handle's use of its queue's pool (objfmt's pool
// layout, the file ipcchan.pool.queue.NAME): made by the first sender of
// a message that fits in it, opened by a receiver at the first reference
// to it. A sender writes the message into a run, marks the run Queued at a
// number of its own (NextSeq) and sends a reference with that number; the
// receiver that gets the reference marks the run Viewed, copies the
// message out and frees the run.
//
// A queue cannot be looked into, so no slot vouches for a Queued run as a
// ring's does: a run Queued whose reference is in nobody's hands (its
// sender died between marking it and sending the reference, or its
// receiver between getting the reference and marking it) is found by the
// queue being empty: a run seen Queued when the queue holds no message,
// and still Queued at the same number Grace later, is taken back.
type QueuePool struct {
	obj     ipcerr.Object
	size    int    // PoolSize, or 0
	perm    uint32 // of a pool this handle makes
	owner   uint64 // the queue's inode
	mayMake bool   // this process may make it: the queue's owner, or root
	wipe    bool
	empty   func() bool // whether the queue holds no message now
	waiters futex.Set   // the pool's lock waits, which Close ends
	// OnMap, if set, is called with the pool's mapping when the handle
	// maps it: the handle's cleanup unmaps it.
	OnMap func(mem []byte)

	mu       sync.Mutex
	pool     *Pool
	suspects map[uint64]time.Time // a Queued run's number -> when it was seen so with the queue empty
}

// Grace is how long a queue's run stays Queued, after it was seen so with
// its queue empty, before it is taken back: far longer than a live
// receiver takes from getting a reference to marking its run.
const Grace = 200 * time.Millisecond

// NewQueuePool is the pool of the queue obj for a handle: st is the
// queue's, empty reports whether it holds no message, size is PoolSize (or
// 0), and wipe is WipeOnRelease.
func NewQueuePool(obj ipcerr.Object, st *unix.Stat_t, size int, wipe bool, empty func() bool) *QueuePool {
	euid := os.Geteuid()
	return &QueuePool{obj: obj, size: size, perm: st.Mode & 0o600, owner: st.Ino, mayMake: euid == 0 || uint32(euid) == st.Uid,
		wipe: wipe, empty: empty, suspects: map[uint64]time.Time{}}
}

// Fits reports whether a message of n bytes may travel in the pool, as
// far as this handle knows: one larger than the pool travels in a file.
// A nil QueuePool (a queue that carries no large messages) fits none.
func (q *QueuePool) Fits(n int) bool {
	if q == nil {
		return false
	}
	size := q.size
	if size == 0 {
		size = DefaultPoolSize
	}
	if q.mu.Lock(); q.pool != nil {
		size = q.pool.Size()
	}
	q.mu.Unlock()
	return q.mayMake && n <= size
}

// Pool returns the pool, opening it (and with make, making it) if this
// handle has not yet; nil without make if there is none.
func (q *QueuePool) Pool(make bool) (*Pool, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.pool != nil {
		return q.pool, nil
	}
	var p *Pool
	var err error
	if make {
		p, err = OpenOrMakePool(q.obj, q.size, q.perm, q.owner, &q.waiters)
	} else {
		p, err = openPoolWithin(q.obj, 0, q.owner, &q.waiters, 0) // its sender made it
	}
	if err != nil {
		return nil, err
	}
	p.Live, p.Wipe = q.live, q.wipe
	q.pool = p
	if q.OnMap != nil {
		q.OnMap(p.Mem())
	}
	return p, nil
}

// Opened returns the pool, opening it if it exists, or nil.
func (q *QueuePool) Opened() *Pool {
	if q == nil {
		return nil
	}
	p, _ := q.Pool(false)
	return p
}

// live is the pool's Live: whether the reference of the run Queued at
// number seq may still be in the queue or in a live process's hands. It
// runs under the pool's lock.
func (q *QueuePool) live(seq uint64) bool {
	now := time.Now()
	for s, t := range q.suspects {
		if now.Sub(t) > 10*Grace {
			delete(q.suspects, s) // long gone: freed by its receiver since
		}
	}
	if !q.empty() {
		return true
	}
	t, ok := q.suspects[seq]
	if !ok {
		q.suspects[seq] = now
		return true
	}
	if now.Sub(t) < Grace {
		return true
	}
	delete(q.suspects, seq)
	return false
}

// Send writes msg into a run and marks it Queued at a number of its own,
// then calls send with the reference to it; if send fails, the run goes
// back to the pool. It reports false, having sent nothing, if the pool
// has no room now: the caller sends msg another way.
func (q *QueuePool) Send(msg []byte, send func(ref []byte) error) (bool, error) {
	p, err := q.Pool(true)
	if errors.Is(err, ipcerr.ErrLimit) {
		return false, nil // no room in /dev/shm for a pool: perhaps for the message alone
	}
	if err != nil {
		return false, err
	}
	if len(msg) > p.Size() {
		return false, nil
	}
	run, err := p.Alloc(context.Background(), len(msg), false)
	if err == ErrPoolFull {
		return false, nil
	}
	if err != nil {
		return false, q.obj.Fail("send", nil, err, "")
	}
	copy(p.Bytes(run, len(msg)), msg)
	seq := p.NextSeq()
	p.Queue(run, seq)
	var ref [objfmt.PoolRefSize]byte
	objfmt.PoolRef(ref[:], len(msg), run.Block, run.Blocks, seq)
	if err := send(ref[:]); err != nil {
		p.Free(run) // never sent: no receiver may have it
		return true, err
	}
	at(PoolPublished)
	return true, nil
}

// Take reports whether msg, received at priority prio, is a reference to
// a message in the pool, and if so appends the message to dst and frees
// its run. A reference whose run is not Queued at its number (taken back
// after a sender or receiver died) is a MessageError of ErrNotExist.
func (q *QueuePool) Take(msg []byte, prio uint, dst []byte) ([]byte, bool, error) {
	size, block, blocks, seq, ok := objfmt.ParsePoolRef(msg)
	if !ok {
		return dst, false, nil
	}
	at(Received)
	refuse := func(sentinel error, detail string) ([]byte, bool, error) {
		return dst, true, &ipcerr.MessageError{Kind: q.obj.Kind, Queue: q.obj.Name, Op: "receive", Priority: prio, Data: append([]byte(nil), msg...), Err: sentinel,
			Detail: "a reference to a large message of " + Bytes(int64(size)) + " in its pool " + PoolPath(q.obj) + ", " + detail}
	}
	p, err := q.Pool(false)
	if err != nil {
		return refuse(ipcerr.ErrCorrupt, "which cannot be opened: "+err.Error())
	}
	run := Run{Block: block, Blocks: blocks}
	if size < 0 || size > int(blocks)*p.BlockSize() || !p.View(run, seq) {
		return refuse(ipcerr.ErrNotExist, "which is not there: it was taken back after its sender or a receiver died")
	}
	at(PoolReleased)
	dst = append(dst, p.Bytes(run, size)...)
	p.Free(run)
	return dst, true, nil
}

// Close ends the waits on the pool's lock; the mapping goes when the
// handle is collected (a Take may still be copying).
func (q *QueuePool) Close() { q.waiters.Close() }
