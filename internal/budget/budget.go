// Package budget counts the goroutines of the process that wait in the
// kernel on a thread of their own: a queue's call in its blocking slice
// (internal/poll), a futex object's wait in its slice (internal/futex).
// Such a wait is the fastest way to be woken (the kernel hands the
// goroutine's thread a message, or a token, the moment there is one), but
// each holds an OS thread, so at most Max of them do at once, 4 per
// GOMAXPROCS (8 at least); the others wait without a thread, on the
// reactor or the shared futex waiter.
package budget

import (
	"runtime"
	"sync/atomic"
)

var (
	max     atomic.Int32 // the most waits in the kernel at once
	waiting atomic.Int32 // waits in the kernel now
)

func init() { max.Store(int32(Default())) }

// Default is the budget of a process: 4 waits per GOMAXPROCS, 8 at least.
func Default() int { return maxInt(8, 4*runtime.GOMAXPROCS(0)) }

func maxInt(a, b int) int {
	if a > b {
		return a
	}
	return b
}

// Enter reports whether the caller may wait in the kernel on its thread
// now; if so, it must call Leave when the wait ends.
func Enter() bool {
	if waiting.Add(1) <= max.Load() {
		return true
	}
	waiting.Add(-1)
	return false
}

// Leave ends a wait that Enter allowed.
func Leave() { waiting.Add(-1) }

// Max returns the budget.
func Max() int { return int(max.Load()) }

// Set sets the budget (0: no wait in the kernel, every wait goes without a
// thread), and returns a function that restores the previous one. It is
// for tests and benchmarks.
func Set(n int) (restore func()) {
	old := max.Swap(int32(n))
	return func() { max.Store(old) }
}
