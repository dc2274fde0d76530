package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ipcchan/ipcchan/ipcchan"
	"github.com/ipcchan/ipcchan/loop"
)

// dispatcher is the state of the main process. Its methods run on the
// reactor's goroutine, one at a time.
type dispatcher struct {
	nJobs, slots int
	killOne      bool
	exe          string
	on           names
	l            *loop.Loop

	tr      *transport
	jobs    queue[Job]
	results queue[Result]
	wg      *ipcchan.WaitGroup
	stats   *ipcchan.Shm[Stats]
	disk    *ipcchan.Semaphore

	next        int          // next new job to send
	resend      []int        // jobs to send again
	resent      map[int]bool // jobs sent again after a worker died, or that had no result
	sending     bool         // the jobs queue is watched for room
	stopSending func()       // ends the watch for room in the jobs queue
	ended       bool         // CloseSend done
	got         []bool
	done        int
	lastResult  time.Time
	workers     map[int]*proc // by worker number
	nextNum     int
	live        int
	killed      string // what -kill-one did, for the summary
	recovered   []string
	failed      error
	stopped     bool // interrupted
	start       time.Time
	progress    *progress
}

type proc struct {
	num         int
	cmd         *exec.Cmd
	pidfd       int
	replacement int // the worker it replaced, or 0
	fate        string
}

func runDispatcher(nWorkers, nJobs, slots int, killOne bool, natsURL string, ring bool) error {
	if nWorkers < 1 || nWorkers > maxWorkers/2 || nJobs < 1 || slots < 1 {
		return fmt.Errorf("-workers must be 1 to %d, -jobs and -slots at least 1", maxWorkers/2)
	}
	tr, err := connect(natsURL, ring)
	if err != nil {
		return err
	}
	defer tr.close()
	d := &dispatcher{tr: tr, nJobs: nJobs, slots: slots, killOne: killOne, workers: map[int]*proc{}, got: make([]bool, nJobs), resent: map[int]bool{}}
	d.on = namesFor(fmt.Sprintf("/ipcchan-workerpool-%d", os.Getpid()))
	defer d.removeAll()
	if err := d.create(); err != nil {
		return err
	}
	if d.exe, err = os.Executable(); err != nil {
		return err
	}
	if d.l, err = loop.New(); err != nil {
		return err
	}
	defer d.l.Close()
	// Ctrl-C from here on is an event of the loop, before anything starts.
	stopSignals := d.l.Signal(func(os.Signal) { d.stopped = true; d.l.Stop() }, os.Interrupt, syscall.SIGTERM)
	defer stopSignals()

	fmt.Printf("dispatcher %d: %d jobs, %d worker processes, %d disk slots; objects %s-*; jobs and results on %v\n",
		os.Getpid(), nJobs, nWorkers, slots, d.on.jobs[:len(d.on.jobs)-5], tr)
	d.start, d.lastResult = time.Now(), time.Now()
	d.progress = newProgress(nJobs)
	for range nWorkers {
		if err := d.startWorker(0); err != nil {
			d.killAll()
			return err
		}
	}
	if err := d.watch(); err != nil {
		d.killAll()
		return err
	}
	d.l.Run(context.Background())
	d.progress.finish(d)
	if d.stopped || d.failed != nil {
		d.killAll()
		if d.failed != nil {
			return d.failed
		}
		return errors.New("interrupted; all objects removed")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := d.wg.Wait(ctx); err != nil {
		return fmt.Errorf("workers did not all finish: %w", err)
	}
	d.summary()
	return nil
}

// create makes the five objects of the run, exclusively.
func (d *dispatcher) create() (err error) {
	excl := []ipcchan.Option{ipcchan.Create(), ipcchan.Exclusive()}
	if d.jobs, err = openQueue[Job](d.tr, d.on.jobs, excl...); err != nil {
		return err
	}
	if d.results, err = openQueue[Result](d.tr, d.on.results, excl...); err != nil {
		return err
	}
	if d.wg, err = ipcchan.OpenWaitGroup(d.on.workers, excl...); err != nil {
		return err
	}
	if d.stats, err = ipcchan.OpenShm[Stats](d.on.stats, excl...); err != nil {
		return err
	}
	d.disk, err = ipcchan.OpenSemaphore(d.on.disk, append(excl, ipcchan.Value(uint(d.slots)))...)
	return err
}

// removeAll closes and removes whatever create made.
func (d *dispatcher) removeAll() {
	for _, c := range []interface{ Close() error }{d.jobs, d.results, d.wg, d.stats, d.disk} {
		if c != nil && !isNil(c) {
			c.Close()
		}
	}
	d.tr.unlink(d.on.jobs)
	d.tr.unlink(d.on.results)
	ipcchan.UnlinkWaitGroup(d.on.workers)
	ipcchan.UnlinkShm(d.on.stats)
	ipcchan.UnlinkSemaphore(d.on.disk)
}

func isNil(c any) bool {
	switch x := c.(type) {
	case *ipcchan.WaitGroup:
		return x == nil
	case *ipcchan.Shm[Stats]:
		return x == nil
	case *ipcchan.Semaphore:
		return x == nil
	}
	return false
}

// watcher is a queue the reactor can watch: a POSIX queue or a ring (the
// same Watch for both, and for every ipcchan object).
type watcher interface {
	Watch(l *loop.Loop, ev loop.Events, cb func(loop.Events)) (stop func(), err error)
}

// watch registers the reactor's sources: the results queue, room in the
// jobs queue, a timer, and the stop signals. A POSIX queue or a ring is
// watched (Watch); a NATS queue has no readiness to watch, so a goroutine
// receives its results and posts each to the reactor, and jobs are sent at
// once (the stream holds them all).
func (d *dispatcher) watch() error {
	if r, ok := d.results.(watcher); ok {
		if _, err := r.Watch(d.l, loop.Readable, func(loop.Events) { d.readResults() }); err != nil {
			return err
		}
	} else {
		go d.pullResults()
	}
	if err := d.setSending(true); err != nil {
		return err
	}
	_, err := d.l.Every(100*time.Millisecond, d.tick)
	return err
}

// pullResults receives results from a queue without a descriptor and
// hands each to the reactor, until the queue is closed.
func (d *dispatcher) pullResults() {
	for {
		r, err := d.results.Receive(context.Background())
		if errors.Is(err, ipcchan.ErrClosed) {
			return
		}
		if !d.l.Post(func() { d.gotResult(r, err) }) || err != nil {
			return
		}
	}
}

// startWorker starts a worker process, watched through a pidfd.
func (d *dispatcher) startWorker(replaces int) error {
	d.nextNum++
	n := d.nextNum
	if n >= maxWorkers {
		return errors.New("too many workers started")
	}
	d.stats.Ptr().Workers[n].Current.Store(-1)
	if err := d.wg.Add(1); err != nil {
		return err
	}
	args := []string{"-worker", strconv.Itoa(n), "-prefix", d.on.jobs[:len(d.on.jobs)-5], "-nats", d.tr.url}
	if d.tr.ring {
		args = append(args, "-ring")
	}
	cmd := exec.Command(d.exe, args...)
	cmd.Stderr = os.Stderr
	// A worker must not outlive a dispatcher that dies without cleaning up.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		d.wg.Done()
		return err
	}
	pidfd, err := unix.PidfdOpen(cmd.Process.Pid, unix.PIDFD_NONBLOCK)
	if err != nil {
		return err
	}
	p := &proc{num: n, cmd: cmd, pidfd: pidfd, replacement: replaces}
	d.workers[n] = p
	d.live++
	return d.l.Add(pidfd, loop.Readable, func(loop.Events) { d.exited(p) })
}

// sendJobs fills the jobs queue while it has room.
func (d *dispatcher) sendJobs() {
	for len(d.resend) > 0 || d.next < d.nJobs {
		id := d.next
		if len(d.resend) > 0 {
			id = d.resend[0]
		}
		job := Job{ID: id, Data: "job " + strconv.Itoa(id), Rounds: 45000 + id%7*9000}
		err := d.jobs.TrySend(job)
		if errors.Is(err, ipcchan.ErrFull) {
			return // the reactor calls again when there is room
		}
		if err != nil {
			d.fail(err)
			return
		}
		if len(d.resend) > 0 {
			d.resend = d.resend[1:]
		} else {
			d.next++
		}
	}
	if err := d.setSending(false); err != nil {
		d.fail(err)
	}
}

// setSending starts (on) or stops the watch for room in the jobs queue.
func (d *dispatcher) setSending(on bool) error {
	if on == d.sending {
		return nil
	}
	d.sending = on
	w, ok := d.jobs.(watcher)
	switch {
	case !ok && on:
		d.l.Post(d.sendJobs)
	case !ok:
	case on:
		stop, err := w.Watch(d.l, loop.Writable, func(loop.Events) { d.sendJobs() })
		if err != nil {
			return err
		}
		d.stopSending = stop
	default:
		d.stopSending()
	}
	return nil
}

// readResults takes the results that have arrived.
func (d *dispatcher) readResults() {
	for {
		r, err := d.results.TryReceive()
		if errors.Is(err, ipcchan.ErrEmpty) {
			return
		}
		if !d.gotResult(r, err) {
			return
		}
	}
}

// gotResult counts one result, and ends the stream of jobs after the
// last; it reports whether the run goes on.
func (d *dispatcher) gotResult(r Result, err error) bool {
	if err != nil {
		d.fail(err)
		return false
	}
	if r.JobID < 0 || r.JobID >= d.nJobs {
		d.fail(fmt.Errorf("result for unknown job %d", r.JobID))
		return false
	}
	if d.got[r.JobID] {
		if d.resent[r.JobID] {
			// At least once: the worker that died had sent this result
			// just before, and it was still on its way when the job was
			// sent again. Count the job once.
			d.recovered = append(d.recovered, fmt.Sprintf("job %d had a second result, from its second run: its first worker had sent one just before it died; counted once", r.JobID))
			return true
		}
		d.fail(fmt.Errorf("job %d done twice", r.JobID))
		return false
	}
	d.got[r.JobID] = true
	d.done++
	d.lastResult = time.Now()
	if d.killOne && d.killed == "" && d.done >= d.nJobs/3 {
		d.killBusyWorker()
	}
	if d.done == d.nJobs && !d.ended {
		d.ended = true
		if err := d.jobs.CloseSend(context.Background()); err != nil { // the workers' loops end
			d.fail(err)
			return false
		}
	}
	return true
}

// killBusyWorker kills a worker that holds a job whose result has not
// come yet, for -kill-one. (A worker that has sent its result but not
// yet cleared Current is not "busy": killing it would show no recovery.)
func (d *dispatcher) killBusyWorker() {
	for _, p := range d.workers {
		if job := d.stats.Ptr().Workers[p.num].Current.Load(); job >= 0 && !d.got[job] && p.fate == "" {
			p.cmd.Process.Signal(syscall.SIGKILL)
			d.killed = fmt.Sprintf("worker %d (pid %d) was killed with SIGKILL while working on job %d", p.num, p.cmd.Process.Pid, job)
			return
		}
	}
}

// exited runs when a worker's pidfd says it is gone.
func (d *dispatcher) exited(p *proc) {
	d.l.Remove(p.pidfd)
	unix.Close(p.pidfd)
	err := p.cmd.Wait()
	d.live--
	delete(d.workers, p.num)
	if err == nil && d.ended {
		p.fate = "finished"
		d.finished(p)
		return
	}
	// Died before the end of the work: take back what it held.
	st := &d.stats.Ptr().Workers[p.num]
	p.fate = fmt.Sprintf("died (%v)", err)
	var did []string
	if job := st.Current.Load(); job >= 0 && !d.got[job] {
		d.resendJob(int(job))
		if err := d.setSending(true); err != nil {
			d.fail(err)
		}
		did = append(did, fmt.Sprintf("job %d sent again", job))
	}
	if st.InDisk.Load() {
		d.stats.Ptr().InDisk.Add(-1)
		d.disk.Release()
		did = append(did, "its disk token given back")
	}
	d.wg.Done()
	did = append(did, "its wait group count given back")
	if d.done < d.nJobs {
		if err := d.startWorker(p.num); err != nil {
			d.fail(err)
			return
		}
		did = append(did, fmt.Sprintf("worker %d started in its place", d.nextNum))
	}
	d.recovered = append(d.recovered, fmt.Sprintf("worker %d (pid %d) %s: %s", p.num, p.cmd.Process.Pid, p.fate, joinAnd(did)))
	d.finished(p)
}

func (d *dispatcher) finished(*proc) {
	if d.live == 0 && d.done == d.nJobs {
		d.l.Stop()
	}
}

// tick shows progress and, if results stop coming while jobs are missing,
// sends them again: a worker killed in the instant between taking a job
// and noting it in Stats leaves no trace but the missing result.
func (d *dispatcher) tick() {
	d.progress.show(d)
	if d.next < d.nJobs || len(d.resend) > 0 || d.done == d.nJobs || time.Since(d.lastResult) < time.Second {
		return
	}
	for _, p := range d.workers {
		if d.stats.Ptr().Workers[p.num].Current.Load() >= 0 {
			return // someone is still working
		}
	}
	if n, err := length(d.jobs); err != nil || n > 0 {
		return
	}
	for id, ok := range d.got {
		if !ok {
			d.resendJob(id)
		}
	}
	d.recovered = append(d.recovered, fmt.Sprintf("%d jobs had no result and no worker: sent again", len(d.resend)))
	d.lastResult = time.Now()
	if err := d.setSending(true); err != nil {
		d.fail(err)
	}
}

// resendJob queues job to be sent again; a second result for it is then
// expected, not an error.
func (d *dispatcher) resendJob(job int) {
	d.resend = append(d.resend, job)
	d.resent[job] = true
}

func (d *dispatcher) fail(err error) {
	if d.failed == nil {
		d.failed = err
	}
	d.l.Stop()
}

func (d *dispatcher) killAll() {
	for _, p := range d.workers {
		p.cmd.Process.Kill()
		p.cmd.Wait()
		unix.Close(p.pidfd)
	}
}

func joinAnd(s []string) string {
	switch len(s) {
	case 0:
		return ""
	case 1:
		return s[0]
	}
	out := s[0]
	for _, e := range s[1 : len(s)-1] {
		out += ", " + e
	}
	return out + " and " + s[len(s)-1]
}
