package ipcchan

import (
	"context"

	"github.com/ipcchan/ipcchan/loop"
)

// Watch runs cb on l's goroutine when the ring is ready for ev: with
// loop.Readable, when a receive would not wait (a message is there, or the
// stream has ended); with loop.Writable, when a send would not wait. As
// for a descriptor added with l.Add, it is level-triggered: cb runs again
// while the ring stays ready after it returns, so a callback takes what it
// wants with TryReceive (or TrySend) until ErrEmpty (ErrFull). stop ends
// the watch; so do Close and l's end.
//
// A ring has no descriptor for epoll, so a goroutine waits for it, parked
// on the shared futex waiter (no thread of its own), and posts cb to the
// loop: a watched ring costs a goroutine, an unwatched one nothing. Queue,
// Semaphore and WaitGroup have the same Watch.
func (r *Ring[T]) Watch(l *loop.Loop, ev loop.Events, cb func(loop.Events)) (stop func(), err error) {
	write := ev == loop.Writable
	if ev != loop.Readable && !write {
		return nil, r.obj.Err("watch", ErrInvalid, "watch a ring for loop.Readable or for loop.Writable, one of them")
	}
	return r.watch(l, ev, cb, func(ctx context.Context) error { return r.ring.WaitReady(ctx, write) })
}
