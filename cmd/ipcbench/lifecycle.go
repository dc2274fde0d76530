package main

import (
	"time"

	"github.com/ipcchan/ipcchan/ipcchan"
)

// lifecycleScenarios are the creation, closing and removal of an object,
// ipcchan's against C's (see table.go).
var lifecycleScenarios = []scenario{
	lifecycle("queue", "queue", cycleQueue),
	lifecycle("semaphore", "sem", cycleSemaphore),
	lifecycle("shm (4 KiB)", "shm", cycleShm),
}

// lifecycle is the scenario of one kind of object: cKind is its name for
// bench.c's open-close, cycle creates, closes and removes it once.
func lifecycle(kind, cKind string, cycle func(name string) error) scenario {
	return scenario{
		name: "create + close + unlink: " + kind, unit: "object",
		impls: []impl{
			{name: "ipcchan", ipcchan: true, ops: 1000, run: cycles(cycle)},
			{name: "C", ops: 1000, run: inC("open-close " + cKind + " %d")},
		},
	}
}

// cycles times cycle, n times on the same name.
func cycles(cycle func(name string) error) measurement {
	return func(b *bench, n int) (float64, error) {
		name := b.name("oc")
		start := time.Now()
		for range n {
			if err := cycle(name); err != nil {
				return 0, err
			}
		}
		return nsPer(start, n), nil
	}
}

func cycleQueue(name string) error {
	q, err := ipcchan.OpenQueue[[]byte](name, ipcchan.Create(), ipcchan.Exclusive(), ipcchan.MsgSize(8192))
	if err != nil {
		return err
	}
	q.Close()
	return ipcchan.UnlinkQueue(name)
}

func cycleSemaphore(name string) error {
	s, err := ipcchan.OpenSemaphore(name, ipcchan.Create(), ipcchan.Exclusive())
	if err != nil {
		return err
	}
	s.Close()
	return ipcchan.UnlinkSemaphore(name)
}

func cycleShm(name string) error {
	s, err := ipcchan.OpenShmSlice[byte](name, 4096-192, ipcchan.Create(), ipcchan.Exclusive())
	if err != nil {
		return err
	}
	s.Slice()[0] = 1
	s.Close()
	return ipcchan.UnlinkShm(name)
}
