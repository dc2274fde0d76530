package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"time"
)

// The worker-pool demo (examples/workerpool), whole, on both transports.

// Where the demo's queues are.
const overNATS, overPOSIX = true, false

var jobsDone = regexp.MustCompile(`all (\d+) jobs done exactly once .* in (\S+), `)

// workerpool runs the worker-pool demo with n jobs, over NATS (the
// embedded server) or POSIX queues, and returns its time per job.
func workerpool(nats bool) measurement {
	return func(b *bench, n int) (float64, error) {
		bin := filepath.Join(b.dir, "workerpool")
		if b.workerpoolBuilt == "" {
			build := exec.Command("go", "build", "-o", bin, "./examples/workerpool")
			_, file, _, _ := runtime.Caller(0) // this file, in the module's cmd/ipcbench
			build.Dir = filepath.Join(filepath.Dir(file), "..", "..")
			if out, err := build.CombinedOutput(); err != nil {
				return 0, fmt.Errorf("go build examples/workerpool: %v\n%s", err, out)
			}
			b.workerpoolBuilt = bin
		}
		args := []string{"-jobs", strconv.Itoa(n)}
		if nats {
			s, err := b.nats()
			if err != nil {
				return 0, err
			}
			args = append(args, "-nats", s.url)
		}
		out, err := exec.Command(bin, args...).Output()
		if err != nil {
			return 0, fmt.Errorf("workerpool %v: %w\n%s", args, err, out)
		}
		var last []string
		sc := bufio.NewScanner(bytes.NewReader(out))
		for sc.Scan() {
			if m := jobsDone.FindStringSubmatch(sc.Text()); m != nil {
				last = m
			}
		}
		if last == nil {
			return 0, fmt.Errorf("workerpool %v did not say it was done:\n%s", args, out)
		}
		d, err := time.ParseDuration(last[2])
		if err != nil {
			return 0, err
		}
		jobs, _ := strconv.Atoi(last[1])
		return float64(d.Nanoseconds()) / float64(jobs), nil
	}
}
