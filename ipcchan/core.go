package ipcchan

import (
	"context"

	"github.com/ipcchan/ipcchan/internal/futex"
	"github.com/ipcchan/ipcchan/internal/ipcerr"
	"github.com/ipcchan/ipcchan/loop"
)

// core is what every handle of a futex object in /dev/shm has (Semaphore,
// Mutex, WaitGroup, Ring): the object, as errors name it; its mapping;
// and the waits of its goroutines on its futex words (package futex: a
// slice in the kernel, then parked on the shared waiter, without a
// thread), which Close ends.
type core struct {
	obj     ipcerr.Object
	m       mapping
	waiters futex.Set
}

// closed reports whether Close was called.
func (c *core) closed() bool { return c.m.closed() }

// closedErr is the error of op on a closed handle.
func (c *core) closedErr(op string) error { return c.obj.Closed(op) }

// close closes the handle: its calls fail with ErrClosed from now on, and
// its waiting goroutines wake with it. Calling it twice is harmless.
func (c *core) close() {
	if c.m.close() {
		c.waiters.Close()
	}
}

// watch runs cb on l's goroutine when the object is ready; see watchReady.
func (c *core) watch(l *loop.Loop, ev loop.Events, cb func(loop.Events), waitReady func(ctx context.Context) error) (stop func(), err error) {
	return watchReady(c.obj, c.closed, l, ev, cb, waitReady)
}

// watchReady runs cb on l's goroutine when the object obj is ready
// (waitReady returns nil), as a descriptor added with l.Add
// level-triggered is: cb runs again while the object stays ready after it
// returns, and, once it is not, when it is again. waitReady must park
// while it waits (futex.Set.Park), so that a watch costs a goroutine, and
// no thread. stop ends the watch; so do closed (the handle's Close) and
// l's end.
func watchReady(obj ipcerr.Object, closed func() bool, l *loop.Loop, ev loop.Events, cb func(loop.Events), waitReady func(ctx context.Context) error) (stop func(), err error) {
	if l == nil || cb == nil {
		return nil, obj.Err("watch", ErrInvalid, "Watch needs a loop and a callback")
	}
	if closed() {
		return nil, obj.Closed("watch")
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		for waitReady(ctx) == nil {
			done := make(chan struct{})
			if !l.Post(func() {
				defer close(done)
				if ctx.Err() == nil && !closed() {
					cb(ev)
				}
			}) {
				return // the loop is closed
			}
			select {
			case <-done:
			case <-ctx.Done():
				return
			}
		}
	}()
	return cancel, nil
}
