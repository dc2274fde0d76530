package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// A target is one of the project's performance goals, evaluated.
type target struct {
	Name  string  `json:"name"`
	Value float64 `json:"value"` // a ratio, or ns
	Shown string  `json:"shown"`
	Limit string  `json:"limit"`
	Met   bool    `json:"met"`
	Note  string  `json:"note,omitempty"`
}

func find(rs []*result, scenario, impl string) *result {
	for _, r := range rs {
		if strings.HasPrefix(r.Scenario, scenario) && r.Impl == impl && len(r.Samples) > 0 {
			return r
		}
	}
	return nil
}

// evaluate checks the targets against the medians of this run.
func evaluate(rs []*result) []target {
	var ts []target
	ratio := func(name, scenario, a, b string, limit float64, atMost bool, note string) {
		ra, rb := find(rs, scenario, a), find(rs, scenario, b)
		if ra == nil || rb == nil {
			return
		}
		v := ra.Median / rb.Median
		t := target{Name: name, Value: v, Shown: fmt.Sprintf("%.2f×", v), Note: note}
		if atMost {
			t.Limit, t.Met = fmt.Sprintf("≤ %.2f×", limit), v <= limit
		} else {
			// Throughput: the inverse of time per message.
			v = rb.Median / ra.Median
			t.Value, t.Shown, t.Limit, t.Met = v, fmt.Sprintf("%.2f×", v), fmt.Sprintf("≥ %.2f×", limit), v >= limit
		}
		ts = append(ts, t)
	}
	const pp = "queue ping-pong"
	latencyNote := "the same system calls as the raw loop (one per operation: a wait sleeps in mq_timedreceive); the rest is Go's and ipcchan's own cost per call, and the timer of the 10 ms slice (docs/BENCHMARKS.md)"
	ratio("queue latency vs raw Go syscalls", pp, "ipcchan Queue[[]byte]", "raw mq syscalls from Go", 1.2, true, latencyNote)
	ratio("queue latency vs C", pp, "ipcchan Queue[[]byte]", "C, glibc mq_send/mq_receive", 1.3, true, latencyNote)
	allocNote := "Receive returns a new slice per message: allocating and filling it is the difference (ReceiveAppend reuses one)"
	for _, t := range []struct {
		size            string
		receive, append float64
	}{{"64 B", 0.9, 0.95}, {"1 KiB", 0.8, 0.9}, {"8 KiB", 0.9, 0.9}} {
		sc := "queue throughput " + t.size
		ratio("queue throughput "+t.size+", Receive, vs raw", sc, "ipcchan Queue[[]byte].Receive", "raw mq syscalls from Go", t.receive, false, allocNote)
		ratio("queue throughput "+t.size+", ReceiveAppend, vs raw", sc, "ipcchan Queue[[]byte].ReceiveAppend", "raw mq syscalls from Go", t.append, false, latencyNote)
	}
	const tick = "typed stream of a 64-byte struct"
	ratio("Layout struct stream vs raw 64 B", tick, "ipcchan Queue[Tick] (codec.Layout)", "raw mq syscalls from Go, 64 B", 0.9, false, latencyNote)
	if q, g := find(rs, tick, "ipcchan Queue[Tick] (codec.Layout)"), find(rs, tick, "Unix socket + encoding/gob"); q != nil && g != nil {
		v := g.Median / q.Median
		ts = append(ts, target{Name: "Layout struct stream vs Unix socket + gob (reported; the ring's to beat)", Value: v, Shown: fmt.Sprintf("%.2f× as fast", v),
			Limit: "report", Met: true, Note: "a buffered stream socket carries many messages per system call; a queue takes one per message"})
	}
	for _, k := range []struct{ scenario, name, note string }{
		{"typed request/response", "typed queue vs Unix socket + gob, request/response", ""},
		{"typed stream", "typed queue vs Unix socket + gob, streaming", "a buffered stream socket carries many messages per system call; a queue takes at least one per message"},
	} {
		if q, g := find(rs, k.scenario, "ipcchan Queue[Order] (msgpack)"), find(rs, k.scenario, "Unix socket + encoding/gob"); q != nil && g != nil {
			v := g.Median / q.Median
			ts = append(ts, target{Name: k.name, Value: v, Shown: fmt.Sprintf("%.2f× as fast", v), Limit: "faster", Met: q.Median < g.Median, Note: k.note})
		}
	}
	const rsc = "ring stream of a 64-byte struct"
	if ring, g := find(rs, rsc, "ipcchan Ring[Tick]"), find(rs, rsc, "Unix socket + encoding/gob"); ring != nil && g != nil {
		v := g.Median / ring.Median
		ts = append(ts, target{Name: "ring struct stream vs Unix socket + gob", Value: v, Shown: fmt.Sprintf("%.2f× as fast", v), Limit: "≥ 4× as fast", Met: v >= 4})
	}
	ratio("ring struct stream vs C SPSC ring, busy-polling", rsc, "ipcchan Ring[Tick]", "C, SPSC ring in shm, busy-polling", 0.5, false,
		"an MPMC ring: a compare-and-swap to claim each slot on each side, where the SPSC ring stores an index")
	ratio("ring 64 B []byte stream vs C SPSC ring, futex", "ring stream of 64 B []byte", "ipcchan Ring[[]byte]", "C, SPSC ring in shm, futex wake-ups", 0.5, false,
		"Receive of a []byte allocates the message")
	const rp = "ring ping-pong"
	ratio("ring latency vs C futex ping-pong", rp, "ipcchan Ring[Tick]", "C, futex ping-pong in shm", 1.2, true, "")
	ratio("ring latency vs Queue latency", rp, "ipcchan Ring[Tick]", "ipcchan Queue[[]byte] 64 B", 0.6, true, "")
	ratio("ring 2x2 total vs 1x1", "ring, 2 senders", "ipcchan Ring[Tick], 2 x 2", "ipcchan Ring[Tick], 1 x 1", 0.5, false,
		"four parties on two cores")
	const rb = "ring batches of a 64-byte struct"
	ratio("ring batches of 64 vs C SPSC ring, release/acquire", rb, "ipcchan Ring[Tick], batches of 64", "C, SPSC ring, release/acquire index stores", 1.0, false,
		"a batch of 64 claims and publishes once, but the sender still reads each slot's state word and the receiver writes it: some six cache-line transactions a message where the C ring has two (docs/BENCHMARKS.md)")
	ratio("ring Send/Receive vs Go SPSC ring, a store per message", rb, "ipcchan Ring[Tick], Send/Receive", "Go SPSC ring, atomic.Store per message", 0.75, false,
		"each side of an MPMC ring claims its slot with a compare-and-swap and publishes or frees it with an XCHG, and a 64-byte message with its slot header is two cache lines, where each side of the SPSC ring stores an index and a message is one line (docs/BENCHMARKS.md)")
	ratio("ring 2x2 total vs 1x1, batches of 64", "ring batches of 64, 2 senders", "ipcchan Ring[Tick], 2 x 2, batches of 64", "ipcchan Ring[Tick], 1 x 1, batches of 64", 0.5, false,
		"four parties on two cores")
	if bl := find(rs, "a ring receiver blocked", "ipcchan Ring[Tick].Receive"); bl != nil {
		pct := bl.Median / 1e9 * 100
		ts = append(ts, target{Name: "a ring receiver blocked for 1 s", Value: pct, Shown: fmt.Sprintf("%.3f%% of a core", pct), Limit: "< 1%", Met: pct < 1})
	}
	ratio("semaphore ping-pong vs C", "semaphore ping-pong", "ipcchan Semaphore", "C, glibc sem_post/sem_wait", 1.2, true, "")
	ratio("parked wake-up vs a queue waiter's on the reactor", "a waiter woken without", "ipcchan Semaphore, parked on the shared waiter",
		"ipcchan Queue[[]byte], on the reactor", 1.25, true,
		"a goroutine parked alone on its slot is woken by the kernel itself (it leads); with others parked, the leader's wake-up hops to the goroutine it wakes")
	if m := find(rs, "mutex lock+unlock, uncontended", "ipcchan Mutex"); m != nil {
		ts = append(ts, target{Name: "uncontended mutex lock+unlock", Value: m.Median, Shown: fmt.Sprintf("%.1f ns", m.Median), Limit: "≤ 40 ns", Met: m.Median <= 40})
	}
	topicTargets(ratio)
	natsTargets(ratio)
	natsCallTargets(ratio)
	extra := largeTargets(rs, ratio) // ratio appends to ts as it goes
	return append(ts, extra...)
}

// value prints a measurement in its unit: bytes, or else ns as a time.
func value(unit string, v float64) string {
	if strings.HasPrefix(unit, "bytes") {
		return fmt.Sprintf("%.1f MiB", v/(1<<20))
	}
	return duration(v)
}

// duration prints ns readably.
func duration(ns float64) string {
	switch {
	case ns >= 1e6:
		return fmt.Sprintf("%.2f ms", ns/1e6)
	case ns >= 1e3:
		return fmt.Sprintf("%.2f µs", ns/1e3)
	case ns >= 10:
		return fmt.Sprintf("%.1f ns", ns)
	}
	return fmt.Sprintf("%.2f ns", ns)
}

// printTable prints the results, scenario by scenario, then the targets.
func printTable(w io.Writer, rep *report) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "\nSCENARIO\tIMPLEMENTATION\tMEDIAN\tSPREAD (min–max)\tIPCCHAN ÷ THIS")
	last := ""
	for i, r := range rep.Results {
		sc := ""
		if r.Scenario != last {
			if last != "" {
				fmt.Fprintln(tw, "\t\t\t\t")
			}
			sc, last = r.Scenario, r.Scenario
		}
		if r.Skipped != "" {
			fmt.Fprintf(tw, "%s\t%s\tskipped: %s\t\t\n", sc, r.Impl, r.Skipped)
			continue
		}
		rel := ""
		if !r.Ipcchan {
			var parts []string
			for _, o := range rep.Results[max(0, i-8):min(len(rep.Results), i+8)] {
				if o.Scenario == r.Scenario && o.Ipcchan && len(o.Samples) > 0 {
					parts = append(parts, fmt.Sprintf("%.2f×", o.Median/r.Median))
				}
			}
			rel = strings.Join(parts, " / ")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s–%s\t%s\n", sc, r.Impl, value(r.Unit, r.Median), value(r.Unit, r.Min), value(r.Unit, r.Max), rel)
	}
	tw.Flush()
	fmt.Fprintln(w, "\n(time per operation; a ratio above 1 means ipcchan takes longer; for a scenario with two ipcchan rows, both ratios are given in order)")
	fmt.Fprintln(w, "\nTARGETS")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, t := range rep.Targets {
		mark := "met"
		if !t.Met {
			mark = "MISSED"
		}
		note := ""
		if !t.Met && t.Note != "" {
			note = "(" + t.Note + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\ttarget %s\t%s\t%s\n", t.Name, t.Shown, t.Limit, mark, note)
	}
	tw.Flush()
	for _, n := range rep.Notes {
		fmt.Fprintln(w, "note:", n)
	}
	fmt.Fprintf(w, "\n%d repetitions per measurement, %s in all\n", rep.Reps, rep.Duration)
}
