package main

import (
	"encoding/json"
	"encoding/xml"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ipcchan/ipcchan/internal/testutil"
	"github.com/ipcchan/ipcchan/ipcchan"
)

var exe string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "ipcbench-test-")
	if err != nil {
		panic(err)
	}
	exe = filepath.Join(dir, "ipcbench")
	if out, err := exec.Command("go", "build", "-o", exe, ".").CombinedOutput(); err != nil {
		os.Stderr.Write(out)
		os.Exit(1)
	}
	code := testutil.Main(m, ipcchan.UnlinkQueue)
	os.RemoveAll(dir)
	os.Exit(code)
}

// TestIpcbenchRuns builds the tool and runs two cross-process scenarios
// and one in-process one, once each: the table, the JSON and the chart
// come out whole, with the C baselines measured.
func TestIpcbenchRuns(t *testing.T) {
	dir := t.TempDir()
	jsonPath, svgPath := filepath.Join(dir, "r.json"), filepath.Join(dir, "r.svg")
	for _, only := range []string{"semaphore ping-pong", "queue ping-pong", "mutex lock+unlock, uncontended"} {
		cmd := exec.CommandContext(t.Context(), exe, "-quick", "-reps", "1", "-only", only, "-json", jsonPath, "-svg", svgPath)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("ipcbench -only %q: %v\n%s", only, err, out)
		}
		table := string(out)
		if !strings.Contains(table, only) || !strings.Contains(table, "TARGETS") {
			t.Errorf("-only %q: the table lacks the scenario or the targets:\n%s", only, table)
		}
		var rep report
		b, _ := os.ReadFile(jsonPath)
		if err := json.Unmarshal(b, &rep); err != nil {
			t.Fatalf("JSON: %v", err)
		}
		for _, r := range rep.Results {
			if r.Skipped == "" && (len(r.Samples) != 1 || r.Median <= 0) {
				t.Errorf("%s / %s: samples %v, median %v", r.Scenario, r.Impl, r.Samples, r.Median)
			}
			if strings.HasPrefix(r.Impl, "C,") && r.Skipped != "" {
				t.Errorf("the C baseline %q was skipped: %s", r.Impl, r.Skipped)
			}
		}
		if len(rep.Results) < 2 || len(rep.Targets) == 0 {
			t.Errorf("-only %q: %d results, %d targets", only, len(rep.Results), len(rep.Targets))
		}
		svg, _ := os.ReadFile(svgPath)
		if err := xml.Unmarshal(svg, new(struct{ XMLName xml.Name })); err != nil || !strings.Contains(string(svg), "<rect") {
			t.Errorf("the chart is not SVG with bars: %v", err)
		}
	}
	if left := testutil.LeftShm("ipcbench-"); len(left) > 0 {
		t.Errorf("objects left behind: %v", left)
	}
	if left, _ := testutil.LeftQueues("ipcbench-"); len(left) > 0 {
		t.Errorf("queues left behind: %v", left)
	}
}

// TestJSONToStdout: with -json -, standard output is the JSON alone (for
// jq), and the table goes to standard error.
func TestJSONToStdout(t *testing.T) {
	cmd := exec.CommandContext(t.Context(), exe, "-quick", "-reps", "1", "-only", "mutex lock+unlock, uncontended", "-json", "-")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("ipcbench -json -: %v\n%s", err, stderr.String())
	}
	var rep report
	if err := json.Unmarshal(out, &rep); err != nil || len(rep.Results) == 0 {
		t.Errorf("standard output is not the JSON report (%v):\n%s", err, out)
	}
	if !strings.Contains(stderr.String(), "TARGETS") {
		t.Errorf("standard error lacks the table:\n%s", stderr.String())
	}
}

func TestUsage(t *testing.T) {
	cmd := exec.CommandContext(t.Context(), exe, "stray")
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 || !strings.Contains(string(out), `unexpected argument "stray"`) {
		t.Errorf("ipcbench stray: %v %s", err, out)
	}
}
