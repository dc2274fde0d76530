package main

import (
	"os"

	"github.com/ipcchan/ipcchan/internal/budget"
)

// wakeScenarios measure the wake-up of a waiter that has no thread of its
// own: a semaphore's goroutine parked on the shared futex waiter, against
// a queue's goroutine waiting on the reactor, both after their slice in
// the kernel (see table.go).
var wakeScenarios = []scenario{{
	name: "a waiter woken without a thread of its own, one-way", unit: "one-way trip",
	impls: []impl{
		{name: "ipcchan Semaphore, parked on the shared waiter", ipcchan: true, ops: 4000, run: withoutThread(oneWay(semPingPong))},
		{name: "ipcchan Queue[[]byte], on the reactor", ops: 4000, run: withoutThread(queuePingPong64)},
		{name: "ipcchan Semaphore, in the kernel (its slice)", ops: 4000, run: oneWay(semPingPong)},
	},
}}

// noSliceEnv, set, makes this process and its peers wait without a
// thread of their own at once: no slice in the kernel (budget 0).
const noSliceEnv = "IPCBENCH_NO_SLICE"

// withoutThread is m with every wait of this process and its peers
// without a thread of its own.
func withoutThread(m measurement) measurement {
	return func(b *bench, n int) (float64, error) {
		defer budget.Set(0)()
		os.Setenv(noSliceEnv, "1")
		defer os.Unsetenv(noSliceEnv)
		return m(b, n)
	}
}
