package ipcchan

import (
	"context"
	"fmt"
	"math"
	"sync/atomic"
	"unsafe"

	"github.com/ipcchan/ipcchan/internal/futex"
	"github.com/ipcchan/ipcchan/internal/ipcerr"
	"github.com/ipcchan/ipcchan/internal/objfmt"
	"github.com/ipcchan/ipcchan/internal/options"
)

// A WaitGroup is a counter shared by processes, like sync.WaitGroup: a
// dispatcher Adds, workers in other processes call Done, and Wait returns
// when the count is zero. Unlike sync.WaitGroup, a count that would go
// below zero is an error returned to the caller, not a panic, since the
// mistake may be another process's. Its methods are safe for concurrent
// use.
//
// It lives in an ipcchan object, /dev/shm/ipcchan.wg.NAME: after the
// 192-byte header, the count (int32, also the futex word Wait sleeps on)
// and the number of sleeping waiters, so that Done makes a system call
// only when someone waits (package objfmt has the layout).
type WaitGroup struct {
	name    string
	m       mapping
	count   *int32
	sleep   *uint32
	waiters futex.Set
}

// OpenWaitGroup opens the wait group name ("/batch"). It takes the options
// Create, Exclusive and Perm; a new group counts zero.
func OpenWaitGroup(name string, opts ...Option) (*WaitGroup, error) {
	cfg, err := options.Apply(ipcerr.Object{Kind: "waitgroup", Name: name}, options.Create|options.Exclusive|options.Perm, opts)
	if err != nil {
		return nil, err
	}
	path, err := objPath("waitgroup", "open", name, objfmt.WaitGroup.Prefix())
	if err != nil {
		return nil, err
	}
	spec := objSpec{kind: objfmt.WaitGroup, size: objfmt.WaitGroupPayload, align: 4, typeName: "ipcchan.WaitGroup"}
	mem, _, err := openObject("waitgroup", name, path, cfg, spec, func([]byte) {})
	if err != nil {
		return nil, err
	}
	wg := &WaitGroup{name: name}
	wg.count, wg.sleep = objfmt.WaitGroupWords(objfmt.Payload(mem))
	attach(wg, &wg.m, mem, addUser(mem))
	return wg, nil
}

// Name returns the wait group's name.
func (wg *WaitGroup) Name() string { return wg.name }

// Add adds n (which may be negative) to the count. If the count would go
// below zero, or beyond 2147483647, it is left as it was and Add returns
// ErrInvalid. When the count reaches zero, every Wait returns.
func (wg *WaitGroup) Add(n int) error {
	if wg.m.closed() {
		return wg.closedError("add")
	}
	for {
		c := atomic.LoadInt32(wg.count)
		next := int64(c) + int64(n)
		if next < 0 || next > math.MaxInt32 {
			return &Error{Kind: "waitgroup", Name: wg.name, Op: "add", Err: ErrInvalid, Detail: fmt.Sprintf(
				"adding %d to the count %d would make it %d; it must stay between 0 and %d (a Done too many?)", n, c, next, math.MaxInt32)}
		}
		if atomic.CompareAndSwapInt32(wg.count, c, int32(next)) {
			if next == 0 && n != 0 && atomic.LoadUint32(wg.sleep) > 0 {
				futex.Wake((*uint32)(unsafe.Pointer(wg.count)), futex.WakeAll)
			}
			return nil
		}
	}
}

// Done subtracts one from the count.
func (wg *WaitGroup) Done() error { return wg.Add(-1) }

// Count returns the count.
func (wg *WaitGroup) Count() (int, error) {
	if wg.m.closed() {
		return 0, wg.closedError("count")
	}
	return int(atomic.LoadInt32(wg.count)), nil
}

// Wait waits until the count is zero, ctx is done, or the handle is closed.
func (wg *WaitGroup) Wait(ctx context.Context) error {
	if wg.m.closed() {
		return wg.closedError("wait")
	}
	if atomic.LoadInt32(wg.count) == 0 {
		return nil
	}
	atomic.AddUint32(wg.sleep, 1)
	defer atomic.AddUint32(wg.sleep, ^uint32(0))
	for {
		c := atomic.LoadInt32(wg.count)
		if c == 0 {
			return nil
		}
		switch wg.waiters.Wait(ctx, (*uint32)(unsafe.Pointer(wg.count)), uint32(c), -1, 0) {
		case futex.ByContext:
			return &Error{Kind: "waitgroup", Name: wg.name, Op: "wait", Err: context.Cause(ctx),
				Detail: fmt.Sprintf("%v while the count was %d", context.Cause(ctx), atomic.LoadInt32(wg.count))}
		case futex.ByClose:
			return wg.closedError("wait")
		}
	}
}

// Close releases this process's handle; goroutines blocked in Wait return
// ErrClosed. Calling Close twice is harmless.
func (wg *WaitGroup) Close() error {
	if wg.m.close() {
		wg.waiters.Close()
	}
	return nil
}

// Unlink removes the wait group's name; handles already open keep working.
func (wg *WaitGroup) Unlink() error { return UnlinkWaitGroup(wg.name) }

// UnlinkWaitGroup removes the wait group name.
func UnlinkWaitGroup(name string) error {
	return unlinkObject("waitgroup", name, objfmt.WaitGroup.Prefix())
}

func (wg *WaitGroup) closedError(op string) error {
	return &Error{Kind: "waitgroup", Name: wg.name, Op: op, Err: ErrClosed, Detail: "the wait group handle is closed"}
}
