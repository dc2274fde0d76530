// Command workerpool is ipcchan's tour: a dispatcher process starts worker
// processes (re-executing itself) and drives them with every kind of
// ipcchan object:
//
//   - a Queue[Job] the workers take jobs from, and a Queue[Result] back;
//   - a WaitGroup counting the live workers;
//   - a Shm[Stats] where each worker counts its work for all to see;
//   - a Semaphore that lets at most -slots workers use the "disk" at once.
//
// The dispatcher's main loop is a loop reactor: it sends jobs when the jobs
// queue has room, reads results when they arrive, and watches each worker
// through a pidfd. With -kill-one it kills a busy worker with SIGKILL
// mid-run, and recovers: the job that worker held is sent again, its
// semaphore token and WaitGroup count are given back, and a replacement
// starts; every job is still done exactly once.
//
//	go run ./examples/workerpool [-workers 4] [-jobs 400] [-slots 2] [-kill-one] [-ring | -nats URL]
//
// With -ring, the jobs and results travel on rings in shared memory
// (ipcchan.Ring), which the dispatcher's reactor watches as it watches the
// queues' descriptors (Ring.Watch).
//
// With -nats nats://host:4222, the jobs and results travel on a NATS
// JetStream server (package natsq) instead of POSIX queues: the workers'
// code is the same, written against ipcchan.Sender and ipcchan.Receiver;
// only the Open call differs (transport.go).
//
// Everything it creates is removed at the end, and on Ctrl-C.
package main

import (
	"crypto/sha256"
	"flag"
	"fmt"
	"os"
	"sync/atomic"
	"time"
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
	Worker int // the worker's number
	Sum    string
	Took   time.Duration
}

// maxWorkers bounds the workers, replacements included (Stats has a slot
// for each).
const maxWorkers = 64

// Stats is shared by the dispatcher and all workers.
type Stats struct {
	Workers [maxWorkers]WorkerStats
	InDisk  atomic.Int32 // workers using the disk now
	MaxDisk atomic.Int32 // most at once
}

// WorkerStats is one worker's slot.
type WorkerStats struct {
	PID     atomic.Int32
	Done    atomic.Int64
	BusyNs  atomic.Int64
	Current atomic.Int64 // the job in hand, -1 when none
	InDisk  atomic.Bool  // holds a disk token
}

// names of the objects of one run.
type names struct{ jobs, results, workers, stats, disk string }

func namesFor(prefix string) names {
	return names{prefix + "-jobs", prefix + "-results", prefix + "-workers", prefix + "-stats", prefix + "-disk"}
}

func main() {
	workers := flag.Int("workers", 4, "number of worker processes")
	jobs := flag.Int("jobs", 400, "number of jobs")
	slots := flag.Int("slots", 2, "how many workers may use the disk at once (the semaphore's count)")
	killOne := flag.Bool("kill-one", false, "kill a busy worker with SIGKILL mid-run, and show the recovery")
	worker := flag.Int("worker", 0, "internal: run as worker number N")
	natsURL := flag.String("nats", "", "carry jobs and results on the NATS JetStream server at this URL (nats://host:4222) instead of POSIX queues")
	ring := flag.Bool("ring", false, "carry jobs and results on rings in shared memory (ipcchan.Ring) instead of POSIX queues")
	prefix := flag.String("prefix", "", "internal: the names' prefix")
	flag.Parse()

	var err error
	if *worker > 0 {
		err = runWorker(*worker, namesFor(*prefix), *natsURL, *ring)
	} else {
		if *ring && *natsURL != "" {
			err = fmt.Errorf("-ring and -nats: choose one transport")
		} else {
			err = runDispatcher(*workers, *jobs, *slots, *killOne, *natsURL, *ring)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "workerpool:", err)
		os.Exit(1)
	}
}

// work is the job itself: some hashing, then a turn at the disk.
func work(job Job) [32]byte {
	sum := sha256.Sum256([]byte(job.Data))
	for range job.Rounds {
		sum = sha256.Sum256(sum[:])
	}
	return sum
}
