package ipcchan

import (
	"sync"

	"golang.org/x/sys/unix"

	"github.com/ipcchan/ipcchan/loop"
)

// Watch runs cb on l's goroutine when the queue is ready for ev: with
// loop.Readable, when a receive would not wait (a message is there); with
// loop.Writable, when a send would not wait (there is room); with both,
// when either is so, cb getting which. It is a descriptor added with l.Add:
// level-triggered, cb runs again while the queue stays ready after it
// returns, so a callback takes what it wants with TryReceive (or TrySend)
// until ErrEmpty (ErrFull). The loop watches a duplicate of the queue's
// descriptor, so that l may be any loop, loop.Default among them, and Fd
// stays the caller's for raw epoll. stop ends the watch; so does Close.
//
// Watch is the way every object joins a loop: Ring, Semaphore and
// WaitGroup have it too, with the same callback.
func (q *Queue[T]) Watch(l *loop.Loop, ev loop.Events, cb func(loop.Events)) (stop func(), err error) {
	if ev&^(loop.Readable|loop.Writable) != 0 || ev == 0 || l == nil || cb == nil {
		return nil, q.obj.Err("watch", ErrInvalid, "watch a queue on a loop, with a callback, for loop.Readable, loop.Writable or both")
	}
	var dup int
	if err := q.fd.Do(func(fd int) (err error) {
		dup, err = unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
		return err
	}); err != nil {
		return nil, q.err("watch", err, "")
	}
	w := &queueWatch{l: l, fd: dup}
	if err := l.Add(dup, ev, func(got loop.Events) {
		if !w.stopped() {
			cb(got)
		}
	}); err != nil {
		unix.Close(dup)
		return nil, q.obj.Fail("watch", nil, err, "")
	}
	q.watchMu.Lock()
	if q.watches == nil {
		q.watches = map[*queueWatch]struct{}{}
	}
	q.watches[w] = struct{}{}
	q.watchMu.Unlock()
	return func() {
		q.watchMu.Lock()
		delete(q.watches, w)
		q.watchMu.Unlock()
		w.stop()
	}, nil
}

// A queueWatch is one Watch of a queue: the duplicate descriptor l
// watches.
type queueWatch struct {
	l    *loop.Loop
	fd   int
	mu   sync.Mutex
	done bool
}

func (w *queueWatch) stopped() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.done
}

// stop removes the descriptor from the loop and closes it, once.
func (w *queueWatch) stop() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.done {
		return
	}
	w.done = true
	w.l.Remove(w.fd)
	unix.Close(w.fd)
}

// stopWatches ends every watch of the queue, at Close.
func (q *Queue[T]) stopWatches() {
	q.watchMu.Lock()
	ws := q.watches
	q.watches = nil
	q.watchMu.Unlock()
	for w := range ws {
		w.stop()
	}
}
