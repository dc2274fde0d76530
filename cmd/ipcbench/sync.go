package main

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/ipcchan/ipcchan/ipcchan"
)

// syncScenarios are ipcchan's Semaphore and Mutex against glibc's, raw
// futexes and package sync (see table.go).
var syncScenarios = []scenario{{
	name: "semaphore ping-pong, round trip", unit: "round trip",
	impls: []impl{
		{name: "ipcchan Semaphore", ipcchan: true, ops: 4000, run: semPingPong},
		{name: "C, glibc sem_post/sem_wait", ops: 4000, run: inC("sem-pingpong %d")},
		{name: "C, raw futex", ops: 4000, run: inC("futex-pingpong %d")},
	},
}, {
	name: "mutex lock+unlock, uncontended", unit: "lock+unlock",
	impls: []impl{
		{name: "ipcchan Mutex", ipcchan: true, ops: 2000000, run: mutexUncontended},
		{name: "sync.Mutex, one process", ops: 2000000, run: syncMutexUncontended},
		{name: "C, robust pthread mutex in shm", ops: 2000000, run: inC("mutex-uncontended %d")},
	},
}, {
	name: "mutex lock+unlock, 2 processes contending", unit: "lock+unlock",
	impls: []impl{
		{name: "ipcchan Mutex", ipcchan: true, ops: 200000, run: mutexContended},
		{name: "sync.Mutex, 2 goroutines", ops: 200000, run: syncMutexContended},
		{name: "C, robust pthread mutex, 2 processes", ops: 200000, run: inC("mutex-contended %d")},
	},
}}

// semPingPong releases a semaphore that a peer acquires, which releases
// another that this process acquires: a round trip.
func semPingPong(b *bench, n int) (float64, error) {
	a, doneA, err := create(b, "sa", ipcchan.OpenSemaphore, ipcchan.UnlinkSemaphore)
	if err != nil {
		return 0, err
	}
	defer doneA()
	back, doneBack, err := create(b, "sb", ipcchan.OpenSemaphore, ipcchan.UnlinkSemaphore)
	if err != nil {
		return 0, err
	}
	defer doneBack()
	cmd, err := b.start("sem-echo", a.Name(), back.Name(), strconv.Itoa(n))
	if err != nil {
		return 0, err
	}
	ns, err := roundTrips(n, func() error {
		a.Release()
		return back.Acquire(ctx)
	})
	if err != nil {
		return 0, err
	}
	return ns, cmd.Wait()
}

// semEcho is the role A B N: Acquire A, Release B, N+1 times.
func semEcho(args peerArgs) error {
	a, err := ipcchan.OpenSemaphore(args[0])
	if err != nil {
		return err
	}
	b, err := ipcchan.OpenSemaphore(args[1])
	if err != nil {
		return err
	}
	for range args.int(2) + 1 {
		if err := a.Acquire(ctx); err != nil {
			return err
		}
		b.Release()
	}
	return nil
}

func mutexUncontended(b *bench, n int) (float64, error) {
	m, done, err := create(b, "mu", ipcchan.OpenMutex, ipcchan.UnlinkMutex)
	if err != nil {
		return 0, err
	}
	defer done()
	start := time.Now()
	for range n {
		m.Lock()
		m.Unlock() //lint:ignore SA2001 the lock itself is measured
	}
	return nsPer(start, n), nil
}

func syncMutexUncontended(_ *bench, n int) (float64, error) {
	var m sync.Mutex
	start := time.Now()
	for range n {
		m.Lock()
		m.Unlock() //lint:ignore SA2001 the lock itself is measured
	}
	return nsPer(start, n), nil
}

// mutexContended has a peer lock and unlock the mutex as often as this
// process, at the same time.
func mutexContended(b *bench, n int) (float64, error) {
	m, done, err := create(b, "mc", ipcchan.OpenMutex, ipcchan.UnlinkMutex)
	if err != nil {
		return 0, err
	}
	defer done()
	cmd := b.peer("mutex-contend", m.Name(), strconv.Itoa(n))
	stdin, _ := cmd.StdinPipe()
	if _, err := startReady(cmd); err != nil {
		return 0, err
	}
	start := time.Now()
	stdin.Write([]byte("go\n"))
	for range n {
		if err := m.LockContext(ctx); err != nil {
			return 0, err
		}
		m.Unlock()
	}
	if err := cmd.Wait(); err != nil {
		return 0, err
	}
	return nsPer(start, 2*n), nil
}

// mutexContend is the role NAME N: say "ready", wait for a line, then
// lock and unlock the mutex N times.
func mutexContend(a peerArgs) error {
	m, err := ipcchan.OpenMutex(a[0])
	if err != nil {
		return err
	}
	fmt.Println("ready")
	bufio.NewReader(os.Stdin).ReadString('\n')
	for range a.int(1) {
		if err := m.LockContext(ctx); err != nil {
			return err
		}
		m.Unlock()
	}
	return nil
}

func syncMutexContended(_ *bench, n int) (float64, error) {
	var m sync.Mutex
	var wg sync.WaitGroup
	start := time.Now()
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range n {
				m.Lock()
				m.Unlock() //lint:ignore SA2001 the lock itself is measured
			}
		}()
	}
	wg.Wait()
	return nsPer(start, 2*n), nil
}
