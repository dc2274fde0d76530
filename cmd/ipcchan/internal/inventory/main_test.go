package inventory_test

import (
	"os"
	"os/exec"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/ipcchan/ipcchan/cmd/ipcchan/internal/inventory"
	"github.com/ipcchan/ipcchan/internal/testutil"
	"github.com/ipcchan/ipcchan/ipcchan"
)

// These tests judge real objects, made by this process and its helpers.
// List and Stale read the whole machine (this IPC and mount namespace)
// and only read: every test looks only at the names it made, so that
// what other programs have in /dev/shm or the mqueue filesystem changes
// nothing, and is never touched.

func TestMain(m *testing.M) {
	testutil.RunHelpers(helpers)
	os.Exit(testutil.Main(m, ipcchan.UnlinkQueue))
}

// helpers are the programs that tests start in other processes, by
// re-executing the test binary (testutil.Helper); each file adds its own.
var helpers = map[string]func(args []string) error{}

func helperCmd(t testing.TB, name string, args ...string) *exec.Cmd {
	t.Helper()
	return testutil.Helper(t, name, args...)
}

// infoOf returns what List says of the object of kind called name.
func infoOf(t *testing.T, kind, name string) inventory.Info {
	t.Helper()
	listing, _ := inventory.List()
	for _, in := range listing.Objects {
		if in.Kind == kind && in.Name == name {
			return in
		}
	}
	t.Fatalf("List has no %s %s", kind, name)
	return inventory.Info{}
}

// staleOf returns what rm --stale (with idle: rm --stale --idle) would
// remove of the objects called name, and nothing else of the machine's.
func staleOf(t *testing.T, name string, idle bool) []inventory.Info {
	t.Helper()
	stale, _, err := inventory.Stale(idle)
	if err != nil {
		t.Fatal(err)
	}
	var mine []inventory.Info
	for _, in := range stale {
		if in.Name == name {
			mine = append(mine, in)
		}
	}
	return mine
}

// isStale reports whether rm --stale (with idle: rm --stale --idle) would
// remove the object name.
func isStale(t *testing.T, name string, idle bool) bool {
	t.Helper()
	return len(staleOf(t, name, idle)) > 0
}

// removeStale removes what Stale finds of the objects called name, as
// `ipcchan rm --stale` would, and returns how many it removed.
func removeStale(t *testing.T, name string) int {
	t.Helper()
	stale := staleOf(t, name, false)
	for _, in := range stale {
		if err := inventory.Remove(in); err != nil {
			t.Fatal(err)
		}
	}
	return len(stale)
}

func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); runtime.Gosched() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// hasPid reports whether pids is exactly [pid].
func hasPid(pids []int, pid int) bool { return slices.Equal(pids, []int{pid}) }
