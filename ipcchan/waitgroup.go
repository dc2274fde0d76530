package ipcchan

import (
	"context"
	"fmt"
	"math"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/ipcchan/ipcchan/internal/futex"
	"github.com/ipcchan/ipcchan/internal/ipcerr"
	"github.com/ipcchan/ipcchan/internal/objfmt"
	"github.com/ipcchan/ipcchan/internal/options"
	"github.com/ipcchan/ipcchan/loop"
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
	core
	count *int32
	sleep *uint32
}

// OpenWaitGroup opens the wait group name ("/batch"). It takes the options
// Create, Exclusive and Perm; a new group counts zero.
func OpenWaitGroup(name string, opts ...Option) (*WaitGroup, error) {
	obj := ipcerr.Object{Kind: "waitgroup", Name: name}
	cfg, err := options.Apply(obj, options.Create|options.Exclusive|options.Perm, opts)
	if err != nil {
		return nil, err
	}
	spec := objSpec{kind: objfmt.WaitGroup, size: objfmt.WaitGroupPayload, align: 4, typeName: "ipcchan.WaitGroup"}
	mem, _, err := openObject(obj, cfg, spec, func([]byte) {})
	if err != nil {
		return nil, err
	}
	wg := &WaitGroup{core: core{obj: obj}}
	wg.count, wg.sleep = objfmt.WaitGroupWords(objfmt.Payload(mem))
	attach(wg, &wg.m, mem, addUser(mem))
	return wg, nil
}

// Name returns the wait group's name.
func (wg *WaitGroup) Name() string { return wg.obj.Name }

// Add adds n (which may be negative) to the count. If the count would go
// below zero, or beyond 2147483647, it is left as it was and Add returns
// ErrInvalid. When the count reaches zero, every Wait returns.
func (wg *WaitGroup) Add(n int) error {
	if wg.closed() {
		return wg.closedErr("add")
	}
	for {
		c := atomic.LoadInt32(wg.count)
		next := int64(c) + int64(n)
		if next < 0 || next > math.MaxInt32 {
			return wg.obj.Err("add", ErrInvalid, fmt.Sprintf(
				"adding %d to the count %d would make it %d; it must stay between 0 and %d (a Done too many?)", n, c, next, math.MaxInt32))
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
	if wg.closed() {
		return 0, wg.closedErr("count")
	}
	return int(atomic.LoadInt32(wg.count)), nil
}

// Wait waits until the count is zero, ctx is done, or the handle is closed.
func (wg *WaitGroup) Wait(ctx context.Context) error {
	if wg.closed() {
		return wg.closedErr("wait")
	}
	return wg.waitZero(ctx, "wait", wg.waiters.Wait)
}

// waitZero waits, with sleep (the Set's Wait or Park), until the count is
// zero, for op.
func (wg *WaitGroup) waitZero(ctx context.Context, op string, sleep func(context.Context, *uint32, uint32, int, time.Duration) uint32) error {
	if atomic.LoadInt32(wg.count) == 0 {
		return nil
	}
	atomic.AddUint32(wg.sleep, 1) // so that the Add that reaches zero wakes the sleepers
	// A closure, not the call's arguments: it keeps wg, and so the memory
	// the pointer is into, alive until it runs (a closed handle is
	// unmapped once it is garbage).
	defer func() { atomic.AddUint32(wg.sleep, ^uint32(0)) }()
	for {
		c := atomic.LoadInt32(wg.count)
		if c == 0 {
			return nil
		}
		switch sleep(ctx, (*uint32)(unsafe.Pointer(wg.count)), uint32(c), -1, 0) {
		case futex.ByContext:
			return wg.obj.Err(op, context.Cause(ctx), fmt.Sprintf("%v while the count was %d", context.Cause(ctx), atomic.LoadInt32(wg.count)))
		case futex.ByClose:
			return wg.closedErr(op)
		}
	}
}

// Watch runs cb on l's goroutine when the count is zero, so that a Wait
// would not wait, for ev = loop.Readable (the only event a wait group
// has). As for a descriptor added with l.Add, it is level-triggered: cb
// runs again while the count stays zero after it returns. A watch costs a
// goroutine but no thread: it waits parked, as a sleeper of the group, so
// that the Add that reaches zero (in any process) wakes it. stop ends the
// watch; so do Close and l's end.
func (wg *WaitGroup) Watch(l *loop.Loop, ev loop.Events, cb func(loop.Events)) (stop func(), err error) {
	if ev != loop.Readable {
		return nil, wg.obj.Err("watch", ErrInvalid, "a wait group is watched for loop.Readable: its count at zero")
	}
	return wg.watch(l, ev, cb, func(ctx context.Context) error { return wg.waitZero(ctx, "watch", wg.waiters.Park) })
}

// Close releases this process's handle; goroutines blocked in Wait return
// ErrClosed, and watches end. Calling Close twice is harmless.
func (wg *WaitGroup) Close() error {
	wg.close()
	return nil
}

// Unlink removes the wait group's name; handles already open keep working.
func (wg *WaitGroup) Unlink() error { return UnlinkWaitGroup(wg.obj.Name) }

// UnlinkWaitGroup removes the wait group name.
func UnlinkWaitGroup(name string) error { return unlinkObject("waitgroup", name) }
