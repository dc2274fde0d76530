// Command waitload puts many goroutines to wait on ipcchan's objects and
// reports how many OS threads the process used meanwhile, for the tests
// of the bound on threads (ipcchan/threads_test.go): a waiting goroutine
// must cost what a goroutine blocked on a channel costs, whatever their
// number. It is built without the race detector, which allows no more
// than 8128 goroutines.
//
//	waitload sem NAME N          N goroutines Acquire the existing semaphore NAME
//	waitload rings PREFIX N      creates rings PREFIX0..PREFIX(N-1), a goroutine Receives on each
//	waitload watch PREFIX N      creates the same rings and watches them all from one loop
//	waitload send PREFIX N       sends one message to each of those rings
//
// Each prints "ready base=B gomaxprocs=P" once its goroutines are started
// (B: the threads of the process before), then, once every goroutine got
// what it waited for, "done max=M wakes=W" (M: the most threads the
// process had meanwhile; W: how many parked goroutines were woken).
package main

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ipcchan/ipcchan/internal/futex"
	"github.com/ipcchan/ipcchan/ipcchan"
	"github.com/ipcchan/ipcchan/loop"
)

func main() {
	if len(os.Args) != 4 {
		fmt.Fprintln(os.Stderr, "usage: waitload sem|rings|watch|send NAME N")
		os.Exit(2)
	}
	n, err := strconv.Atoi(os.Args[3])
	if err != nil {
		fmt.Fprintln(os.Stderr, "waitload:", err)
		os.Exit(2)
	}
	modes := map[string]func(string, int) error{"sem": semaphore, "rings": rings, "watch": watch, "send": send}
	run, ok := modes[os.Args[1]]
	if !ok {
		fmt.Fprintf(os.Stderr, "waitload: unknown mode %q\n", os.Args[1])
		os.Exit(2)
	}
	if err := run(os.Args[2], n); err != nil {
		fmt.Fprintln(os.Stderr, "waitload:", err)
		os.Exit(1)
	}
}

// threads returns the number of threads of the process.
func threads() int {
	b, _ := os.ReadFile("/proc/self/status")
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "Threads:"); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(v))
			return n
		}
	}
	return -1
}

// A meter samples the threads of the process until stopped.
type meter struct {
	max  atomic.Int64
	stop chan struct{}
	done sync.WaitGroup
}

func startMeter() *meter {
	m := &meter{stop: make(chan struct{})}
	m.max.Store(int64(threads()))
	m.done.Add(1)
	go func() {
		defer m.done.Done()
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-m.stop:
				return
			case <-t.C:
				if n := int64(threads()); n > m.max.Load() {
					m.max.Store(n)
				}
			}
		}
	}()
	return m
}

func (m *meter) end() int64 {
	close(m.stop)
	m.done.Wait()
	return max(m.max.Load(), int64(threads()))
}

// waitAll runs n waits, says "ready" once they are started, and reports
// when every one has returned.
func waitAll(n int, each func(i int) error) error {
	base := threads()
	m := startMeter()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := each(i); err != nil {
				errs <- err
			}
		}()
	}
	fmt.Printf("ready base=%d gomaxprocs=%d\n", base, runtime.GOMAXPROCS(0))
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	fmt.Printf("done max=%d wakes=%d\n", m.end(), futex.Wakes())
	return nil
}

const patience = 5 * time.Minute

func semaphore(name string, n int) error {
	s, err := ipcchan.OpenSemaphore(name)
	if err != nil {
		return err
	}
	defer s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	return waitAll(n, func(int) error { return s.Acquire(ctx) })
}

// openRings opens (with create, creates) the rings of prefix.
func openRings(prefix string, n int, create bool) ([]*ipcchan.Ring[uint64], error) {
	var opts []ipcchan.Option
	if create {
		opts = append(opts, ipcchan.Create(), ipcchan.Exclusive(), ipcchan.Capacity(1))
	}
	rs := make([]*ipcchan.Ring[uint64], n)
	for i := range rs {
		r, err := ipcchan.OpenRing[uint64](prefix+strconv.Itoa(i), opts...)
		if err != nil {
			return nil, err
		}
		rs[i] = r
	}
	return rs, nil
}

func rings(prefix string, n int) error {
	rs, err := openRings(prefix, n, true)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	return waitAll(n, func(i int) error {
		v, err := rs[i].Receive(ctx)
		if err == nil && v != uint64(i) {
			err = fmt.Errorf("ring %d received %d", i, v)
		}
		return err
	})
}

func watch(prefix string, n int) error {
	rs, err := openRings(prefix, n, true)
	if err != nil {
		return err
	}
	l, err := loop.New()
	if err != nil {
		return err
	}
	defer l.Close()
	base := threads()
	m := startMeter()
	got := 0
	for i, r := range rs {
		if _, err := r.Watch(l, loop.Readable, func(loop.Events) {
			for {
				v, err := r.TryReceive()
				if err != nil {
					return
				}
				if v != uint64(i) {
					fmt.Fprintf(os.Stderr, "waitload: ring %d received %d\n", i, v)
					os.Exit(1)
				}
				if got++; got == n {
					l.Stop()
				}
			}
		}); err != nil {
			return err
		}
	}
	fmt.Printf("ready base=%d gomaxprocs=%d\n", base, runtime.GOMAXPROCS(0))
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	if err := l.Run(ctx); err != nil {
		return fmt.Errorf("%d of %d received: %w", got, n, err)
	}
	fmt.Printf("done max=%d wakes=%d\n", m.end(), futex.Wakes())
	return nil
}

func send(prefix string, n int) error {
	rs, err := openRings(prefix, n, false)
	if err != nil {
		return err
	}
	for i, r := range rs {
		if err := r.Send(context.Background(), uint64(i)); err != nil {
			return err
		}
		r.Close()
	}
	return nil
}
