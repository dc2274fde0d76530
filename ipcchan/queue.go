package ipcchan

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/ipcchan/ipcchan/internal/posix"
	"github.com/ipcchan/ipcchan/loop"
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
// Operations try the non-blocking system call first and, only when the
// queue is full or empty, park the goroutine on the shared epoll reactor
// (package loop): no goroutine or thread is kept per queue.
type Queue[T any] struct {
	name     string
	fd       int
	capacity int
	msgSize  int
	w        Wire[T] // the message format
	noEOF    bool    // NoEndOfStream: zero-byte messages are data
	wait     *loop.FD

	mu        sync.RWMutex // held shared around system calls on fd, exclusively to close it
	fdClosed  bool
	closing   atomic.Bool
	done      chan struct{} // closed when Close begins
	closeOnce sync.Once
	closeErr  error

	bufs sync.Pool // *[]byte with len msgSize

	streamMu sync.Mutex
	stream   atomic.Pointer[stream[T]]
}

// payload says how values of T become message bytes.
type payload uint8

const (
	payloadBytes  payload = iota // T is a []byte type: the bytes themselves
	payloadString                // T is a string type: its bytes
	payloadTyped                 // header + codec encoding
)

// QueueAttr describes a queue.
type QueueAttr struct {
	Capacity int // most messages it holds (mq_maxmsg)
	MsgSize  int // largest message in bytes (mq_msgsize)
	Len      int // messages in it now (mq_curmsgs)
}

// OpenQueue opens the message queue name ("/jobs"). It takes the options
// Create, Exclusive, Perm, Capacity, MsgSize, WithCodec and NoEndOfStream.
//
// With Create, two processes that create the same queue at once both end
// up with the one queue. When Capacity or MsgSize is given and the queue
// already exists with other values, OpenQueue fails with ErrExist rather
// than hand back a queue of another shape.
func OpenQueue[T any](name string, opts ...Option) (*Queue[T], error) {
	const allowed = optCreate | optExclusive | optPerm | optCapacity | optMsgSize | optCodec | optNoEOF
	cfg, err := apply("queue", name, allowed, opts)
	if err != nil {
		return nil, err
	}
	if err := posix.CheckName(name, posix.NameMax); err != nil {
		return nil, nameError("queue", name, "open", err)
	}
	w, detail := makeWire[T](cfg.codec)
	if detail != "" {
		return nil, &Error{Kind: "queue", Name: name, Op: "open", Err: ErrInvalid, Detail: detail}
	}
	q := &Queue[T]{name: name, w: w, noEOF: cfg.has(optNoEOF), done: make(chan struct{})}
	if q.w.kind == payloadTyped && cfg.has(optMsgSize) && cfg.msgSize <= headerSize {
		return nil, &Error{Kind: "queue", Name: name, Op: "open", Err: ErrInvalid,
			Detail: fmt.Sprintf("MsgSize(%d) leaves no room: typed messages need a %d-byte header plus the encoded value", cfg.msgSize, headerSize)}
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
			return fail(&Error{Kind: "queue", Name: name, Op: "open", Sys: err})
		}
		shape = &a
	}
	q.fd, q.capacity, q.msgSize = fd, int(shape.MaxMsg), int(shape.MsgSize)
	if e := q.checkShape(cfg); e != nil {
		return fail(e)
	}
	l, err := loop.Default()
	if err != nil {
		return fail(&Error{Kind: "queue", Name: name, Op: "open", Err: err, Detail: "cannot start the event loop: " + err.Error()})
	}
	q.wait = l.Watch(fd)
	q.bufs.New = func() any {
		b := make([]byte, q.msgSize)
		return &b
	}
	return q, nil
}

// openQueueFd opens or creates the queue and reports whether it created
// it, and with what attributes when it asked for them (the kernel gives
// exactly those).
func openQueueFd(name string, cfg *config) (fd int, created bool, shape *posix.MqAttr, err error) {
	const flags = unix.O_RDWR | unix.O_NONBLOCK | unix.O_CLOEXEC
	if !cfg.has(optCreate) {
		fd, err = posix.MqOpen(name, flags, 0, nil)
		return fd, false, nil, err
	}
	var attr *posix.MqAttr // nil: the kernel's defaults
	if cfg.has(optCapacity) || cfg.has(optMsgSize) {
		capacity, size := cfg.queueShape()
		attr = &posix.MqAttr{MaxMsg: int64(capacity), MsgSize: int64(size)}
	}
	// Create exclusively first, so that we know whether the queue is ours
	// (and must be removed if the rest of the opening fails); if another
	// process created it, open theirs. The loop only repeats when the queue
	// is removed between the two calls.
	for range 100 {
		fd, err = posix.MqOpen(name, flags|unix.O_CREAT|unix.O_EXCL, uint32(cfg.perm), attr)
		if err == nil {
			// The umask has narrowed the mode; set exactly what was asked.
			if err := unix.Fchmod(fd, uint32(cfg.perm)); err != nil {
				unix.Close(fd)
				posix.MqUnlink(name)
				return -1, false, nil, err
			}
			return fd, true, attr, nil
		}
		if err != syscall.EEXIST || cfg.has(optExclusive) {
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
func (q *Queue[T]) checkShape(cfg *config) error {
	if (cfg.has(optCapacity) && cfg.capacity != q.capacity) || (cfg.has(optMsgSize) && cfg.msgSize != q.msgSize) {
		return &Error{Kind: "queue", Name: q.name, Op: "open", Err: ErrExist, Detail: fmt.Sprintf(
			"it exists with Capacity %d and MsgSize %d, not the %s asked for; open it without Capacity/MsgSize, or remove it first (ipcchan.UnlinkQueue(%q))",
			q.capacity, q.msgSize, askedShape(cfg), q.name)}
	}
	if q.w.kind == payloadTyped && q.msgSize <= headerSize {
		return &Error{Kind: "queue", Name: q.name, Op: "open", Err: ErrInvalid, Detail: fmt.Sprintf(
			"its MsgSize %d leaves no room for typed messages (%d-byte header plus the value); use Queue[[]byte], or recreate it larger", q.msgSize, headerSize)}
	}
	return nil
}

// queueShape is the capacity and message size a created queue gets: the
// options, or else the machine's defaults, read once per process: reading
// /proc each time cost more than creating the queue. (A default changed
// while the process runs is seen by the next process.)
func (c *config) queueShape() (capacity, size int) {
	capacity, size = c.capacity, c.msgSize
	if !c.has(optCapacity) || !c.has(optMsgSize) {
		d := queueDefaults()
		if !c.has(optCapacity) {
			capacity = d.capacity
		}
		if !c.has(optMsgSize) {
			size = d.size
		}
	}
	return capacity, size
}

var queueDefaults = sync.OnceValue(func() struct{ capacity, size int } {
	return struct{ capacity, size int }{posix.ReadSysctl("msg_default", 10), posix.ReadSysctl("msgsize_default", 8192)}
})

func askedShape(cfg *config) string {
	switch {
	case cfg.has(optCapacity) && cfg.has(optMsgSize):
		return fmt.Sprintf("Capacity %d and MsgSize %d", cfg.capacity, cfg.msgSize)
	case cfg.has(optCapacity):
		return fmt.Sprintf("Capacity %d", cfg.capacity)
	}
	return fmt.Sprintf("MsgSize %d", cfg.msgSize)
}

// Name returns the queue's name, as given to OpenQueue.
func (q *Queue[T]) Name() string { return q.name }

// Fd returns the queue's descriptor (non-blocking, close-on-exec), for use
// with epoll or poll: it is readable when the queue holds a message and
// writable when it has room. It returns -1 after Close. The descriptor
// belongs to the Queue: do not close it or read from it behind its back.
func (q *Queue[T]) Fd() int {
	q.mu.RLock()
	defer q.mu.RUnlock()
	if q.fdClosed {
		return -1
	}
	return q.fd
}

// Attr returns the queue's capacity, message size and current length.
func (q *Queue[T]) Attr() (QueueAttr, error) {
	q.mu.RLock()
	defer q.mu.RUnlock()
	if q.closing.Load() {
		return QueueAttr{}, q.closedError("attr")
	}
	a, err := posix.MqGetAttr(q.fd)
	if err != nil {
		return QueueAttr{}, q.sysError("attr", err)
	}
	return QueueAttr{Capacity: int(a.MaxMsg), MsgSize: int(a.MsgSize), Len: int(a.CurMsgs)}, nil
}

// Close closes this process's handle to the queue; the queue and its
// messages stay until Unlink. Every goroutine blocked in Send or Receive
// returns ErrClosed, and a Recv channel is closed. A message that Recv had
// read from the kernel but not yet delivered is put back into the queue,
// at its priority (behind the messages of that priority already there); if
// the queue stays full for a second, Close returns it in a *MessageError
// (Value holds it) rather than drop it. Calling Close twice is harmless.
func (q *Queue[T]) Close() error {
	q.closeOnce.Do(func() {
		q.closing.Store(true)
		close(q.done)
		q.wait.Close()
		if s := q.stream.Load(); s != nil {
			<-s.exited
			q.closeErr = s.putBackErr
		}
		q.mu.Lock()
		q.fdClosed = true
		err := unix.Close(q.fd)
		q.mu.Unlock()
		if err != nil && q.closeErr == nil {
			q.closeErr = q.sysError("close", err)
		}
	})
	return q.closeErr
}

// Unlink removes the queue's name. Handles already open keep working;
// the queue disappears when the last one is closed.
func (q *Queue[T]) Unlink() error { return UnlinkQueue(q.name) }

// UnlinkQueue removes the message queue name.
func UnlinkQueue(name string) error {
	if err := posix.CheckName(name, posix.NameMax); err != nil {
		return nameError("queue", name, "unlink", err)
	}
	err := posix.MqUnlink(name)
	switch err {
	case nil:
		return nil
	case syscall.ENOENT:
		return &Error{Kind: "queue", Name: name, Op: "unlink", Err: ErrNotExist, Sys: err}
	case syscall.EACCES, syscall.EPERM:
		return &Error{Kind: "queue", Name: name, Op: "unlink", Err: ErrPermission, Sys: err,
			Detail: "permission denied: only the queue's owner (or root) can remove it"}
	}
	return &Error{Kind: "queue", Name: name, Op: "unlink", Sys: err}
}

func nameError(kind, name, op string, err error) error {
	var ne *posix.NameError
	if errors.As(err, &ne) {
		return &Error{Kind: kind, Name: name, Op: op, Err: ErrInvalidName, Detail: "invalid name: " + ne.Reason}
	}
	return &Error{Kind: kind, Name: name, Op: op, Err: ErrInvalidName, Sys: err}
}
