package ipcchan_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ipcchan/ipcchan/internal/budget"
	"github.com/ipcchan/ipcchan/ipcchan"
)

// stressEnv sets how long TestWaitStress runs ("10m" by hand; 2 s in CI).
const stressEnv = "IPCCHAN_STRESS"

// stressNames are the objects of a stress run.
type stressNames struct {
	Sems, Mutexes, Counters, Rings []string
	WaitGroup                      string
	End                            time.Time // the same for every process: see stress's final releases
	Parked                         bool      // this process's waits park at once (no slice in the kernel)
}

// stressCounts is what one process of a stress run did, to balance.
type stressCounts struct {
	Released, Acquired []int64 // per semaphore
	Locked             []int64 // per mutex: locks taken (each added one to its counter)
	Sent, Received     []int64 // per ring
	Cancelled, Closed  int64   // waits that a context or a Close ended
}

func init() { helpers["stress"] = helperStress }

// helperStress: JSON of stressNames — runs the workload, prints its counts.
func helperStress(args []string) error {
	var n stressNames
	if err := json.Unmarshal([]byte(args[0]), &n); err != nil {
		return err
	}
	c, err := stress(n)
	if err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(c)
}

// TestWaitStress: goroutines of three processes wait on many words of
// every kind (semaphores, mutexes, rings, a wait group), in the kernel's
// slice and parked (one process parks every wait at once), while others
// post, cancel their contexts at random, and Close handles under waiters.
// Every wait that must end ends (a lost wake-up leaves a goroutine stuck
// beside a token, a message, a free mutex or a zero count, and the run
// fails), and the counts balance: the semaphores hold what was released
// and not acquired, the counters the mutexes guard hold the locks taken,
// the rings what was sent and not received.
func TestWaitStress(t *testing.T) {
	dur := 2 * time.Second
	if s := os.Getenv(stressEnv); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			t.Fatalf("%s=%q: %v", stressEnv, s, err)
		}
		dur = d
	}
	n := stressNames{End: time.Now().Add(time.Second + dur)} // a second for the helpers to start
	for range 3 {
		name := semName(t)
		openSem(t, name, ipcchan.Create())
		n.Sems = append(n.Sems, name)
	}
	for range 2 {
		m, c := mutexName(t), shmName(t)
		openMutex(t, m, ipcchan.Create())
		sh, err := ipcchan.OpenShm[int64](c, ipcchan.Create())
		if err != nil {
			t.Fatal(err)
		}
		defer sh.Close()
		n.Mutexes, n.Counters = append(n.Mutexes, m), append(n.Counters, c)
	}
	for range 2 {
		name := ringName(t)
		openRing[uint64](t, name, ipcchan.Create(), ipcchan.Capacity(4))
		n.Rings = append(n.Rings, name)
	}
	n.WaitGroup = wgName(t)
	wg, err := ipcchan.OpenWaitGroup(n.WaitGroup, ipcchan.Create())
	if err != nil {
		t.Fatal(err)
	}
	defer wg.Close()

	type result struct {
		c   stressCounts
		err error
	}
	results := make(chan result, 3)
	for i := range 2 {
		p := n
		p.Parked = i == 1
		arg, _ := json.Marshal(p)
		cmd := helperCmd(t, "stress", string(arg))
		go func() {
			out, err := cmd.Output()
			var c stressCounts
			if err == nil {
				err = json.Unmarshal(out, &c)
			}
			results <- result{c, err}
		}()
	}
	go func() {
		c, err := stress(n)
		results <- result{c, err}
	}()
	var all []stressCounts
	for range 3 {
		r := <-results
		if r.err != nil {
			t.Fatalf("a stress process: %v", r.err)
		}
		all = append(all, r.c)
	}

	var cancelled, closed, ops int64
	for i, name := range n.Sems {
		var released, acquired int64
		for _, c := range all {
			released, acquired = released+c.Released[i], acquired+c.Acquired[i]
		}
		s := openSem(t, name)
		if v, _ := s.Value(); int64(v) != released-acquired {
			t.Errorf("semaphore %s holds %d tokens; %d were released and %d acquired", name, v, released, acquired)
		}
		ops += acquired
	}
	for i, name := range n.Counters {
		var locked int64
		for _, c := range all {
			locked += c.Locked[i]
		}
		sh, err := ipcchan.OpenShm[int64](name)
		if err != nil {
			t.Fatal(err)
		}
		if got := *sh.Ptr(); got != locked {
			t.Errorf("the counter of mutex %s is %d, but the mutex was taken %d times", n.Mutexes[i], got, locked)
		}
		sh.Close()
		ops += locked
	}
	for i, name := range n.Rings {
		var sent, received int64
		for _, c := range all {
			sent, received = sent+c.Sent[i], received+c.Received[i]
		}
		r := openRing[uint64](t, name)
		if a, _ := r.Attr(); int64(a.Len) != sent-received {
			t.Errorf("ring %s holds %d messages; %d were sent and %d received", name, a.Len, sent, received)
		}
		ops += received
	}
	for _, c := range all {
		cancelled, closed = cancelled+c.Cancelled, closed+c.Closed
	}
	t.Logf("%v in 3 processes: %d waits done, %d ended by a context, %d by a Close", dur, ops, cancelled, closed)
	if ops == 0 || cancelled == 0 || closed == 0 {
		t.Errorf("the run did not exercise waits, cancellations and Closes all: %d, %d, %d", ops, cancelled, closed)
	}
}

// stress runs the workload of one process until n.End, and then waits for
// every goroutine to finish what it began: a goroutine that never does is
// stuck, and fails the run after 20 s.
func stress(n stressNames) (stressCounts, error) {
	if n.Parked {
		defer budget.Set(0)()
	}
	c := stressCounts{Released: make([]int64, len(n.Sems)), Acquired: make([]int64, len(n.Sems)),
		Locked: make([]int64, len(n.Mutexes)), Sent: make([]int64, len(n.Rings)), Received: make([]int64, len(n.Rings))}
	end := n.End
	var wg sync.WaitGroup
	var failed atomic.Value
	fail := func(err error) { failed.CompareAndSwap(nil, err) }
	run := func(workers int, work func(r *rand.Rand) error) {
		for range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
				for time.Now().Before(end) && failed.Load() == nil {
					if err := work(r); err != nil {
						fail(err)
						return
					}
				}
			}()
		}
	}
	// A wait is cancelled one time in five, within 2 ms; the others wait
	// for as long as it takes, which is bounded if no wake-up is lost.
	waitCtx := func(r *rand.Rand) (context.Context, context.CancelFunc) {
		if r.IntN(5) == 0 {
			return context.WithTimeout(context.Background(), time.Duration(r.IntN(2000))*time.Microsecond)
		}
		return context.WithCancel(context.Background())
	}
	ended := func(err error) bool { // by the context or a Close: counted, not a failure
		switch {
		case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
			atomic.AddInt64(&c.Cancelled, 1)
			return true
		case errors.Is(err, ipcchan.ErrClosed):
			atomic.AddInt64(&c.Closed, 1)
			return true
		}
		return false
	}

	// Handles shared by goroutines that a closer closes now and then under
	// their waits (the next operation opens a new one).
	var closers []func()
	// Semaphores: posters release tokens at a pace, takers acquire them,
	// waiting (or cancelled) when there are none; at the end each process
	// releases a token per taker of its own, so that every taker still
	// waiting then must get one.
	const takers = 4
	sems := make([]*sharedHandle[*ipcchan.Semaphore], len(n.Sems))
	for i, name := range n.Sems {
		sems[i] = newShared(func() (*ipcchan.Semaphore, error) { return ipcchan.OpenSemaphore(name) })
		closers = append(closers, sems[i].closeOne)
		run(2, func(r *rand.Rand) error {
			if err := sems[i].get().Release(); err != nil {
				if ended(err) {
					return nil
				}
				return err
			}
			atomic.AddInt64(&c.Released[i], 1)
			time.Sleep(time.Duration(r.IntN(300)) * time.Microsecond) // the posters' pace, not a synchronisation
			return nil
		})
		run(takers, func(r *rand.Rand) error {
			ctx, cancel := waitCtx(r)
			defer cancel()
			if err := sems[i].get().Acquire(ctx); err != nil {
				if ended(err) {
					return nil
				}
				return err
			}
			atomic.AddInt64(&c.Acquired[i], 1)
			return nil
		})
	}
	// Mutexes: each guards a counter in shared memory, incremented by a
	// read and a write, which a lapse of exclusion would lose. A holder
	// must Unlock through the handle it locked with, so each goroutine has
	// its own, never closed.
	for i, name := range n.Mutexes {
		counter, err := ipcchan.OpenShm[int64](n.Counters[i])
		if err != nil {
			return c, err
		}
		defer counter.Close()
		for range 3 {
			mu, err := ipcchan.OpenMutex(name)
			if err != nil {
				return c, err
			}
			defer mu.Close()
			run(1, func(r *rand.Rand) error {
				ctx, cancel := waitCtx(r)
				defer cancel()
				if err := mu.LockContext(ctx); err != nil {
					if ended(err) {
						return nil
					}
					return err
				}
				v := *counter.Ptr()
				*counter.Ptr() = v + 1
				atomic.AddInt64(&c.Locked[i], 1)
				mu.Unlock()
				return nil
			})
		}
	}
	// Rings: a goroutine sends one, then receives one (trying again after a
	// cancellation or a Close until it does: a receive it owes), so every
	// waiting receiver has a message of its own in the ring, and a sender
	// waits only while others owe receives.
	for i, name := range n.Rings {
		rg := newShared(func() (*ipcchan.Ring[uint64], error) { return ipcchan.OpenRing[uint64](name) })
		closers = append(closers, rg.closeOne)
		for range 3 {
			owed := false
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
				for (time.Now().Before(end) || owed) && failed.Load() == nil {
					ctx, cancel := waitCtx(r)
					h := rg.get()
					var err error
					if owed {
						if _, err = h.Receive(ctx); err == nil {
							owed = false
							atomic.AddInt64(&c.Received[i], 1)
						}
					} else if err = h.Send(ctx, r.Uint64()); err == nil {
						owed = true
						atomic.AddInt64(&c.Sent[i], 1)
					}
					cancel()
					if err != nil && !ended(err) {
						fail(err)
						return
					}
				}
			}()
		}
	}
	// The wait group: adders (each with a handle of its own: a Done must
	// follow its Add) bring the count up and down, waiters wait for zero;
	// once the adders stop, the count is zero and every waiter returns.
	for range 2 {
		g, err := ipcchan.OpenWaitGroup(n.WaitGroup)
		if err != nil {
			return c, err
		}
		defer g.Close()
		run(1, func(r *rand.Rand) error {
			if err := g.Add(1); err != nil {
				return err
			}
			return g.Done()
		})
	}
	group := newShared(func() (*ipcchan.WaitGroup, error) { return ipcchan.OpenWaitGroup(n.WaitGroup) })
	closers = append(closers, group.closeOne)
	run(3, func(r *rand.Rand) error {
		ctx, cancel := waitCtx(r)
		defer cancel()
		if err := group.get().Wait(ctx); err != nil && !ended(err) {
			return err
		}
		return nil
	})
	run(1, func(r *rand.Rand) error {
		time.Sleep(time.Duration(5+r.IntN(20)) * time.Millisecond) // the pace of the closes, not a synchronisation
		closers[r.IntN(len(closers))]()
		return nil
	})

	wg.Add(1)
	go func() {
		defer wg.Done()
		time.Sleep(time.Until(end)) // the end of the run, not a synchronisation
		for i, name := range n.Sems {
			s, err := ipcchan.OpenSemaphore(name) // a handle no closer closes
			if err != nil {
				fail(err)
				return
			}
			for range takers {
				if err := s.Release(); err != nil {
					fail(err)
				}
				atomic.AddInt64(&c.Released[i], 1)
			}
			s.Close()
		}
	}()
	finished := make(chan struct{})
	go func() { wg.Wait(); close(finished) }()
	select {
	case <-finished:
	case <-time.After(time.Until(end) + 20*time.Second):
		buf := make([]byte, 1<<20)
		os.Stderr.Write(buf[:runtime.Stack(buf, true)]) // where they wait
		return c, fmt.Errorf("goroutines still waiting 20 s after the end: a wake-up was lost (%d cancelled, %d closed so far)", atomic.LoadInt64(&c.Cancelled), atomic.LoadInt64(&c.Closed))
	}
	if err, _ := failed.Load().(error); err != nil {
		return c, err
	}
	return c, nil
}

// A sharedHandle is a handle that goroutines share, and that a closer
// closes now and then: the next get opens a new one.
type sharedHandle[H interface{ Close() error }] struct {
	mu   sync.Mutex
	h    H
	ok   bool
	open func() (H, error)
}

func newShared[H interface{ Close() error }](open func() (H, error)) *sharedHandle[H] {
	return &sharedHandle[H]{open: open}
}

func (s *sharedHandle[H]) get() H {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.ok {
		h, err := s.open()
		if err != nil {
			panic(fmt.Sprintf("stress: open: %v", err))
		}
		s.h, s.ok = h, true
	}
	return s.h
}

func (s *sharedHandle[H]) closeOne() {
	s.mu.Lock()
	h, ok := s.h, s.ok
	s.ok = false
	s.mu.Unlock()
	if ok {
		h.Close()
	}
}
