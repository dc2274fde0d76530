package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"time"

	"github.com/ipcchan/ipcchan/ipcchan"
)

// runWorker takes jobs until the end of the stream.
func runWorker(n int, on names, natsURL string, ring bool) error {
	signal.Ignore(os.Interrupt) // Ctrl-C is the dispatcher's to handle
	ctx := context.Background()
	tr, err := connect(natsURL, ring)
	if err != nil {
		return err
	}
	defer tr.close()
	jobs, err := openQueue[Job](tr, on.jobs)
	if err != nil {
		return err
	}
	defer jobs.Close()
	results, err := openQueue[Result](tr, on.results)
	if err != nil {
		return err
	}
	defer results.Close()
	wg, err := ipcchan.OpenWaitGroup(on.workers)
	if err != nil {
		return err
	}
	defer wg.Close()
	stats, err := ipcchan.OpenShm[Stats](on.stats)
	if err != nil {
		return err
	}
	defer stats.Close()
	disk, err := ipcchan.OpenSemaphore(on.disk)
	if err != nil {
		return err
	}
	defer disk.Close()

	st := stats.Ptr()
	me := &st.Workers[n]
	me.PID.Store(int32(os.Getpid()))
	me.Current.Store(-1)
	// All reads a job only when the loop asks for one: a worker never holds
	// a job it has not started, so a dead worker holds at most the one in
	// Current.
	for job, err := range jobs.All(ctx) {
		if err != nil {
			return err
		}
		me.Current.Store(int64(job.ID))
		start := time.Now()
		sum := work(job)
		if err := disk.Acquire(ctx); err != nil {
			return err
		}
		me.InDisk.Store(true)
		now := st.InDisk.Add(1)
		for m := st.MaxDisk.Load(); now > m && !st.MaxDisk.CompareAndSwap(m, now); m = st.MaxDisk.Load() {
		}
		sum = work(Job{Data: string(sum[:]), Rounds: 200}) // "writing"
		st.InDisk.Add(-1)
		me.InDisk.Store(false)
		disk.Release()
		took := time.Since(start)
		if err := results.Send(ctx, Result{JobID: job.ID, Worker: n, Sum: fmt.Sprintf("%x", sum[:4]), Took: took}); err != nil {
			return err
		}
		me.Done.Add(1)
		me.BusyNs.Add(int64(took))
		me.Current.Store(-1)
	}
	return wg.Done()
}
