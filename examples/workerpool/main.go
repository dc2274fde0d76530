// Command workerpool is ipcchan's tour: a dispatcher process starts worker
// processes (re-executing itself), hands them jobs on one typed queue and
// collects their results on another, then prints a summary.
//
//	go run ./examples/workerpool [-workers 4] [-jobs 400]
//
// Everything it creates is removed at the end, and on Ctrl-C.
package main

import (
	"context"
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/ipcchan/ipcchan/ipcchan"
)

// Job is what the dispatcher sends: hash Data Rounds times.
type Job struct {
	ID     int
	Data   string
	Rounds int
}

// Result is what a worker sends back.
type Result struct {
	JobID  int
	Worker int // the worker's number, 1..N
	PID    int
	Sum    string // first bytes of the final hash, in hex
	Took   time.Duration
}

func main() {
	workers := flag.Int("workers", 4, "number of worker processes")
	jobs := flag.Int("jobs", 400, "number of jobs")
	worker := flag.Int("worker", 0, "internal: run as worker number N")
	jobsQ := flag.String("jobs-queue", "", "internal: the jobs queue")
	resultsQ := flag.String("results-queue", "", "internal: the results queue")
	flag.Parse()

	var err error
	if *worker > 0 {
		err = runWorker(*worker, *jobsQ, *resultsQ)
	} else {
		err = runDispatcher(*workers, *jobs)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "workerpool:", err)
		os.Exit(1)
	}
}

func runWorker(n int, jobsName, resultsName string) error {
	// A worker ends at the end of the jobs stream; SIGINT is the
	// dispatcher's to handle.
	signal.Ignore(os.Interrupt)
	ctx := context.Background()
	jobs, err := ipcchan.OpenQueue[Job](jobsName)
	if err != nil {
		return err
	}
	defer jobs.Close()
	results, err := ipcchan.OpenQueue[Result](resultsName)
	if err != nil {
		return err
	}
	defer results.Close()
	// All reads a job only when the loop asks for one: a worker never
	// holds a job it has not started.
	for job, err := range jobs.All(ctx) {
		if err != nil {
			return err
		}
		start := time.Now()
		sum := []byte(job.Data)
		for range job.Rounds {
			h := sha256.Sum256(sum)
			sum = h[:]
		}
		r := Result{JobID: job.ID, Worker: n, PID: os.Getpid(), Sum: fmt.Sprintf("%x", sum[:4]), Took: time.Since(start)}
		if err := results.Send(ctx, r); err != nil {
			return err
		}
	}
	return nil
}

func runDispatcher(nWorkers, nJobs int) error {
	if nWorkers < 1 || nJobs < 0 {
		return errors.New("-workers must be at least 1 and -jobs at least 0")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	prefix := fmt.Sprintf("/ipcchan-workerpool-%d", os.Getpid())
	jobsName, resultsName := prefix+"-jobs", prefix+"-results"
	jobs, err := ipcchan.OpenQueue[Job](jobsName, ipcchan.Create(), ipcchan.Exclusive())
	if err != nil {
		return err
	}
	defer ipcchan.UnlinkQueue(jobsName)
	defer jobs.Close()
	results, err := ipcchan.OpenQueue[Result](resultsName, ipcchan.Create(), ipcchan.Exclusive())
	if err != nil {
		return err
	}
	defer ipcchan.UnlinkQueue(resultsName)
	defer results.Close()

	exe, err := os.Executable()
	if err != nil {
		return err
	}
	var procs []*exec.Cmd
	defer func() {
		for _, p := range procs {
			p.Process.Kill()
			p.Wait()
		}
	}()
	for i := 1; i <= nWorkers; i++ {
		cmd := exec.Command(exe, "-worker", strconv.Itoa(i), "-jobs-queue", jobsName, "-results-queue", resultsName)
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			return err
		}
		procs = append(procs, cmd)
	}
	fmt.Printf("dispatcher %d: %d jobs for %d worker processes, on queues %s and %s\n",
		os.Getpid(), nJobs, nWorkers, jobsName, resultsName)

	start := time.Now()
	sendErr := make(chan error, 1)
	go func() {
		for i := range nJobs {
			if err := jobs.Send(ctx, Job{ID: i, Data: "job " + strconv.Itoa(i), Rounds: 2000 + i%7*500}); err != nil {
				sendErr <- err
				return
			}
		}
		sendErr <- jobs.CloseSend(ctx) // the workers' loops end after the last job
	}()

	progress := newProgress(nJobs, nWorkers)
	done := make([]bool, nJobs)
	for got := 0; got < nJobs; {
		r, err := results.Receive(ctx)
		if err != nil {
			progress.finish()
			if errors.Is(err, context.Canceled) {
				return errors.New("interrupted; queues removed")
			}
			return err
		}
		if r.JobID < 0 || r.JobID >= nJobs || done[r.JobID] {
			return fmt.Errorf("result for unknown or repeated job %d", r.JobID)
		}
		done[r.JobID] = true
		got++
		progress.add(r)
	}
	progress.finish()
	if err := <-sendErr; err != nil {
		return err
	}
	for _, p := range procs {
		if err := p.Wait(); err != nil {
			return fmt.Errorf("worker %d: %v", p.Process.Pid, err)
		}
	}
	procs = nil
	progress.summary(time.Since(start))
	return nil
}

// progress prints a live line to a terminal, and the summary at the end.
type progress struct {
	total, done int
	perWorker   []workerStats
	start, last time.Time
	tty         bool
}

type workerStats struct {
	pid  int
	jobs int
	busy time.Duration
}

func newProgress(total, workers int) *progress {
	st, err := os.Stderr.Stat()
	return &progress{total: total, perWorker: make([]workerStats, workers), start: time.Now(),
		tty: err == nil && st.Mode()&os.ModeCharDevice != 0}
}

func (p *progress) add(r Result) {
	p.done++
	w := &p.perWorker[r.Worker-1]
	w.pid, w.jobs, w.busy = r.PID, w.jobs+1, w.busy+r.Took
	if p.tty && (time.Since(p.last) > 100*time.Millisecond || p.done == p.total) {
		p.last = time.Now()
		fmt.Fprintf(os.Stderr, "\r%s", p.line())
	}
}

func (p *progress) line() string {
	rate := float64(p.done) / time.Since(p.start).Seconds()
	s := fmt.Sprintf("jobs %d/%d done, %.0f jobs/s, per worker:", p.done, p.total, rate)
	for _, w := range p.perWorker {
		s += fmt.Sprintf(" %d", w.jobs)
	}
	return s + "  "
}

func (p *progress) finish() {
	if p.tty {
		fmt.Fprintln(os.Stderr)
	}
}

func (p *progress) summary(elapsed time.Duration) {
	fmt.Printf("\n%-8s %-8s %6s %10s %10s\n", "worker", "pid", "jobs", "busy", "per job")
	for i, w := range p.perWorker {
		per := time.Duration(0)
		if w.jobs > 0 {
			per = w.busy / time.Duration(w.jobs)
		}
		fmt.Printf("%-8d %-8d %6d %10s %10s\n", i+1, w.pid, w.jobs, w.busy.Round(time.Millisecond), per.Round(time.Microsecond))
	}
	fmt.Printf("\nall %d jobs done exactly once in %s (%.0f jobs/s); queues removed\n",
		p.done, elapsed.Round(time.Millisecond), float64(p.done)/elapsed.Seconds())
}
