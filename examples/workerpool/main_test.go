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

	"github.com/ipcchan/ipcchan/internal/natstest"
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

// leftOf lists the objects a dispatcher with this pid left behind.
func leftOf(t *testing.T, pid int) []string {
	t.Helper()
	prefix := "ipcchan-workerpool-" + strconv.Itoa(pid) + "-"
	left, err := testutil.LeftQueues(prefix)
	if err != nil {
		t.Fatalf("cannot list queues: %v", err)
	}
	return append(left, testutil.LeftShm(prefix)...)
}

// jobsPerWorker reads the summary table: worker number -> jobs.
func jobsPerWorker(out string) map[int]int {
	m := map[int]int{}
	for _, r := range regexp.MustCompile(`(?m)^(\d+)\s+\d+\s+(\d+)\s`).FindAllStringSubmatch(out, -1) {
		n, _ := strconv.Atoi(r[1])
		jobs, _ := strconv.Atoi(r[2])
		m[n] = jobs
	}
	return m
}

func TestWorkerPoolRuns(t *testing.T) {
	cmd := exec.CommandContext(t.Context(), build(t), "-workers", "3", "-jobs", "60")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("workerpool: %v\n%s", err, out)
	}
	s := string(out)
	for _, want := range []string{"all 60 jobs done exactly once (60 results counted by the workers)", "wait group: 0 workers left", "free at the end"} {
		if !strings.Contains(s, want) {
			t.Errorf("summary lacks %q:\n%s", want, s)
		}
	}
	per, sum := jobsPerWorker(s), 0
	for _, n := range per {
		sum += n
	}
	if len(per) != 3 || sum != 60 {
		t.Errorf("table: %v, want 3 workers adding up to 60:\n%s", per, s)
	}
	if m := regexp.MustCompile(`at most (\d) of 2 slots in use at once, 2 free`).FindStringSubmatch(s); m == nil || m[1] > "2" {
		t.Errorf("the semaphore line is wrong:\n%s", s)
	}
	if left := leftOf(t, cmd.Process.Pid); len(left) > 0 {
		t.Errorf("objects left behind: %v", left)
	}
}

// TestWorkerPoolKillOne: a busy worker killed mid-run; its job is sent
// again, a replacement starts, and every job is still done exactly once.
func TestWorkerPoolKillOne(t *testing.T) {
	cmd := exec.CommandContext(t.Context(), build(t), "-workers", "3", "-jobs", "90", "-kill-one")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("workerpool -kill-one: %v\n%s", err, out)
	}
	s := string(out)
	killed := regexp.MustCompile(`worker (\d) \(pid \d+\) was killed with SIGKILL while working on job (\d+)`).FindStringSubmatch(s)
	if killed == nil {
		t.Fatalf("no worker was killed:\n%s", s)
	}
	for _, want := range []string{
		"died (signal: killed): job " + killed[2] + " sent again",
		"its wait group count given back",
		"worker 4 started in its place",
		"all 90 jobs done exactly once (90 results counted by the workers)",
		"wait group: 0 workers left",
		"2 free at the end",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("summary lacks %q:\n%s", want, s)
		}
	}
	per, sum := jobsPerWorker(s), 0
	for _, n := range per {
		sum += n
	}
	if len(per) != 4 || sum != 90 {
		t.Errorf("table: %v, want 4 workers (one a replacement) adding up to 90:\n%s", per, s)
	}
	if left := leftOf(t, cmd.Process.Pid); len(left) > 0 {
		t.Errorf("objects left behind: %v", left)
	}
}

func TestWorkerPoolInterrupted(t *testing.T) {
	cmd := exec.CommandContext(t.Context(), build(t), "-workers", "2", "-jobs", "100000")
	stdout, _ := cmd.StdoutPipe()
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// The first line says the objects exist and the workers run.
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "dispatcher") {
		t.Fatalf("first line %q, %v", line, err)
	}
	if left := leftOf(t, cmd.Process.Pid); len(left) != 5 {
		t.Fatalf("while it runs: %v, want its 5 objects", left)
	}
	cmd.Process.Signal(os.Interrupt)
	err = cmd.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Fatalf("exit after SIGINT = %v, want status 1", err)
	}
	if !strings.Contains(stderr.String(), "interrupted; all objects removed") {
		t.Errorf("stderr %q does not say it was interrupted", stderr.String())
	}
	if left := leftOf(t, cmd.Process.Pid); len(left) > 0 {
		t.Errorf("objects left behind after Ctrl-C: %v", left)
	}
}

// TestWorkerPoolOverNATS: the same run with the jobs and results on an
// embedded NATS JetStream server; one worker is killed mid-run too.
func TestWorkerPoolOverNATS(t *testing.T) {
	url := natstest.Server(t)
	cmd := exec.CommandContext(t.Context(), build(t), "-workers", "3", "-jobs", "60", "-kill-one", "-nats", url)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("workerpool -nats: %v\n%s\nstderr:\n%s", err, out, stderr.String())
	}
	s := string(out)
	for _, want := range []string{"jobs and results on NATS JetStream queues at " + url, "all 60 jobs done exactly once", "wait group: 0 workers left", "was killed with SIGKILL"} {
		if !strings.Contains(s, want) {
			t.Errorf("output lacks %q:\n%s", want, s)
		}
	}
	if left := leftOf(t, cmd.Process.Pid); len(left) > 0 {
		t.Errorf("objects left behind: %v", left)
	}
	// The run removed its two streams.
	js := natstest.Connect(t, url)
	for name := range js.StreamNames(t.Context()).Name() {
		t.Errorf("stream %s left behind", name)
	}
}

// TestWorkerPoolOverRings: the same run with the jobs and results on rings
// in shared memory, which the dispatcher's reactor watches (Ring.Watch);
// one worker is killed mid-run, and every job is still done once.
func TestWorkerPoolOverRings(t *testing.T) {
	cmd := exec.CommandContext(t.Context(), build(t), "-workers", "3", "-jobs", "60", "-kill-one", "-ring")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("workerpool -ring: %v\n%s\nstderr:\n%s", err, out, stderr.String())
	}
	s := string(out)
	for _, want := range []string{"jobs and results on rings in shared memory", "all 60 jobs done exactly once", "wait group: 0 workers left", "was killed with SIGKILL"} {
		if !strings.Contains(s, want) {
			t.Errorf("output lacks %q:\n%s", want, s)
		}
	}
	if left := leftOf(t, cmd.Process.Pid); len(left) > 0 {
		t.Errorf("objects left behind: %v", left)
	}
}
