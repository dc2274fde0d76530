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

func largeScenarios(b *bench) []scenario {
	cfg := b.cfg
	return []scenario{{
		name: "large message 1 MiB, one-way stream, per message", unit: "message",
		impls: []impl{
			{name: "ipcchan Queue[[]byte] LargeMessages, Receive", ipcchan: true, n: cfg.n(400), run: func(n int) (float64, error) { return b.queueStreamWith(n, mib, false, true) }},
			{name: "ipcchan Queue[[]byte] LargeMessages, ReceiveAppend", ipcchan: true, n: cfg.n(400), run: func(n int) (float64, error) { return b.queueStreamWith(n, mib, true, true) }},
			{name: "Go net, Unix socket", n: cfg.n(400), run: func(n int) (float64, error) { return b.unixStream(n, mib) }},
		},
	}, {
		name: "large message 64 MiB, Send then Receive in one process", unit: "message",
		impls: []impl{
			{name: "ipcchan Queue[[]byte] LargeMessages, Receive", ipcchan: true, n: cfg.n(10), run: func(n int) (float64, error) { return b.hugeSendReceive(n, false) }},
			{name: "ipcchan Queue[[]byte] LargeMessages, ReceiveAppend", ipcchan: true, n: cfg.n(10), run: func(n int) (float64, error) { return b.hugeSendReceive(n, true) }},
			{name: "two copy calls of 64 MiB", n: cfg.n(10), run: twoCopies},
		},
	}, {
		name: "large message 64 MiB, receiver's peak RSS", unit: "bytes of RSS",
		impls: []impl{
			{name: "ipcchan Queue[[]byte] LargeMessages, a fresh process", ipcchan: true, n: 1, run: b.hugeRSS},
		},
	}, {
		name: "queue throughput 64 B, with and without LargeMessages, per message", unit: "message",
		impls: []impl{
			{name: "ipcchan Queue[[]byte] LargeMessages", ipcchan: true, n: cfg.n(20000), run: func(n int) (float64, error) { return b.queueStreamWith(n, 64, false, true) }},
			{name: "ipcchan Queue[[]byte]", n: cfg.n(20000), run: func(n int) (float64, error) { return b.queueStream(n, 64, false) }},
		},
	}}
}

// hugeQueue makes a queue for 64 MiB messages and opens it.
func (b *bench) hugeQueue() (*ipcchan.Queue[[]byte], error) {
	name := b.name("huge")
	return ipcchan.OpenQueue[[]byte](name, ipcchan.Create(), ipcchan.Exclusive(), ipcchan.Capacity(2), ipcchan.MsgSize(8192), ipcchan.LargeMessages())
}

// hugeSendReceive sends a 64 MiB message and receives it, n times, in one
// process: the two copies (into /dev/shm and out of it) one after the other.
func (b *bench) hugeSendReceive(n int, appendBuf bool) (float64, error) {
	q, err := b.hugeQueue()
	if err != nil {
		return 0, err
	}
	defer q.Unlink()
	defer q.Close()
	msg := make([]byte, hugeSize)
	for i := range msg {
		msg[i] = byte(i)
	}
	var buf []byte
	if appendBuf {
		buf = make([]byte, hugeSize)
	}
	start := time.Now()
	for range n {
		if err := q.Send(ctx, msg); err != nil {
			return 0, err
		}
		var got []byte
		if appendBuf {
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
	return float64(time.Since(start).Nanoseconds()) / float64(n), nil
}

func twoCopies(n int) (float64, error) {
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
	return float64(time.Since(start).Nanoseconds()) / float64(n), nil
}

// hugeRSS sends one 64 MiB message and has a fresh peer receive it; the
// peer reports its peak resident memory.
func (b *bench) hugeRSS(int) (float64, error) {
	q, err := b.hugeQueue()
	if err != nil {
		return 0, err
	}
	defer q.Unlink()
	defer q.Close()
	if err := q.Send(ctx, make([]byte, hugeSize)); err != nil {
		return 0, err
	}
	out, err := b.peer("large-rss", q.Name()).Output()
	if err != nil {
		return 0, err
	}
	return strconv.ParseFloat(strings.TrimSpace(string(out)), 64)
}

// largePeer runs the peers of the large-message measurements.
func largePeer(role string, args []string) (bool, error) {
	atoi := func(i int) int { n, _ := strconv.Atoi(args[i]); return n }
	switch role {
	case "queue-flood-large": // NAME N SIZE: send N+1 messages with LargeMessages, then the end
		q, err := ipcchan.OpenQueue[[]byte](args[0], ipcchan.LargeMessages())
		if err != nil {
			return true, err
		}
		return true, flood(q, atoi(1), atoi(2))
	case "large-rss": // NAME: receive one message, read all of it, and print the peak RSS in bytes
		q, err := ipcchan.OpenQueue[[]byte](args[0], ipcchan.LargeMessages())
		if err != nil {
			return true, err
		}
		if _, err := q.Receive(ctx); err != nil {
			return true, err
		}
		// VmHWM, not getrusage's ru_maxrss, which keeps the peak of the
		// process this one was forked from (ipcbench, holding the message).
		status, err := os.ReadFile("/proc/self/status")
		if err != nil {
			return true, err
		}
		for line := range strings.Lines(string(status)) {
			if kb, ok := strings.CutPrefix(line, "VmHWM:"); ok {
				n, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(kb), "kB")), 10, 64)
				fmt.Println(n * 1024)
				return true, err
			}
		}
		return true, fmt.Errorf("no VmHWM in /proc/self/status")
	}
	return false, nil
}

// largeTargets are the large-message goals of the project.
func largeTargets(rs []*result, ratio func(name, scenario, a, b string, limit float64, atMost bool, note string)) []target {
	const sc1 = "large message 1 MiB"
	note := "a new file per message: tmpfs allocates its pages as the sender writes and frees them as the receiver closes it, where a socket reuses its buffers; see docs/BENCHMARKS.md"
	ratio("1 MiB large message, Receive, vs Unix socket", sc1, "ipcchan Queue[[]byte] LargeMessages, Receive", "Go net, Unix socket", 1.0, true, note)
	ratio("1 MiB large message, ReceiveAppend, vs Unix socket", sc1, "ipcchan Queue[[]byte] LargeMessages, ReceiveAppend", "Go net, Unix socket", 1.0, true, note)
	hugeNote := "the pages of the file, and of the slice Receive returns, are new each time: the kernel allocates, clears and frees them; see docs/BENCHMARKS.md"
	ratio("64 MiB large message, Receive, vs two copies", "large message 64 MiB, Send", "ipcchan Queue[[]byte] LargeMessages, Receive", "two copy calls of 64 MiB", 1.5, true, hugeNote)
	ratio("64 MiB large message, ReceiveAppend, vs two copies", "large message 64 MiB, Send", "ipcchan Queue[[]byte] LargeMessages, ReceiveAppend", "two copy calls of 64 MiB", 1.5, true, hugeNote)
	ratio("64 B on a queue with LargeMessages vs without", "queue throughput 64 B, with and without", "ipcchan Queue[[]byte] LargeMessages", "ipcchan Queue[[]byte]", 0.95, false, "")
	var ts []target
	if r := find(rs, "large message 64 MiB, receiver's peak RSS", "ipcchan Queue[[]byte] LargeMessages, a fresh process"); r != nil {
		v := r.Median / hugeSize
		ts = append(ts, target{Name: "receiver's peak RSS for one 64 MiB message", Value: v, Shown: fmt.Sprintf("%.2f× the message", v), Limit: "≤ 2×", Met: v <= 2})
	}
	return ts
}
