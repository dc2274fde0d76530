package main

import (
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/ipcchan/ipcchan/internal/testutil"
)

// TestFanoutRuns runs the example both ways: every subscriber accounts
// for every tick (received + missed), nobody misses under Block, the late
// joiner gets the history, and nothing is left in /dev/shm.
func TestFanoutRuns(t *testing.T) {
	exe := filepath.Join(t.TempDir(), "fanout")
	if out, err := exec.Command("go", "build", "-o", exe, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	line := regexp.MustCompile(`(?m)^subscriber (\d+) \((fast|slow)\): received +(\d+), missed +(\d+)`)
	for _, block := range []bool{false, true} {
		args := []string{}
		if block {
			args = append(args, "-block")
		}
		cmd := exec.CommandContext(t.Context(), exe, args...)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("fanout %v: %v\n%s", args, err, out)
		}
		s := string(out)
		subs := line.FindAllStringSubmatch(s, -1)
		if len(subs) != 3 {
			t.Fatalf("fanout %v: %d subscriber lines, want 3:\n%s", args, len(subs), s)
		}
		for _, m := range subs {
			received, _ := strconv.Atoi(m[3])
			missed, _ := strconv.Atoi(m[4])
			if received+missed != messages || (block && missed != 0) {
				t.Errorf("fanout %v: subscriber %s (%s) received %d and missed %d, of %d", args, m[1], m[2], received, missed, messages)
			}
		}
		if !strings.Contains(s, "late joiner: the last 4 ticks from the history: [19996 19997 19998 19999]") {
			t.Errorf("fanout %v: the late joiner's line is missing or wrong:\n%s", args, s)
		}
		pid := strings.Fields(s)[1]
		if left := testutil.LeftShm("ipcchan-fanout-" + strings.TrimSuffix(pid, ":")); len(left) > 0 {
			t.Errorf("fanout %v left %v", args, left)
		}
	}
}
