package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/ipcchan/ipcchan/ipcchan"
)

// Large messages: beyond a queue's MsgSize, through /dev/shm.

const (
	mib      = 1 << 20
	hugeSize = 64 * mib
)

// largeScenarios are messages beyond a queue's MsgSize, with
// LargeMessages (see table.go).
var largeScenarios = []scenario{{
	name: "large message 1 MiB, one-way stream, per message", unit: "message",
	impls: []impl{
		{name: "ipcchan Queue[[]byte] LargeMessages, Receive", ipcchan: true, ops: 400, run: largeStream(mib, receive)},
		{name: "ipcchan Queue[[]byte] LargeMessages, ReceiveAppend", ipcchan: true, ops: 400, run: largeStream(mib, receiveAppend)},
		{name: "Go net, Unix socket", ops: 400, run: unixStream(mib)},
	},
}, {
	name: "large message 64 MiB, Send then Receive in one process", unit: "message",
	impls: []impl{
		{name: "ipcchan Queue[[]byte] LargeMessages, Receive", ipcchan: true, ops: 10, run: hugeSendReceive(receive)},
		{name: "ipcchan Queue[[]byte] LargeMessages, ReceiveAppend", ipcchan: true, ops: 10, run: hugeSendReceive(receiveAppend)},
		{name: "ipcchan Queue[[]byte] LargeMessages, PoolSize(64 MiB), Receive", ipcchan: true, ops: 10, run: hugeSendReceive(receive, ipcchan.PoolSize(hugeSize))},
		{name: "ipcchan Queue[[]byte] LargeMessages, PoolSize(64 MiB), ReceiveAppend", ipcchan: true, ops: 10, run: hugeSendReceive(receiveAppend, ipcchan.PoolSize(hugeSize))},
		{name: "two copy calls of 64 MiB", ops: 10, run: twoCopies},
	},
}, {
	name: "large message 64 MiB, receiver's peak RSS", unit: "bytes of RSS",
	impls: []impl{
		{name: "ipcchan Queue[[]byte] LargeMessages, a fresh process", ipcchan: true, once: true, run: hugeRSS},
	},
}, {
	name: "queue throughput 64 B, with and without LargeMessages, per message", unit: "message",
	impls: []impl{
		{name: "ipcchan Queue[[]byte] LargeMessages", ipcchan: true, ops: 20000, run: largeStream(64, receive)},
		{name: "ipcchan Queue[[]byte]", ops: 20000, run: queueStream(64, receive)},
	},
}}

// largeStream is queueStream with LargeMessages.
func largeStream(size int, how taking) measurement {
	return func(b *bench, n int) (float64, error) { return receiveFlood(b, n, size, how, true) }
}

// hugeQueue makes a queue for 64 MiB messages (with opts) and opens it;
// done closes and removes it.
func hugeQueue(b *bench, opts ...ipcchan.Option) (q *ipcchan.Queue[[]byte], done func(), err error) {
	return create(b, "huge", ipcchan.OpenQueue[[]byte], ipcchan.UnlinkQueue, append([]ipcchan.Option{ipcchan.Capacity(2), ipcchan.MsgSize(8192), ipcchan.LargeMessages()}, opts...)...)
}

// hugeSendReceive sends a 64 MiB message and receives it, n times, in one
// process, on a queue opened with opts: the two copies (into /dev/shm and
// out of it) one after the other.
func hugeSendReceive(how taking, opts ...ipcchan.Option) measurement {
	return func(b *bench, n int) (float64, error) {
		q, done, err := hugeQueue(b, opts...)
		if err != nil {
			return 0, err
		}
		defer done()
		msg := make([]byte, hugeSize)
		for i := range msg {
			msg[i] = byte(i)
		}
		var buf []byte
		if how == receiveAppend {
			buf = make([]byte, hugeSize)
		}
		start := time.Now()
		for range n {
			if err := q.Send(ctx, msg); err != nil {
				return 0, err
			}
			var got []byte
			if how == receiveAppend {
				got, _, err = q.ReceiveAppend(ctx, buf[:0])
			} else {
				got, err = q.Receive(ctx)
			}
			if err != nil {
				return 0, err
			}
			if len(got) != hugeSize {
				return 0, fmt.Errorf("received %d bytes, not %d", len(got), hugeSize)
			}
		}
		return nsPer(start, n), nil
	}
}

func twoCopies(_ *bench, n int) (float64, error) {
	src, mid, dst := make([]byte, hugeSize), make([]byte, hugeSize), make([]byte, hugeSize)
	for i := range src {
		src[i] = byte(i)
	}
	copy(mid, src) // every page touched once before the clock starts
	copy(dst, mid)
	start := time.Now()
	for range n {
		copy(mid, src)
		copy(dst, mid)
	}
	return nsPer(start, n), nil
}

// hugeRSS sends one 64 MiB message and has a fresh peer receive it; the
// peer reports its peak resident memory.
func hugeRSS(b *bench, _ int) (float64, error) {
	q, done, err := hugeQueue(b)
	if err != nil {
		return 0, err
	}
	defer done()
	if err := q.Send(ctx, make([]byte, hugeSize)); err != nil {
		return 0, err
	}
	return b.peerSays("large-rss", q.Name())
}

// largeRSS is the role NAME: receive one message, read all of it, and
// print the peak RSS in bytes.
func largeRSS(a peerArgs) error {
	q, err := ipcchan.OpenQueue[[]byte](a[0], ipcchan.LargeMessages())
	if err != nil {
		return err
	}
	if _, err := q.Receive(ctx); err != nil {
		return err
	}
	// VmHWM, not getrusage's ru_maxrss, which keeps the peak of the
	// process this one was forked from (ipcbench, holding the message).
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return err
	}
	for line := range strings.Lines(string(status)) {
		if kb, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(kb), "kB")), 10, 64)
			fmt.Println(n * 1024)
			return err
		}
	}
	return fmt.Errorf("no VmHWM in /proc/self/status")
}

// largeTargets are the large-message goals of the project.
func largeTargets(rs []*result, ratio func(name, scenario, a, b string, limit float64, atMost bool, note string)) []target {
	const sc1 = "large message 1 MiB"
	note := "Receive returns new memory: 1 MiB a message for the garbage collector, which runs every few messages (profiled: GC and page faults); the pool itself is reused"
	ratio("1 MiB large message, Receive, vs Unix socket", sc1, "ipcchan Queue[[]byte] LargeMessages, Receive", "Go net, Unix socket", 1.5, true, note)
	ratio("1 MiB large message, ReceiveAppend, vs Unix socket", sc1, "ipcchan Queue[[]byte] LargeMessages, ReceiveAppend", "Go net, Unix socket", 1.0, true, "")
	hugeNote := "larger than the default pool (16 MiB), it travels in a file of its own, whose pages the kernel allocates, clears and frees each time (and Receive's slice is new); see docs/BENCHMARKS.md"
	const sc64 = "large message 64 MiB, Send"
	ratio("64 MiB large message, Receive, vs two copies", sc64, "ipcchan Queue[[]byte] LargeMessages, Receive", "two copy calls of 64 MiB", 1.5, true, hugeNote)
	ratio("64 MiB large message, ReceiveAppend, vs two copies", sc64, "ipcchan Queue[[]byte] LargeMessages, ReceiveAppend", "two copy calls of 64 MiB", 1.5, true, hugeNote)
	ratio("64 MiB, PoolSize(64 MiB), Receive, vs two copies", sc64, "ipcchan Queue[[]byte] LargeMessages, PoolSize(64 MiB), Receive", "two copy calls of 64 MiB", 1.5, true,
		"Receive returns 64 MiB of new memory each time: the Go runtime's pages, faulted in")
	ratio("64 MiB, PoolSize(64 MiB), ReceiveAppend, vs two copies", sc64, "ipcchan Queue[[]byte] LargeMessages, PoolSize(64 MiB), ReceiveAppend", "two copy calls of 64 MiB", 1.5, true, "")
	ratio("64 B on a queue with LargeMessages vs without", "queue throughput 64 B, with and without", "ipcchan Queue[[]byte] LargeMessages", "ipcchan Queue[[]byte]", 0.95, false, "")
	loanTargets(ratio)
	callTargets(ratio)
	var ts []target
	if r := find(rs, "large message 64 MiB, receiver's peak RSS", "ipcchan Queue[[]byte] LargeMessages, a fresh process"); r != nil {
		v := r.Median / hugeSize
		ts = append(ts, target{Name: "receiver's peak RSS for one 64 MiB message", Value: v, Shown: fmt.Sprintf("%.2f× the message", v), Limit: "≤ 2×", Met: v <= 2})
	}
	return ts
}
