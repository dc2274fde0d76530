package main

import (
	"fmt"
	"html"
	"math"
	"strings"
)

// bar is one ratio of the chart: ipcchan's time over a baseline's.
type bar struct {
	label string
	ratio float64
	limit float64 // a target to mark, or 0
}

// chartBars picks the latency-like ratios worth a picture.
func chartBars(rep *report) []bar {
	var bars []bar
	add := func(scenario, a, b, label string, limit float64) {
		ra, rb := find(rep.Results, scenario, a), find(rep.Results, scenario, b)
		if ra != nil && rb != nil {
			bars = append(bars, bar{label, ra.Median / rb.Median, limit})
		}
	}
	q := "ipcchan Queue[[]byte]"
	add("queue ping-pong", q, "raw mq syscalls from Go", "queue latency ÷ raw mq syscalls (Go)", 1.2)
	add("queue ping-pong", q, "C, glibc mq_send/mq_receive", "queue latency ÷ C mq_send/mq_receive", 1.3)
	add("queue ping-pong", q, "Go net, Unix socket", "queue latency ÷ Unix socket (Go)", 0)
	add("typed request/response", "ipcchan Queue[Order] (msgpack)", "Unix socket + encoding/gob", "typed request/response ÷ Unix socket + gob", 1)
	add("typed stream of a 64-byte struct", "ipcchan Queue[Tick] (codec.Layout)", "raw mq syscalls from Go, 64 B", "Layout struct stream ÷ raw 64 B (time per message)", 1/0.9)
	add("ring ping-pong", "ipcchan Ring[Tick]", "C, futex ping-pong in shm", "ring latency ÷ C futex ping-pong", 1.2)
	add("ring ping-pong", "ipcchan Ring[Tick]", "ipcchan Queue[[]byte] 64 B", "ring latency ÷ Queue latency", 0.6)
	add("ring stream of a 64-byte struct", "ipcchan Ring[Tick]", "Unix socket + encoding/gob", "ring struct stream ÷ Unix socket + gob (time per message)", 0.25)
	add("ring stream of a 64-byte struct", "ipcchan Ring[Tick]", "C, SPSC ring in shm, busy-polling", "ring struct stream ÷ C busy-polling SPSC ring (time)", 2)
	add("semaphore ping-pong", "ipcchan Semaphore", "C, glibc sem_post/sem_wait", "semaphore round trip ÷ C sem_post/sem_wait", 1.2)
	add("semaphore ping-pong", "ipcchan Semaphore", "C, raw futex", "semaphore round trip ÷ C raw futex", 0)
	add("mutex lock+unlock, uncontended", "ipcchan Mutex", "sync.Mutex, one process", "mutex, uncontended ÷ sync.Mutex", 0)
	add("mutex lock+unlock, uncontended", "ipcchan Mutex", "C, robust pthread mutex in shm", "mutex, uncontended ÷ C robust mutex", 0)
	add("mutex lock+unlock, 2 processes", "ipcchan Mutex", "C, robust pthread mutex, 2 processes", "mutex, 2 processes ÷ C robust mutex", 0)
	add("shm field", "ipcchan Shm[T].Ptr()", "plain Go struct", "shm field read+write ÷ plain struct", 1.1)
	for _, k := range []string{"queue", "semaphore", "shm (4 KiB)"} {
		add("create + close + unlink: "+k, "ipcchan", "C", "create+close+unlink "+k+" ÷ C", 0)
	}
	return bars
}

// chart draws the ratios as horizontal bars on a log scale, with 1× (as
// fast as the baseline) and each target marked.
func chart(rep *report) string {
	bars := chartBars(rep)
	const left, width, rowH, top = 330, 420, 26, 60
	height := top + rowH*len(bars) + 50
	lo, hi := 0.5, 4.0
	for _, b := range bars {
		lo, hi = math.Min(lo, b.ratio*0.8), math.Max(hi, b.ratio*1.25)
	}
	x := func(r float64) float64 { return left + width*(math.Log(r)-math.Log(lo))/(math.Log(hi)-math.Log(lo)) }
	var s strings.Builder
	fmt.Fprintf(&s, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="12">`+"\n", left+width+90, height)
	fmt.Fprintf(&s, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&s, `<text x="10" y="22" font-size="15" font-weight="bold">ipcchan's time ÷ the baseline's, same run (log scale; left of 1× is faster)</text>`+"\n")
	fmt.Fprintf(&s, `<text x="10" y="42" fill="#555">%s, %d cores, Linux %s, %s; medians of %d</text>`+"\n",
		html.EscapeString(rep.Machine.CPU), rep.Machine.Cores, html.EscapeString(rep.Machine.Kernel), rep.Machine.Go, rep.Reps)
	for _, tick := range []float64{0.25, 0.5, 1, 1.5, 2, 3, 5, 10, 20, 50, 100} {
		if tick < lo || tick > hi {
			continue
		}
		color := "#ddd"
		if tick == 1 {
			color = "#000"
		}
		fmt.Fprintf(&s, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="%s"/>`+"\n", x(tick), top-6, x(tick), top+rowH*len(bars), color)
		fmt.Fprintf(&s, `<text x="%.1f" y="%d" text-anchor="middle" fill="#555">%g×</text>`+"\n", x(tick), top+rowH*len(bars)+16, tick)
	}
	for i, b := range bars {
		y := top + i*rowH
		fill := "#4a7fb5"
		if b.limit > 0 && b.ratio > b.limit {
			fill = "#c0504d"
		}
		x0, x1 := x(1), x(b.ratio)
		if x1 < x0 {
			x0, x1 = x1, x0
		}
		fmt.Fprintf(&s, `<text x="%d" y="%d" text-anchor="end">%s</text>`+"\n", left-8, y+15, html.EscapeString(b.label))
		fmt.Fprintf(&s, `<rect x="%.1f" y="%d" width="%.1f" height="%d" fill="%s"/>`+"\n", x0, y+4, math.Max(x1-x0, 1), rowH-8, fill)
		labelX := math.Max(x(b.ratio), x(1))
		if b.limit > 0 {
			labelX = math.Max(labelX, x(b.limit))
		}
		fmt.Fprintf(&s, `<text x="%.1f" y="%d">%.2f×</text>`+"\n", labelX+6, y+15, b.ratio)
		if b.limit > 0 {
			fmt.Fprintf(&s, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#000" stroke-width="2" stroke-dasharray="3,2"/>`+"\n", x(b.limit), y+1, x(b.limit), y+rowH-1)
		}
	}
	fmt.Fprintf(&s, `<text x="10" y="%d" fill="#555">dashed: the target; red: a missed target</text>`+"\n", height-10)
	s.WriteString("</svg>\n")
	return s.String()
}
