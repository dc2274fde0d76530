package ipcchan_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ipcchan/ipcchan/internal/testutil"
	"github.com/ipcchan/ipcchan/ipcchan"
)

func semName(t testing.TB) string   { return testutil.Name(t, ipcchan.UnlinkSemaphore) }
func mutexName(t testing.TB) string { return testutil.Name(t, ipcchan.UnlinkMutex) }
func wgName(t testing.TB) string    { return testutil.Name(t, ipcchan.UnlinkWaitGroup) }

func openSem(t testing.TB, name string, opts ...ipcchan.Option) *ipcchan.Semaphore {
	t.Helper()
	s, err := ipcchan.OpenSemaphore(name, opts...)
	if err != nil {
		t.Fatalf("OpenSemaphore(%s): %v", name, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func value(t testing.TB, s *ipcchan.Semaphore) int {
	t.Helper()
	v, err := s.Value()
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// counterFile returns a /dev/shm file for mapCounters, removed after the test.
func counterFile(t testing.TB) string {
	p := filepath.Join("/dev/shm", testutil.Prefix+"counter-"+strconv.Itoa(int(time.Now().UnixNano()%1e9)))
	t.Cleanup(func() { os.Remove(p) })
	return p
}

// TestSemaphoreLayoutMatchesGlibc: the file Go makes is byte for byte the
// one glibc's sem_open makes, and each side reads the other's value.
func TestSemaphoreLayoutMatchesGlibc(t *testing.T) {
	peer := testutil.BuildC(t, "sempeer")
	goName, cName := semName(t), semName(t)
	openSem(t, goName, ipcchan.Create(), ipcchan.Value(5))
	if out, err := exec.Command(peer, "create", cName, "5").CombinedOutput(); err != nil {
		t.Fatalf("sempeer create: %v %s", err, out)
	}
	goFile, _ := os.ReadFile("/dev/shm/sem." + goName[1:])
	cFile, _ := os.ReadFile("/dev/shm/sem." + cName[1:])
	if len(goFile) != 32 || !bytes.Equal(goFile, cFile) {
		t.Fatalf("sem files differ:\nGo %x\nC  %x", goFile, cFile)
	}
	cs := openSem(t, cName)
	if v := value(t, cs); v != 5 {
		t.Errorf("Go reads the C semaphore as %d, want 5", v)
	}
	out, err := exec.Command(peer, "value", goName).Output()
	if err != nil || strings.TrimSpace(string(out)) != "5" {
		t.Errorf("C reads the Go semaphore as %q (%v), want 5", out, err)
	}
}

// TestSemaphoreWakesAcrossLanguages: a C sem_post wakes a Go Acquire that
// sleeps, and a Go Release wakes a C sem_wait that sleeps.
func TestSemaphoreWakesAcrossLanguages(t *testing.T) {
	forEachWait(t, func(t *testing.T) {
		peer := testutil.BuildC(t, "sempeer")
		s := openSem(t, semName(t), ipcchan.Create())
		errc := make(chan error, 3)
		for range 3 {
			go func() { errc <- s.Acquire(t.Context()) }()
		}
		testutil.WaitBlocked(t, "TestSemaphoreWakesAcrossLanguages", 3) // asleep in futex_waitv
		if out, err := exec.Command(peer, "post", s.Name(), "3").CombinedOutput(); err != nil {
			t.Fatalf("sempeer post: %v %s", err, out)
		}
		for range 3 {
			if err := <-errc; err != nil {
				t.Fatalf("Acquire woken by C: %v", err)
			}
		}

		cmd := exec.Command(peer, "wait", s.Name(), "2")
		var out strings.Builder
		cmd.Stdout = &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Wait until the C waiter sleeps: it counts itself in the high half.
		waitFor(t, "C to sleep in sem_wait", func() bool { return semWaiters(t, s.Name()) >= 1 })
		s.Release()
		s.Release()
		if err := cmd.Wait(); err != nil || strings.TrimSpace(out.String()) != "acquired 2" {
			t.Fatalf("C sem_wait after Go Release: %v %q", err, out.String())
		}
		if v := value(t, s); v != 0 {
			t.Errorf("value %d after all were taken", v)
		}
	})
}

// semWaiters reads glibc's waiter count from the sem file.
func semWaiters(t testing.TB, name string) uint32 {
	b, err := os.ReadFile("/dev/shm/sem." + name[1:])
	if err != nil || len(b) < 8 {
		t.Fatalf("reading the sem file: %v", err)
	}
	return uint32(b[4]) | uint32(b[5])<<8 | uint32(b[6])<<16 | uint32(b[7])<<24
}

// waitFor waits until cond holds (checking between yields), up to 10 s.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); runtime.Gosched() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func TestSemaphoreContextAndClose(t *testing.T) {
	forEachWait(t, func(t *testing.T) {
		s := openSem(t, semName(t), ipcchan.Create())
		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
		defer cancel()
		start := time.Now()
		if err := s.Acquire(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Acquire with deadline = %v", err)
		}
		if late := time.Since(start) - 20*time.Millisecond; late > 100*time.Millisecond {
			t.Errorf("returned %v after the deadline", late)
		}
		// Cancellation of a sleeping Acquire, timed from cancel().
		ctx, cancel = context.WithCancel(t.Context())
		errc := make(chan error, 4)
		go func() { errc <- s.Acquire(ctx) }()
		testutil.WaitBlocked(t, "TestSemaphoreContextAndClose", 1)
		start = time.Now()
		cancel()
		if err := <-errc; !errors.Is(err, context.Canceled) {
			t.Fatalf("Acquire after cancel = %v", err)
		}
		t.Logf("Acquire returned %v after cancel", time.Since(start))
		if semWaiters(t, s.Name()) != 0 {
			t.Errorf("a cancelled Acquire is still counted as a waiter")
		}
		for range 3 {
			go func() { errc <- s.Acquire(t.Context()) }()
		}
		testutil.WaitBlocked(t, "TestSemaphoreContextAndClose", 3)
		s.Close()
		for range 3 {
			if err := <-errc; !errors.Is(err, ipcchan.ErrClosed) {
				t.Fatalf("Acquire after Close = %v, want ErrClosed", err)
			}
		}
		if s.TryAcquire() {
			t.Error("TryAcquire on a closed semaphore")
		}
		if err := s.Release(); !errors.Is(err, ipcchan.ErrClosed) {
			t.Errorf("Release after Close = %v", err)
		}
		s.Close()
	})
}

func TestSemaphoreTryAcquireAndLimits(t *testing.T) {
	name := semName(t)
	s := openSem(t, name, ipcchan.Create(), ipcchan.Value(2))
	got := 0
	for range 3 {
		if s.TryAcquire() {
			got++
		}
	}
	if got != 2 {
		t.Fatalf("TryAcquire on a count of 2 gave %d tokens", got)
	}
	if _, err := ipcchan.OpenSemaphore(name, ipcchan.Create(), ipcchan.Exclusive()); !errors.Is(err, ipcchan.ErrExist) {
		t.Errorf("Exclusive on an existing semaphore = %v", err)
	}
	if _, err := ipcchan.OpenSemaphore(name, ipcchan.Create(), ipcchan.Value(1<<31)); !errors.Is(err, ipcchan.ErrInvalid) {
		t.Errorf("Value(2^31) = %v, want ErrInvalid", err)
	}
	if _, err := ipcchan.OpenSemaphore(semName(t)); !errors.Is(err, ipcchan.ErrNotExist) || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("open of a missing semaphore = %v", err)
	}
	if _, err := ipcchan.OpenSemaphore("/" + strings.Repeat("x", 252)); !errors.Is(err, ipcchan.ErrInvalidName) {
		t.Errorf("a name too long for sem. + name = %v", err)
	}
	if _, err := ipcchan.OpenSemaphore(name, ipcchan.Capacity(3)); !errors.Is(err, ipcchan.ErrInvalid) {
		t.Errorf("Capacity on a semaphore = %v", err)
	}
	big := openSem(t, semName(t), ipcchan.Create(), ipcchan.Value(1<<31-1))
	if err := big.Release(); !errors.Is(err, ipcchan.ErrLimit) || !errors.Is(err, syscall.EOVERFLOW) {
		t.Errorf("Release at SEM_VALUE_MAX = %v", err)
	}
	// A file that is too short to be a sem_t is refused, not mapped.
	bad := semName(t)
	os.WriteFile("/dev/shm/sem."+bad[1:], []byte("short"), 0o600)
	if _, err := ipcchan.OpenSemaphore(bad); !errors.Is(err, ipcchan.ErrTypeMismatch) {
		t.Errorf("open of a 5-byte sem file = %v", err)
	}
	if err := ipcchan.UnlinkSemaphore(name); err != nil {
		t.Fatal(err)
	}
	if err := ipcchan.UnlinkSemaphore(name); !errors.Is(err, ipcchan.ErrNotExist) {
		t.Errorf("second unlink = %v", err)
	}
}

// hammer: n times take a token, check the number of holders never exceeds
// the count, give it back.
func hammer(s *ipcchan.Semaphore, c counters, n int) error {
	for range n {
		if err := s.Acquire(context.Background()); err != nil {
			return err
		}
		h := atomic.AddInt64(c.holders, 1)
		for m := atomic.LoadInt64(c.max); h > m && !atomic.CompareAndSwapInt64(c.max, m, h); m = atomic.LoadInt64(c.max) {
		}
		runtime.Gosched()
		atomic.AddInt64(c.holders, -1)
		if err := s.Release(); err != nil {
			return err
		}
	}
	return nil
}

// TestSemaphoreHammer: processes and goroutines take and give tokens of a
// count-3 semaphore at once; never more than 3 hold one, and the count is
// exactly 3 at the end.
func TestSemaphoreHammer(t *testing.T) {
	forEachWait(t, func(t *testing.T) {
		name := semName(t)
		s := openSem(t, name, ipcchan.Create(), ipcchan.Value(3))
		file := counterFile(t)
		c, release, err := mapCounters(file)
		if err != nil {
			t.Fatal(err)
		}
		defer release()
		const n = 2000
		var wg sync.WaitGroup
		errc := make(chan error, 10)
		start := make(chan struct{})
		gos := startReadyWorkers(t, 3, &wg, errc, "sem-hammer", name, file, strconv.Itoa(n))
		for range 4 {
			h := openSem(t, name)
			wg.Add(1)
			go func() { defer wg.Done(); <-start; errc <- hammer(h, c, n) }()
		}
		for _, in := range gos { // everyone at once
			in.Write([]byte("go\n"))
			in.Close()
		}
		close(start)
		wg.Wait()
		close(errc)
		for err := range errc {
			if err != nil {
				t.Fatal(err)
			}
		}
		if v := value(t, s); v != 3 {
			t.Errorf("count %d at the end, want 3", v)
		}
		if m := atomic.LoadInt64(c.max); m > 3 || m < 1 {
			t.Errorf("%d holders at once, with a count of 3", m)
		}
		if semWaiters(t, name) != 0 {
			t.Errorf("%d waiters left counted", semWaiters(t, name))
		}
		t.Logf("most holders at once: %d", atomic.LoadInt64(c.max))
	})
}

func openMutex(t testing.TB, name string, opts ...ipcchan.Option) *ipcchan.Mutex {
	t.Helper()
	m, err := ipcchan.OpenMutex(name, opts...)
	if err != nil {
		t.Fatalf("OpenMutex(%s): %v", name, err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// startHolder runs a helper process that locks name and holds it.
func startHolder(t *testing.T, name string) *exec.Cmd {
	t.Helper()
	cmd := helperCmd(t, "mutex-hold", name)
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line := make([]byte, 64)
	n, _ := out.Read(line)
	if got := strings.TrimSpace(string(line[:n])); got != "locked" {
		t.Fatalf("holder said %q", got)
	}
	return cmd
}

// TestMutexHolderKilled: the holder dies by SIGKILL while another process
// waits; the waiter gets the lock with ErrOwnerDead within 100 ms. Then
// the POSIX contract: repair + MarkConsistent keeps it usable; unlocking
// without it makes it not recoverable.
func TestMutexHolderKilled(t *testing.T) {
	forEachWait(t, func(t *testing.T) {
		name := mutexName(t)
		m := openMutex(t, name, ipcchan.Create())
		holder := startHolder(t, name)

		// A waiter already asleep when the holder, alive until then, dies.
		errc := make(chan error, 1)
		go func() { errc <- m.LockContext(t.Context()) }()
		testutil.WaitBlocked(t, "TestMutexHolderKilled", 1)
		select {
		case err := <-errc:
			t.Fatalf("LockContext returned %v while the holder lived", err)
		default:
		}
		if err := holder.Process.Signal(syscall.Signal(0)); err != nil {
			t.Fatalf("the holder died before the test killed it: %v", err)
		}
		killed := time.Now()
		holder.Process.Kill()
		var err error
		select {
		case err = <-errc:
		case <-time.After(10 * time.Second):
			t.Fatal("the waiter was not woken by the holder's death")
		}
		took := time.Since(killed)
		if !errors.Is(err, ipcchan.ErrOwnerDead) || !strings.Contains(err.Error(), fmt.Sprint(holder.Process.Pid)) {
			t.Fatalf("LockContext after the holder's death = %v, want ErrOwnerDead naming pid %d", err, holder.Process.Pid)
		}
		t.Logf("ErrOwnerDead %v after SIGKILL", took)
		if took > 100*time.Millisecond {
			t.Errorf("ErrOwnerDead came %v after SIGKILL, want within 100ms", took)
		}
		// Repaired: usable as before.
		if err := m.MarkConsistent(); err != nil {
			t.Fatal(err)
		}
		m.Unlock()
		if err := m.LockContext(t.Context()); err != nil {
			t.Fatalf("lock after repair = %v", err)
		}
		m.Unlock()

		// The holder dies while nobody waits: the next lock finds out.
		holder2 := startHolder(t, name)
		holder2.Process.Kill()
		holder2.Wait()
		start := time.Now()
		if err := m.LockContext(t.Context()); !errors.Is(err, ipcchan.ErrOwnerDead) {
			t.Fatalf("lock after an unnoticed death = %v", err)
		}
		t.Logf("ErrOwnerDead %v after LockContext began", time.Since(start))
		// Not repaired: unusable for everyone.
		m.Unlock()
		other := openMutex(t, name)
		err = other.LockContext(t.Context())
		if !errors.Is(err, ipcchan.ErrNotRecoverable) || !strings.Contains(err.Error(), "MarkConsistent") {
			t.Fatalf("lock of an unrepaired mutex = %v, want ErrNotRecoverable", err)
		}
		if other.TryLock() {
			t.Error("TryLock of a not-recoverable mutex succeeded")
		}
	})
}

// TestMutexLockPanicsOnOwnerDead: Lock cannot report ErrOwnerDead, so it
// panics and hands the mutex on, still marked, to a LockContext caller.
func TestMutexLockPanicsOnOwnerDead(t *testing.T) {
	name := mutexName(t)
	m := openMutex(t, name, ipcchan.Create())
	h := startHolder(t, name)
	h.Process.Kill()
	h.Wait()
	func() {
		defer func() {
			if r := recover(); r == nil || !strings.Contains(fmt.Sprint(r), "use LockContext") {
				t.Errorf("Lock after a death: recovered %v", r)
			}
		}()
		m.Lock()
	}()
	if err := m.LockContext(t.Context()); !errors.Is(err, ipcchan.ErrOwnerDead) {
		t.Fatalf("LockContext after the Lock panic = %v, want ErrOwnerDead", err)
	}
	m.MarkConsistent()
	m.Unlock()
}

// TestMutexExclusion: processes and goroutines increment a plain counter
// under the lock; it comes out exact.
func TestMutexExclusion(t *testing.T) {
	forEachWait(t, func(t *testing.T) {
		name := mutexName(t)
		openMutex(t, name, ipcchan.Create())
		file := counterFile(t)
		c, release, err := mapCounters(file)
		if err != nil {
			t.Fatal(err)
		}
		defer release()
		const n, procs, goroutines = 3000, 3, 3
		var wg sync.WaitGroup
		errc := make(chan error, procs+goroutines)
		start := make(chan struct{})
		gos := startReadyWorkers(t, procs, &wg, errc, "mutex-count", name, file, strconv.Itoa(n))
		for range goroutines {
			m := openMutex(t, name)
			wg.Add(1)
			go func() { defer wg.Done(); <-start; errc <- countUnderLock(m, c, n) }()
		}
		// Everyone at once, so that the lock is really contended across processes.
		for _, in := range gos {
			in.Write([]byte("go\n"))
			in.Close()
		}
		close(start)
		wg.Wait()
		close(errc)
		for err := range errc {
			if err != nil {
				t.Fatal(err)
			}
		}
		if got, want := atomic.LoadUint64(c.plain), uint64(n*(procs+goroutines)); got != want {
			t.Errorf("counter = %d, want %d: the mutex let two holders in", got, want)
		}
	})
}

func TestMutexMisuse(t *testing.T) {
	name := mutexName(t)
	m := openMutex(t, name, ipcchan.Create())
	mustPanic := func(what string, f func()) {
		t.Helper()
		defer func() {
			if r := recover(); r == nil || !strings.Contains(fmt.Sprint(r), what) {
				t.Errorf("recovered %v, want a panic about %q", r, what)
			}
		}()
		f()
	}
	mustPanic("unlock of unlocked", m.Unlock)
	h := startHolder(t, name)
	mustPanic(fmt.Sprintf("held by process %d", h.Process.Pid), m.Unlock)
	if m.TryLock() {
		t.Error("TryLock of a held mutex succeeded")
	}
	if err := m.MarkConsistent(); !errors.Is(err, ipcchan.ErrInvalid) {
		t.Errorf("MarkConsistent without holding = %v", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Millisecond)
	defer cancel()
	if err := m.LockContext(ctx); !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), strconv.Itoa(h.Process.Pid)) {
		t.Errorf("LockContext with deadline = %v", err)
	}
	errc := make(chan error, 1)
	go func() { errc <- m.LockContext(t.Context()) }()
	testutil.WaitBlocked(t, "TestMutexMisuse", 1)
	m.Close()
	if err := <-errc; !errors.Is(err, ipcchan.ErrClosed) {
		t.Errorf("LockContext after Close = %v", err)
	}
	// Another kind's file under the mutex's name is refused.
	wgn := wgName(t)
	openWG(t, wgn, ipcchan.Create())
	os.Link("/dev/shm/ipcchan.wg."+wgn[1:], "/dev/shm/ipcchan.mutex."+wgn[1:])
	defer os.Remove("/dev/shm/ipcchan.mutex." + wgn[1:])
	if _, err := ipcchan.OpenMutex(wgn); !errors.Is(err, ipcchan.ErrTypeMismatch) || !strings.Contains(err.Error(), "waitgroup, not a mutex") {
		t.Errorf("open of a wait group as a mutex = %v", err)
	}
}

func openWG(t testing.TB, name string, opts ...ipcchan.Option) *ipcchan.WaitGroup {
	t.Helper()
	wg, err := ipcchan.OpenWaitGroup(name, opts...)
	if err != nil {
		t.Fatalf("OpenWaitGroup(%s): %v", name, err)
	}
	t.Cleanup(func() { wg.Close() })
	return wg
}

// TestWaitGroupProcesses: a dispatcher Adds, worker processes Done, Wait
// returns once the last is done and not before.
func TestWaitGroupProcesses(t *testing.T) {
	forEachWait(t, func(t *testing.T) {
		name := wgName(t)
		wg := openWG(t, name, ipcchan.Create())
		const workers = 4
		if err := wg.Add(workers); err != nil {
			t.Fatal(err)
		}
		var gos []func() error
		var procs []*exec.Cmd
		for range workers {
			cmd := helperCmd(t, "wg-done", name)
			in, _ := cmd.StdinPipe()
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			procs = append(procs, cmd)
			gos = append(gos, func() error { _, err := in.Write([]byte("go\n")); in.Close(); return err })
		}
		waited := make(chan error, 1)
		go func() { waited <- wg.Wait(t.Context()) }()
		for i, goAhead := range gos {
			testutil.WaitBlocked(t, "TestWaitGroupProcesses", 1)
			select {
			case err := <-waited:
				t.Fatalf("Wait returned (%v) with %d workers still to finish", err, workers-i)
			default:
			}
			goAhead()
			if err := procs[i].Wait(); err != nil {
				t.Fatalf("worker: %v", err)
			}
		}
		if err := <-waited; err != nil {
			t.Fatalf("Wait = %v", err)
		}
		if n, _ := wg.Count(); n != 0 {
			t.Errorf("count %d", n)
		}
	})
}

func TestWaitGroupErrors(t *testing.T) {
	wg := openWG(t, wgName(t), ipcchan.Create())
	err := wg.Done()
	if !errors.Is(err, ipcchan.ErrInvalid) || !strings.Contains(err.Error(), "a Done too many") {
		t.Fatalf("Done at zero = %v", err)
	}
	if n, _ := wg.Count(); n != 0 {
		t.Errorf("count %d after a refused Done", n)
	}
	wg.Add(2)
	if err := wg.Add(-3); !errors.Is(err, ipcchan.ErrInvalid) {
		t.Errorf("Add(-3) at 2 = %v", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Millisecond)
	defer cancel()
	if err := wg.Wait(ctx); !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "count was 2") {
		t.Errorf("Wait with deadline = %v", err)
	}
	errc := make(chan error, 2)
	for range 2 {
		go func() { errc <- wg.Wait(t.Context()) }()
	}
	testutil.WaitBlocked(t, "TestWaitGroupErrors", 2)
	wg.Close()
	for range 2 {
		if err := <-errc; !errors.Is(err, ipcchan.ErrClosed) {
			t.Errorf("Wait after Close = %v", err)
		}
	}
	if err := wg.Add(1); !errors.Is(err, ipcchan.ErrClosed) {
		t.Errorf("Add after Close = %v", err)
	}
}

// TestObjectCreateRace: goroutines creating one mutex and one wait group
// at once all get the same object.
func TestObjectCreateRace(t *testing.T) {
	mn, wn := mutexName(t), wgName(t)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m, err := ipcchan.OpenMutex(mn, ipcchan.Create())
			if err != nil {
				t.Error(err)
				return
			}
			defer m.Close()
			w, err := ipcchan.OpenWaitGroup(wn, ipcchan.Create())
			if err != nil {
				t.Error(err)
				return
			}
			defer w.Close()
			w.Add(1)
		}()
	}
	wg.Wait()
	w := openWG(t, wn)
	if n, _ := w.Count(); n != 8 {
		t.Errorf("count %d: the creators did not share one wait group", n)
	}
	entries, _ := os.ReadDir("/dev/shm")
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".ipcchan-tmp-"+strconv.Itoa(os.Getpid())) {
			t.Errorf("temporary file %s left behind", e.Name())
		}
	}
}

// TestClosedHandlesReleaseTheirMemory: a closed handle's mapping goes once
// the handle is garbage, so open/close loops do not pile up mappings.
func TestClosedHandlesReleaseTheirMemory(t *testing.T) {
	mn, sn := mutexName(t), semName(t)
	openMutex(t, mn, ipcchan.Create())
	openSem(t, sn, ipcchan.Create())
	mapped := func() int {
		b, _ := os.ReadFile("/proc/self/maps")
		return strings.Count(string(b), "ipcchan.mutex."+mn[1:]) + strings.Count(string(b), "sem."+sn[1:])
	}
	for range 2000 {
		m, err := ipcchan.OpenMutex(mn)
		if err != nil {
			t.Fatal(err)
		}
		m.Close()
		s, err := ipcchan.OpenSemaphore(sn)
		if err != nil {
			t.Fatal(err)
		}
		s.Close()
	}
	waitFor(t, "closed handles to be unmapped", func() bool {
		runtime.GC()
		return mapped() <= 2 // the two handles the test keeps open
	})
}

// startReadyWorkers starts procs copies of the helper name with args, waits
// until each says "ready", sends each one's exit to errc (counted in wg),
// and returns their stdins: a line on each is the go-ahead.
func startReadyWorkers(t *testing.T, procs int, wg *sync.WaitGroup, errc chan<- error, name string, args ...string) []io.WriteCloser {
	t.Helper()
	var gos []io.WriteCloser
	for range procs {
		cmd := helperCmd(t, name, args...)
		in, _ := cmd.StdinPipe()
		out, _ := cmd.StdoutPipe()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		if line, _ := bufio.NewReader(out).ReadString('\n'); line != "ready\n" {
			t.Fatalf("worker said %q", line)
		}
		gos = append(gos, in)
		wg.Add(1)
		go func() { defer wg.Done(); errc <- cmd.Wait() }()
	}
	return gos
}
