package ipcchan_test

import (
	"os"
	"os/exec"
	"testing"

	"github.com/ipcchan/ipcchan/internal/budget"
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

// helperCmd starts this test binary as the helper name (see helpers).
func helperCmd(t testing.TB, name string, args ...string) *exec.Cmd {
	t.Helper()
	return testutil.Helper(t, name, args...)
}

// forEachWait runs test with each way a blocking call may wait: first in
// the kernel for a slice, then without a thread (on the reactor for a
// queue, parked on the shared futex waiter for the others): the default;
// and without a thread alone.
func forEachWait(t *testing.T, test func(t *testing.T)) {
	t.Run("kernel", test)
	t.Run("reactor", func(t *testing.T) {
		defer budget.Set(0)()
		test(t)
	})
}
