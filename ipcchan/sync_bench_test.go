package ipcchan_test

import (
	"context"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/ipcchan/ipcchan/internal/testutil"
	"github.com/ipcchan/ipcchan/ipcchan"
)

// BenchmarkSemaphorePingPong: two processes pass a token back and forth
// through two semaphores; ns/op is one round trip. "c" is the same with
// glibc's sem_post/sem_wait in C, "c-futex" with bare futexes in C,
// measured by the C program itself in this run.
func BenchmarkSemaphorePingPong(b *testing.B) {
	b.Run("ipcchan", func(b *testing.B) {
		an, bn := semName(b), semName(b)
		a := openSem(b, an, ipcchan.Create())
		back := openSem(b, bn, ipcchan.Create())
		cmd := helperCmd(b, "sem-echo", an, bn, strconv.Itoa(b.N+1))
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		ctx := context.Background()
		a.Release() // warm-up: the helper runs once it answers
		back.Acquire(ctx)
		b.ResetTimer()
		for range b.N {
			a.Release()
			if err := back.Acquire(ctx); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		if err := cmd.Wait(); err != nil {
			b.Fatal(err)
		}
	})
	b.Run("c", func(b *testing.B) {
		peer := testutil.BuildC(b, "sempeer")
		an, bn := semName(b), semName(b)
		openSem(b, an, ipcchan.Create())
		openSem(b, bn, ipcchan.Create())
		reportC(b, exec.Command(peer, "pingpong", an, bn, strconv.Itoa(b.N)))
	})
	b.Run("c-futex", func(b *testing.B) {
		peer := testutil.BuildC(b, "sempeer")
		reportC(b, exec.Command(peer, "futexpingpong", strconv.Itoa(b.N)))
	})
}

// reportC runs a C benchmark that prints its own ns per operation.
func reportC(b *testing.B, cmd *exec.Cmd) {
	out, err := cmd.Output()
	if err != nil {
		b.Fatalf("%v: %v", cmd.Args, err)
	}
	ns, err := strconv.ParseFloat(strings.TrimSpace(string(out)), 64)
	if err != nil {
		b.Fatalf("%v printed %q", cmd.Args, out)
	}
	b.ReportMetric(ns, "ns/op")
}

func BenchmarkMutexUncontended(b *testing.B) {
	b.Run("ipcchan", func(b *testing.B) {
		m := openMutex(b, mutexName(b), ipcchan.Create())
		for range b.N {
			m.Lock()
			m.Unlock() //lint:ignore SA2001 the lock itself is measured
		}
	})
	b.Run("sync.Mutex", func(b *testing.B) {
		var m sync.Mutex
		for range b.N {
			m.Lock()
			m.Unlock() //lint:ignore SA2001 the lock itself is measured
		}
	})
}

func BenchmarkSemaphoreTryAcquire(b *testing.B) {
	s := openSem(b, semName(b), ipcchan.Create(), ipcchan.Value(1<<31-1))
	for range b.N {
		if !s.TryAcquire() {
			b.Fatal("TryAcquire failed")
		}
	}
}

func BenchmarkSemaphoreReleaseAcquire(b *testing.B) {
	s := openSem(b, semName(b), ipcchan.Create())
	ctx := context.Background()
	for range b.N {
		s.Release()
		s.Acquire(ctx)
	}
}
