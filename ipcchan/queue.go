package ipcchan

import (
	"fmt"
	"runtime"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/ipcchan/ipcchan/internal/ipcerr"
	"github.com/ipcchan/ipcchan/internal/large"
	"github.com/ipcchan/ipcchan/internal/options"
	"github.com/ipcchan/ipcchan/internal/poll"
	"github.com/ipcchan/ipcchan/internal/posix"
	"github.com/ipcchan/ipcchan/internal/typed"
)

// A Queue is a POSIX message queue that carries values of type T between
// goroutines and processes, like a chan T that other programs can open by
// name. Its methods are safe for concurrent use.
//
// Queue[[]byte] and Queue[string] carry the bytes as they are, exactly what
// a C program sends and receives with mq_send and mq_receive. Every other T
// is encoded with MessagePack behind a 12-byte header that identifies the
// type, so that a receiver of another type gets ErrTypeMismatch instead of
// garbage (see WithCodec for other encodings).
//
// A message larger than the queue's MsgSize, up to 1 GiB, travels in
// /dev/shm, and the queue carries a 32-byte reference to it at the
// message's priority: typed queues do so always, Queue[[]byte] and
// Queue[string] with LargeMessages. It is written into the queue's pool
// (ipcchan.pool.queue.NAME, PoolSize bytes, default 16 MiB, made at the
// first large message, or with the queue when PoolSize is given) and read
// out of it, the memory reused message after message; a message larger
// than the pool, or that finds it full, travels in a file of its own
// (PoolSize(0): every one does), which Receive removes before reading it.
// The pool and the files belong to the queue's owner, with the owner's
// bits of the queue's mode: a message stays readable by the owner's
// processes in the pool until its blocks are reused (WipeOnRelease clears
// them at once). The pool and the files of messages never received go with
// the queue (UnlinkQueue, ipcchan rm), and those a killed process left
// with `ipcchan rm --stale`; a run of the pool that a killed process held
// comes back to the pool by itself. Only processes of the queue's owner
// (or root) send and receive large messages.
//
// A Send or Receive makes one system call, as a blocking mq_send or
// mq_receive in C does; a wait longer than 10 ms goes on on the shared
// epoll reactor (package loop), without a thread. No goroutine or thread
// is kept per queue. See the package documentation.
type Queue[T any] struct {
	obj      ipcerr.Object
	fd       *poll.FD
	capacity int
	msgSize  int
	w        *typed.Wire[T]     // the message format
	store    *large.Store       // messages beyond msgSize, or nil when the queue carries none
	pool     *large.QueuePool   // the queue's pool of large messages, with store
	rx       typed.Receiving[T] // Recv
	bufs     sync.Pool          // *[]byte with len msgSize

	watchMu sync.Mutex
	watches map[*queueWatch]struct{} // Watch's, which Close ends
}

// QueueAttr describes a queue.
type QueueAttr struct {
	Capacity int // most messages it holds (mq_maxmsg)
	MsgSize  int // largest message in bytes (mq_msgsize)
	Len      int // messages in it now (mq_curmsgs)

	// Its pool of large messages, once this handle has used it (see
	// Queue): its bytes (0: none yet), those that messages hold now, and
	// the runs taken back from processes that died holding them.
	PoolSize      int
	PoolInUse     int
	PoolRecovered uint64
}

// OpenQueue opens the message queue name ("/jobs"). It takes the options
// Create, Exclusive, Perm, Capacity, MsgSize, WithCodec and NoEndOfStream.
//
// With Create, two processes that create the same queue at once both end
// up with the one queue. When Capacity or MsgSize is given and the queue
// already exists with other values, OpenQueue fails with ErrExist rather
// than hand back a queue of another shape.
func OpenQueue[T any](name string, opts ...Option) (*Queue[T], error) {
	obj := ipcerr.Object{Kind: "queue", Name: name}
	cfg, err := options.Apply(obj, options.Queue, opts)
	if err != nil {
		return nil, err
	}
	if err := posix.CheckName(name, posix.NameMax); err != nil {
		return nil, nameError("queue", name, "open", err)
	}
	w, err := typed.NewWire[T](obj, cfg.Codec, cfg.Has(options.NoEOF))
	if err != nil {
		return nil, err
	}
	if cfg.Has(options.Large) && w.Kind() == typed.Layout {
		return nil, obj.Err("open", ErrInvalid, "LargeMessages does not apply to codec.Layout: every message is the size of a "+w.TypeName())
	}
	if cfg.Has(options.MsgSize) {
		if err := w.CheckMsgSize(cfg.MsgSize, fmt.Sprintf("MsgSize(%d)", cfg.MsgSize)); err != nil {
			return nil, err
		}
	} else if w.Kind() == typed.Layout {
		cfg.DefaultMsgSize = w.Size() // a message is T's bytes, and no more
	}
	fd, created, shape, err := openQueueFd(name, cfg)
	if err != nil {
		return nil, openError(name, cfg, err)
	}
	fail := func(e error) (*Queue[T], error) {
		unix.Close(fd)
		if created {
			posix.MqUnlink(name)
		}
		return nil, e
	}
	if shape == nil { // opened, or created with the kernel's defaults: ask
		a, err := posix.MqGetAttr(fd)
		if err != nil {
			return fail(obj.Fail("open", nil, err, ""))
		}
		shape = &a
	}
	q := &Queue[T]{obj: obj, w: w, capacity: int(shape.MaxMsg), msgSize: int(shape.MsgSize)}
	q.rx.Obj = obj
	if e := q.checkShape(cfg); e != nil {
		return fail(e)
	}
	if q.fd, err = poll.New(fd); err != nil {
		return fail(obj.Err("open", err, "cannot start the event loop: "+err.Error()))
	}
	if err := q.openStore(fd, cfg); err != nil {
		return fail(err)
	}
	if created && q.pool != nil && cfg.Has(options.PoolSize) {
		// Its pool, of the size asked, before any sender makes one of the
		// default size.
		if _, err := q.pool.Pool(true); err != nil {
			return fail(err)
		}
	}
	q.bufs.New = func() any {
		b := make([]byte, q.msgSize)
		return &b
	}
	return q, nil
}

// openStore sets up the large messages of the queue open as fd, if it
// carries them, and the limit of a message's size.
func (q *Queue[T]) openStore(fd int, cfg *options.Config) error {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return q.obj.Fail("open", nil, err, "")
	}
	advice := func() string {
		return fmt.Sprintf("send smaller messages, or recreate the queue with a larger MsgSize (this machine allows up to %d: %smsgsize_max)",
			posix.ReadMqLimits().MsgSizeMax, posix.MqSysctlDir)
	}
	var err error
	if q.store, err = largeStore(q.obj, q.w, cfg, q.msgSize, &st, advice); err != nil {
		return err
	}
	switch {
	case q.store != nil && cfg.Has(options.PoolSize) && cfg.PoolSize == 0: // no pool: files
	case q.store != nil:
		size := 0
		if cfg.Has(options.PoolSize) {
			size = cfg.PoolSize
		}
		q.pool = large.NewQueuePool(q.obj, &st, size, cfg.Has(options.Wipe), q.empty)
		q.pool.OnMap = func(mem []byte) { runtime.AddCleanup(q, func(m []byte) { unix.Munmap(m) }, mem) }
	case cfg.Has(options.PoolSize):
		return q.obj.Err("open", ErrInvalid, "PoolSize sizes the pool of large messages, which this queue does not carry: add ipcchan.LargeMessages()")
	}
	return nil
}

// empty reports whether the queue holds no message now (false if that
// cannot be told).
func (q *Queue[T]) empty() bool {
	var a posix.MqAttr
	err := q.fd.Do(func(fd int) (err error) { a, err = posix.MqGetAttr(fd); return err })
	return err == nil && a.CurMsgs == 0
}

// takeLarge reports whether msg, received at priority prio, is a reference
// to a large message, in the pool or in a file, and if so appends the
// message to dst.
func (q *Queue[T]) takeLarge(msg []byte, prio uint, dst []byte) ([]byte, bool, error) {
	if q.pool != nil {
		if dst, ok, err := q.pool.Take(msg, prio, dst); ok {
			return dst, true, err
		}
	}
	return takeLarge(q.store, msg, prio, dst)
}

// openQueueFd opens or creates the queue and reports whether it created
// it, and with what attributes when it asked for them (the kernel gives
// exactly those).
func openQueueFd(name string, cfg *options.Config) (fd int, created bool, shape *posix.MqAttr, err error) {
	const flags = unix.O_RDWR | unix.O_NONBLOCK | unix.O_CLOEXEC
	if !cfg.Has(options.Create) {
		fd, err = posix.MqOpen(name, flags, 0, nil)
		return fd, false, nil, err
	}
	var attr *posix.MqAttr // nil: the kernel's defaults
	if cfg.Has(options.Capacity) || cfg.Has(options.MsgSize) || cfg.DefaultMsgSize > 0 {
		capacity, size := queueShape(cfg)
		attr = &posix.MqAttr{MaxMsg: int64(capacity), MsgSize: int64(size)}
	}
	// Create exclusively first, so that we know whether the queue is ours
	// (and must be removed if the rest of the opening fails); if another
	// process created it, open theirs. The loop only repeats when the queue
	// is removed between the two calls.
	for range 100 {
		fd, err = posix.MqOpen(name, flags|unix.O_CREAT|unix.O_EXCL, uint32(cfg.Perm), attr)
		if err == nil {
			// The umask has narrowed the mode; set exactly what was asked.
			if err := unix.Fchmod(fd, uint32(cfg.Perm)); err != nil {
				unix.Close(fd)
				posix.MqUnlink(name)
				return -1, false, nil, err
			}
			return fd, true, attr, nil
		}
		if err != syscall.EEXIST || cfg.Has(options.Exclusive) {
			return -1, false, nil, err
		}
		fd, err = posix.MqOpen(name, flags, 0, nil)
		if err != syscall.ENOENT {
			return fd, false, nil, err
		}
	}
	return -1, false, nil, err
}

// checkShape compares the queue's attributes with the options.
func (q *Queue[T]) checkShape(cfg *options.Config) error {
	if (cfg.Has(options.Capacity) && cfg.Capacity != q.capacity) || (cfg.Has(options.MsgSize) && cfg.MsgSize != q.msgSize) {
		e := q.obj.Err("open", ErrExist, fmt.Sprintf("it exists with Capacity %d and MsgSize %d, not the %s asked for",
			q.capacity, q.msgSize, askedShape(cfg)))
		e.Hint = fmt.Sprintf("open it without Capacity/MsgSize, or remove it first (ipcchan.UnlinkQueue(%q))", q.obj.Name)
		return e
	}
	return q.w.CheckMsgSize(q.msgSize, fmt.Sprintf("its MsgSize %d", q.msgSize))
}

// queueShape is the capacity and message size a created queue gets: the
// options, or else the transport's default size and the machine's
// defaults, read once per process: reading /proc each time cost more than
// creating the queue. (A default changed while the process runs is seen by
// the next process.)
func queueShape(c *options.Config) (capacity, size int) {
	capacity, size = c.Capacity, c.MsgSize
	if !c.Has(options.MsgSize) {
		size = c.DefaultMsgSize
	}
	if !c.Has(options.Capacity) || size == 0 {
		d := queueDefaults()
		if !c.Has(options.Capacity) {
			capacity = d.capacity
		}
		if size == 0 {
			size = d.size
		}
	}
	return capacity, size
}

var queueDefaults = sync.OnceValue(func() struct{ capacity, size int } {
	return struct{ capacity, size int }{posix.ReadSysctl("msg_default", 10), posix.ReadSysctl("msgsize_default", 8192)}
})

func askedShape(cfg *options.Config) string {
	switch {
	case cfg.Has(options.Capacity) && cfg.Has(options.MsgSize):
		return fmt.Sprintf("Capacity %d and MsgSize %d", cfg.Capacity, cfg.MsgSize)
	case cfg.Has(options.Capacity):
		return fmt.Sprintf("Capacity %d", cfg.Capacity)
	}
	return fmt.Sprintf("MsgSize %d", cfg.MsgSize)
}

// Name returns the queue's name, as given to OpenQueue.
func (q *Queue[T]) Name() string { return q.obj.Name }

// Fd returns the queue's descriptor (non-blocking, close-on-exec), for use
// with epoll or poll: it is readable when the queue holds a message and
// writable when it has room. It returns -1 after Close. The descriptor
// belongs to the Queue: do not close it or read from it behind its back.
func (q *Queue[T]) Fd() int { return q.fd.Sysfd() }

// Attr returns the queue's capacity, message size and current length.
func (q *Queue[T]) Attr() (QueueAttr, error) {
	var a posix.MqAttr
	err := q.fd.Do(func(fd int) (err error) { a, err = posix.MqGetAttr(fd); return err })
	if err != nil {
		return QueueAttr{}, q.err("attr", err, "")
	}
	qa := QueueAttr{Capacity: int(a.MaxMsg), MsgSize: int(a.MsgSize), Len: int(a.CurMsgs)}
	if p := q.pool.Opened(); p != nil {
		p.Reclaim() // what dead processes held is not in use
		qa.PoolSize, qa.PoolInUse, qa.PoolRecovered = p.Size(), p.InUse(), p.Recovered()
	}
	return qa, nil
}

// Close closes this process's handle to the queue; the queue and its
// messages stay until Unlink. Every goroutine blocked in Send or Receive
// returns ErrClosed, a Recv channel is closed, and watches end. A message that Recv had
// read from the kernel but not yet delivered is put back into the queue,
// at its priority (behind the messages of that priority already there); if
// the queue stays full for a second, Close returns it in a *MessageError
// (Value holds it) rather than drop it. Calling Close twice is harmless.
func (q *Queue[T]) Close() error {
	q.stopWatches()
	err := q.fd.Close(q.rx.Close)
	if q.pool != nil {
		q.pool.Close()
	}
	if _, ok := err.(syscall.Errno); ok {
		return q.err("close", err, "")
	}
	return err
}

// Unlink removes the queue's name. Handles already open keep working;
// the queue disappears when the last one is closed.
func (q *Queue[T]) Unlink() error { return UnlinkQueue(q.obj.Name) }

// UnlinkQueue removes the message queue name, and the files of the
// large messages it holds: handles that stay open on the removed queue
// still receive its small messages, and a *MessageError (ErrNotExist) for
// each large one.
func UnlinkQueue(name string) error {
	if err := posix.CheckName(name, posix.NameMax); err != nil {
		return nameError("queue", name, "unlink", err)
	}
	err := posix.MqUnlink(name)
	if err == nil || err == syscall.ENOENT {
		large.RemoveAll("queue", name) // its large messages and its pool go with it
		large.RemovePool(ipcerr.Object{Kind: "queue", Name: name})
	}
	obj := ipcerr.Object{Kind: "queue", Name: name}
	switch err {
	case nil:
		return nil
	case syscall.ENOENT:
		return obj.Fail("unlink", ErrNotExist, err, "")
	case syscall.EACCES, syscall.EPERM:
		return obj.Fail("unlink", ErrPermission, err, "permission denied: only the queue's owner (or root) can remove it")
	}
	return obj.Fail("unlink", nil, err, "")
}
