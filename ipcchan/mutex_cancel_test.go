package ipcchan_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ipcchan/ipcchan/internal/testutil"
	"github.com/ipcchan/ipcchan/ipcchan"
)

// TestMutexCancelPassesWakeOn: a waiter whose context ends just as Unlock
// wakes it passes the wake-up on, so that another waiter does not sleep on
// beside a free mutex. Each round, waiter A sleeps first (the one an Unlock
// wakes), then B; A is cancelled as the holder unlocks; B must get the
// lock.
func TestMutexCancelPassesWakeOn(t *testing.T) {
	forEachWait(t, func(t *testing.T) {
		name := mutexName(t)
		m, err := ipcchan.OpenMutex(name, ipcchan.Create())
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		for round := range 200 {
			m.Lock()
			ctxA, cancelA := context.WithCancel(t.Context())
			a := make(chan error, 1)
			go func() { a <- lockA(ctxA, m) }()
			testutil.WaitBlocked(t, "lockA", 1)
			b := make(chan error, 1)
			go func() {
				ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
				defer cancel()
				b <- lockB(ctx, m)
			}()
			testutil.WaitBlocked(t, "lockB", 1)
			go cancelA()
			m.Unlock()
			if err := <-a; err == nil {
				m.Unlock() // A got it before its cancellation
			} else if !errors.Is(err, context.Canceled) {
				t.Fatalf("round %d: A: %v", round, err)
			}
			if err := <-b; err != nil {
				t.Fatalf("round %d: B never got the free mutex: %v", round, err)
			}
			m.Unlock()
		}
	})
}

func lockA(ctx context.Context, m *ipcchan.Mutex) error { return m.LockContext(ctx) }
func lockB(ctx context.Context, m *ipcchan.Mutex) error { return m.LockContext(ctx) }
