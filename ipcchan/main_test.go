package ipcchan_test

import (
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/ipcchan/ipcchan/internal/testutil"
	"github.com/ipcchan/ipcchan/ipcchan"
)

func TestMain(m *testing.M) {
	testutil.RunHelpers(helpers)
	os.Exit(testutil.Main(m, ipcchan.UnlinkQueue))
}

// helpers are the programs that tests start in other processes, by
// re-executing the test binary (testutil.Helper).
var helpers = map[string]func(args []string) error{
	"send":      helperSend,
	"receive":   helperReceive,
	"open":      helperOpen,
	"echo":      helperEcho,
	"echo-raw":  helperEchoRaw,
	"flood":     helperFlood,
	"flood-raw": helperFloodRaw,
}

// queueName returns a unique queue name that is removed after the test.
func queueName(t testing.TB) string {
	t.Helper()
	return testutil.Name(t, ipcchan.UnlinkQueue)
}

// openQueue opens name with opts and closes it after the test.
func openQueue[T any](t testing.TB, name string, opts ...ipcchan.Option) *ipcchan.Queue[T] {
	t.Helper()
	q, err := ipcchan.OpenQueue[T](name, opts...)
	if err != nil {
		t.Fatalf("OpenQueue(%s): %v", name, err)
	}
	t.Cleanup(func() { q.Close() })
	return q
}

// waitParked waits until n goroutines started by a function whose name
// contains createdBy are blocked (in a select, a channel operation or a
// blocking system call such as the reactor's epoll_wait), by reading the
// goroutine stacks: tests use it to know that calls really wait before they
// act, without sleeping.
func waitParked(t testing.TB, createdBy string, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	buf := make([]byte, 1<<20)
	for {
		got := 0
		for _, g := range strings.Split(string(buf[:runtime.Stack(buf, true)]), "\n\n") {
			head, _, _ := strings.Cut(g, "\n")
			blocked := strings.Contains(head, "[select") || strings.Contains(head, "[syscall") || strings.Contains(head, "[chan")
			if blocked && strings.Contains(g, "created by ") && strings.Contains(g[strings.LastIndex(g, "created by "):], createdBy) {
				got++
			}
		}
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d goroutines started by %s are blocked, want %d", got, createdBy, n)
		}
		runtime.Gosched()
	}
}

// helperCmd starts this test binary as the helper name (see helpers).
func helperCmd(t testing.TB, name string, args ...string) *exec.Cmd {
	t.Helper()
	return testutil.Helper(t, name, args...)
}
