package main

import (
	"fmt"
	"os"
	"strings"
	"time"
)

// progress prints a live line to a terminal (or a line a second elsewhere).
type progress struct {
	total int
	tty   bool
	last  time.Time
	shown bool
}

func newProgress(total int) *progress {
	st, err := os.Stderr.Stat()
	return &progress{total: total, tty: err == nil && st.Mode()&os.ModeCharDevice != 0}
}

func (p *progress) line(d *dispatcher) string {
	rate := float64(d.done) / time.Since(d.start).Seconds()
	var per []string
	for n := 1; n <= d.nextNum; n++ {
		per = append(per, fmt.Sprint(d.stats.Ptr().Workers[n].Done.Load()))
	}
	return fmt.Sprintf("jobs %d/%d done, %.0f jobs/s, disk %d/%d busy, per worker: %s",
		d.done, p.total, rate, d.stats.Ptr().InDisk.Load(), d.slots, strings.Join(per, " "))
}

func (p *progress) show(d *dispatcher) {
	switch {
	case p.tty:
		fmt.Fprintf(os.Stderr, "\r%s  ", p.line(d))
		p.shown = true
	case time.Since(p.last) >= time.Second:
		fmt.Fprintln(os.Stderr, p.line(d))
		p.last = time.Now()
	}
}

func (p *progress) finish(d *dispatcher) {
	if p.tty && p.shown {
		fmt.Fprintf(os.Stderr, "\r%s\n", p.line(d))
	}
}

// summary prints the table of workers and what happened.
func (d *dispatcher) summary() {
	elapsed := time.Since(d.start)
	s := d.stats.Ptr()
	fmt.Printf("\n%-7s %-8s %6s %10s %10s\n", "worker", "pid", "jobs", "busy", "per job")
	total := int64(0)
	for n := 1; n <= d.nextNum; n++ {
		w := &s.Workers[n]
		jobs, busy := w.Done.Load(), time.Duration(w.BusyNs.Load())
		total += jobs
		per := time.Duration(0)
		if jobs > 0 {
			per = busy / time.Duration(jobs)
		}
		fmt.Printf("%-7d %-8d %6d %10s %10s\n", n, w.PID.Load(), jobs, busy.Round(time.Millisecond), per.Round(time.Microsecond))
	}
	fmt.Println()
	if d.killed != "" {
		fmt.Println(d.killed)
	}
	for _, r := range d.recovered {
		fmt.Println(r)
	}
	free, _ := d.disk.Value()
	left, _ := d.wg.Count()
	fmt.Printf("disk semaphore: at most %d of %d slots in use at once, %d free at the end\n", s.MaxDisk.Load(), d.slots, free)
	fmt.Printf("wait group: %d workers left\n", left)
	fmt.Printf("all %d jobs done exactly once (%d results counted by the workers) in %s, %.0f jobs/s; objects removed\n",
		d.done, total, elapsed.Round(time.Millisecond), float64(d.done)/elapsed.Seconds())
}
