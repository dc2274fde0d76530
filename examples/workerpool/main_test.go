package main

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/ipcchan/ipcchan/internal/testutil"
)

func build(t *testing.T) string {
	t.Helper()
	exe := filepath.Join(t.TempDir(), "workerpool")
	if out, err := exec.Command("go", "build", "-o", exe, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return exe
}

// queuesOf lists the queues a dispatcher with this pid made.
func queuesOf(t *testing.T, pid int) []string {
	t.Helper()
	left, err := testutil.LeftQueues("ipcchan-workerpool-" + strconv.Itoa(pid) + "-")
	if err != nil {
		t.Fatalf("cannot list queues: %v", err)
	}
	return left
}

func TestWorkerPoolRuns(t *testing.T) {
	cmd := exec.CommandContext(t.Context(), build(t), "-workers", "3", "-jobs", "90")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("workerpool: %v\n%s", err, out)
	}
	s := string(out)
	if !strings.Contains(s, "all 90 jobs done exactly once") {
		t.Fatalf("no summary in:\n%s", s)
	}
	// The table's job counts add up to the total, over 3 workers.
	rows := regexp.MustCompile(`(?m)^([123])\s+\d+\s+(\d+)\s`).FindAllStringSubmatch(s, -1)
	sum := 0
	for _, r := range rows {
		n, _ := strconv.Atoi(r[2])
		sum += n
	}
	if len(rows) != 3 || sum != 90 {
		t.Errorf("table has %d worker rows adding up to %d jobs, want 3 and 90:\n%s", len(rows), sum, s)
	}
	if left := queuesOf(t, cmd.Process.Pid); len(left) > 0 {
		t.Errorf("queues left behind: %v", left)
	}
}

func TestWorkerPoolInterrupted(t *testing.T) {
	cmd := exec.CommandContext(t.Context(), build(t), "-workers", "2", "-jobs", "1000000")
	stdout, _ := cmd.StdoutPipe()
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// The first line says the queues exist and the workers run.
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "dispatcher") {
		t.Fatalf("first line %q, %v", line, err)
	}
	if len(queuesOf(t, cmd.Process.Pid)) != 2 {
		t.Fatal("the two queues are not there while it runs")
	}
	cmd.Process.Signal(os.Interrupt)
	err = cmd.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Fatalf("exit after SIGINT = %v, want status 1", err)
	}
	if !strings.Contains(stderr.String(), "interrupted; queues removed") {
		t.Errorf("stderr %q does not say it was interrupted", stderr.String())
	}
	if left := queuesOf(t, cmd.Process.Pid); len(left) > 0 {
		t.Errorf("queues left behind after Ctrl-C: %v", left)
	}
}
