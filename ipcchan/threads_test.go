package ipcchan_test

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/ipcchan/ipcchan/internal/objfmt"
	"github.com/ipcchan/ipcchan/internal/testutil"
	"github.com/ipcchan/ipcchan/ipcchan"
)

// waitload is internal/waitload, built without the race detector (which
// allows 8128 goroutines, far fewer than these tests block).
func waitload(t *testing.T) string { return testutil.BuildGo(t, "internal/waitload") }

// A load is a running waitload.
type load struct {
	t                *testing.T
	cmd              *exec.Cmd
	out              *bufio.Reader
	base, gomaxprocs int
}

// startLoad runs waitload MODE NAME N and waits for its "ready" line.
func startLoad(t *testing.T, mode, name string, n int) *load {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), waitload(t), mode, name, strconv.Itoa(n))
	cmd.Stderr = os.Stderr
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	l := &load{t: t, cmd: cmd, out: bufio.NewReader(stdout)}
	if _, err := fmt.Sscanf(l.line(), "ready base=%d gomaxprocs=%d", &l.base, &l.gomaxprocs); err != nil {
		t.Fatalf("waitload %s: %v", mode, err)
	}
	return l
}

func (l *load) line() string {
	l.t.Helper()
	s, err := l.out.ReadString('\n')
	if err != nil && err != io.EOF {
		l.t.Fatal(err)
	}
	return s
}

// done waits for the "done" line and checks the threads against the bound
// of a process whose goroutines wait on words distinct words: the waits in
// the kernel's slice (4 per GOMAXPROCS, 8 at least), a thread of the shared
// waiter per 127 words, and 2 (the reactor's leader, the runtime's spare).
// It returns how many parked goroutines were woken.
func (l *load) done(words int) int {
	l.t.Helper()
	var most, wakes int
	if _, err := fmt.Sscanf(l.line(), "done max=%d wakes=%d", &most, &wakes); err != nil {
		l.t.Fatalf("waitload: %v", err)
	}
	if err := l.cmd.Wait(); err != nil {
		l.t.Fatalf("waitload: %v", err)
	}
	bound := l.base + max(8, 4*l.gomaxprocs) + (words+126)/127 + 2
	l.t.Logf("threads: %d before, %d at most while waiting; the bound is %d", l.base, most, bound)
	if most > bound {
		l.t.Errorf("the process had %d threads, more than the bound of %d (%d before)", most, bound, l.base)
	}
	return wakes
}

// TestThreadsSemaphore100000: 100,000 goroutines blocked in Acquire on one
// semaphore cost a bounded number of threads; 100,000 posts from C let every
// one of them through, and wake about one parked goroutine per token, not
// all of them each time.
func TestThreadsSemaphore100000(t *testing.T) {
	const n = 100000
	name := semName(t)
	s, err := ipcchan.OpenSemaphore(name, ipcchan.Create())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	l := startLoad(t, "sem", name, n)
	waitFor(t, "every goroutine to wait", func() bool {
		b, err := os.ReadFile("/dev/shm/sem." + name[1:])
		_, waiters, ok := objfmt.ReadSem(b)
		return err == nil && ok && waiters == n
	})
	if out, err := exec.Command(testutil.BuildC(t, "sempeer"), "post", name, strconv.Itoa(n)).CombinedOutput(); err != nil {
		t.Fatalf("sempeer post: %v %s", err, out)
	}
	wakes := l.done(1)
	if v, _ := s.Value(); v != 0 {
		t.Errorf("%d tokens left: not every goroutine took one", v)
	}
	if wakes > 2*n {
		t.Errorf("%d parked goroutines woken for %d tokens: a thundering herd", wakes, n)
	}
	t.Logf("%d parked goroutines woken for %d tokens", wakes, n)
}

// ringNames returns n names of rings removed after the test, and their
// prefix.
func ringNames(t *testing.T, n int) (prefix string, names []string) {
	prefix = "/" + testutil.Prefix + "rings" + strconv.Itoa(int(time.Now().UnixNano()%1e6)) + "-"
	for i := range n {
		names = append(names, prefix+strconv.Itoa(i))
	}
	t.Cleanup(func() {
		for _, n := range names {
			ipcchan.UnlinkRing(n)
		}
	})
	return prefix, names
}

// receiversWait reports whether every ring of names has a receiver that
// announced its sleep (the sleepers bit of its data word).
func receiversWait(names []string) bool {
	for _, n := range names {
		b, err := os.ReadFile("/dev/shm/ipcchan.ring." + n[1:])
		if err != nil || len(b) < objfmt.HeaderSize+objfmt.RingCtlSize {
			return false
		}
		if *objfmt.RingWordsOf(objfmt.Payload(b)).DataWord&objfmt.RingSleepers == 0 {
			return false
		}
	}
	return true
}

// TestThreadsRings1000: a goroutine blocked in Receive on each of 1,000
// rings; another process sends one message to each; all are received,
// within the bound on threads.
func TestThreadsRings1000(t *testing.T) {
	const n = 1000
	prefix, names := ringNames(t, n)
	l := startLoad(t, "rings", prefix, n)
	waitFor(t, "every receiver to wait", func() bool { return receiversWait(names) })
	if out, err := startSender(t, prefix, n); err != nil {
		t.Fatalf("send: %v %s", err, out)
	}
	if wakes := l.done(n); wakes > n {
		t.Errorf("%d parked goroutines woken for %d messages", wakes, n)
	}
}

// TestThreadsWatch1000: 1,000 rings watched from one loop cost no thread
// each: another process sends one message to each, and the loop gets them
// all, within the bound on threads.
func TestThreadsWatch1000(t *testing.T) {
	const n = 1000
	prefix, names := ringNames(t, n)
	l := startLoad(t, "watch", prefix, n)
	waitFor(t, "every watch to wait", func() bool { return receiversWait(names) })
	if out, err := startSender(t, prefix, n); err != nil {
		t.Fatalf("send: %v %s", err, out)
	}
	l.done(n)
}

func startSender(t *testing.T, prefix string, n int) ([]byte, error) {
	return exec.CommandContext(t.Context(), waitload(t), "send", prefix, strconv.Itoa(n)).CombinedOutput()
}
