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
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/ipcchan/ipcchan/natsq"
)

// The engine itself: raw jetstream calls with the same message size, the
// way `nats bench js` measures the server, so that natsq's rows are ratios
// to what the server can do, not to a guess. And the worker-pool demo on
// both transports.

const natsPipeline = 256 // natsq.Pipelined for the pipelined row

func natsScenarios(b *bench) []scenario {
	cfg := b.cfg
	return []scenario{{
		name: "NATS JetStream stream 64 B, per message", unit: "message",
		impls: []impl{
			{name: "natsq, Send + batched Receive", ipcchan: true, n: cfg.n(2000), run: func(n int) (float64, error) { return b.natsStreamMode(n, 64, false) }},
			{name: "natsq, Pipelined(256) Send + batched Receive", ipcchan: true, n: cfg.n(4000), run: func(n int) (float64, error) { return b.natsStreamMode(n, 64, true) }},
			{name: "raw jetstream, sync publish", n: cfg.n(2000), run: b.rawJSPublish},
			{name: "raw jetstream, async publish + fetch", n: cfg.n(4000), run: b.rawJSAsyncFetch},
		},
	}, {
		name: "NATS JetStream ping-pong 64 B, one-way", unit: "one-way trip",
		impls: []impl{
			{name: "natsq Queue[[]byte]", ipcchan: true, n: cfg.n(1000), run: b.natsPingPong},
			{name: "raw jetstream, publish + fetch", n: cfg.n(1000), run: b.rawJSPingPong},
		},
	}, {
		name: "worker-pool demo (examples/workerpool), per job", unit: "job",
		impls: []impl{
			{name: "over NATS JetStream (natsq)", ipcchan: true, n: cfg.n(400), run: func(n int) (float64, error) { return b.workerpool(n, true) }},
			{name: "over POSIX queues", ipcchan: true, n: cfg.n(400), run: func(n int) (float64, error) { return b.workerpool(n, false) }},
		},
	}}
}

// rawJSStream makes a work-queue stream of one subject on file storage, as
// natsq's, and a durable consumer of it.
func (b *bench) rawJSStream(s *natsSide, what string) (stream, subject string, cons jetstream.Consumer, cleanup func(), err error) {
	stream = fmt.Sprintf("raw%d%s", b.seq, what)
	b.seq++
	subject = "raw." + stream
	if _, err = s.js.CreateStream(ctx, jetstream.StreamConfig{Name: stream, Subjects: []string{subject},
		Retention: jetstream.WorkQueuePolicy, Storage: jetstream.FileStorage}); err != nil {
		return "", "", nil, nil, err
	}
	cleanup = func() { s.js.DeleteStream(ctx, stream) }
	cons, err = s.js.CreateConsumer(ctx, stream, jetstream.ConsumerConfig{Durable: "c", AckPolicy: jetstream.AckExplicitPolicy})
	if err != nil {
		cleanup()
		return "", "", nil, nil, err
	}
	return stream, subject, cons, cleanup, nil
}

// rawJSPublish has a peer publish n messages, waiting for each
// acknowledgement, and returns its time per message: a publisher in a
// process of its own, as natsq's.
func (b *bench) rawJSPublish(n int) (float64, error) {
	s, err := b.nats()
	if err != nil {
		return 0, err
	}
	_, subject, _, cleanup, err := b.rawJSStream(s, "pub")
	if err != nil {
		return 0, err
	}
	defer cleanup()
	out, err := b.peer("raw-js-pub", s.url, subject, strconv.Itoa(n)).Output()
	if err != nil {
		return 0, err
	}
	return strconv.ParseFloat(strings.TrimSpace(string(out)), 64)
}

// rawJSAsyncFetch has a peer publish n messages asynchronously and
// fetches them here in batches of 100, acknowledging each (as nats bench).
func (b *bench) rawJSAsyncFetch(n int) (float64, error) {
	s, err := b.nats()
	if err != nil {
		return 0, err
	}
	_, subject, cons, cleanup, err := b.rawJSStream(s, "async")
	if err != nil {
		return 0, err
	}
	defer cleanup()
	cmd := b.peer("raw-js-async", s.url, subject, strconv.Itoa(n))
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	var start time.Time
	got := 0
	for got < n {
		batch, err := cons.Fetch(100, jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			return 0, err
		}
		for m := range batch.Messages() {
			if got == 0 {
				start = time.Now()
			}
			m.Ack()
			got++
		}
		if err := batch.Error(); err != nil {
			return 0, err
		}
	}
	ns := float64(time.Since(start).Nanoseconds()) / float64(n-1)
	return ns, cmd.Wait()
}

// rawJSPingPong publishes to a stream the peer fetches from, and fetches
// its answer from another: one way is half a round trip.
func (b *bench) rawJSPingPong(n int) (float64, error) {
	s, err := b.nats()
	if err != nil {
		return 0, err
	}
	pingStream, ping, _, cleanPing, err := b.rawJSStream(s, "ping")
	if err != nil {
		return 0, err
	}
	defer cleanPing()
	_, pong, pongs, cleanPong, err := b.rawJSStream(s, "pong")
	if err != nil {
		return 0, err
	}
	defer cleanPong()
	cmd := b.peer("raw-js-echo", s.url, pingStream, ping, pong, strconv.Itoa(n+1))
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	msg := make([]byte, 64)
	trip := func() error {
		if _, err := s.js.Publish(ctx, ping, msg); err != nil {
			return err
		}
		batch, err := pongs.Fetch(1, jetstream.FetchMaxWait(10*time.Second))
		if err != nil {
			return err
		}
		for m := range batch.Messages() {
			m.Ack()
		}
		return batch.Error()
	}
	if err := trip(); err != nil { // warm-up: the peer runs once it answers
		return 0, err
	}
	start := time.Now()
	for range n {
		if err := trip(); err != nil {
			return 0, err
		}
	}
	ns := float64(time.Since(start).Nanoseconds()) / float64(2*n)
	return ns, cmd.Wait()
}

// rawJSPeer runs the raw jetstream peers.
func rawJSPeer(role string, args []string) (bool, error) {
	atoi := func(i int) int { n, _ := strconv.Atoi(args[i]); return n }
	switch role {
	case "raw-js-pub": // URL SUBJECT N: publish N 64-byte messages, each waiting for its acknowledgement; print ns per message
		js, err := natsConnect(args[0])
		if err != nil {
			return true, err
		}
		msg := make([]byte, 64)
		start := time.Now()
		for range atoi(2) {
			if _, err := js.Publish(ctx, args[1], msg); err != nil {
				return true, err
			}
		}
		fmt.Println(float64(time.Since(start).Nanoseconds()) / float64(atoi(2)))
		return true, nil
	case "raw-js-async": // URL SUBJECT N: publish N 64-byte messages asynchronously
		js, err := natsConnect(args[0])
		if err != nil {
			return true, err
		}
		msg := make([]byte, 64)
		for range atoi(2) {
			if _, err := js.PublishAsync(args[1], msg); err != nil {
				return true, err
			}
		}
		select {
		case <-js.PublishAsyncComplete():
			return true, nil
		case <-time.After(time.Minute):
			return true, fmt.Errorf("raw-js-async: acknowledgements still missing after a minute")
		}
	case "raw-js-echo": // URL STREAM PING PONG N: fetch N messages from PING, publishing each to PONG
		js, err := natsConnect(args[0])
		if err != nil {
			return true, err
		}
		cons, err := js.Consumer(ctx, args[1], "c")
		if err != nil {
			return true, err
		}
		for range atoi(4) {
			batch, err := cons.Fetch(1, jetstream.FetchMaxWait(10*time.Second))
			if err != nil {
				return true, err
			}
			for m := range batch.Messages() {
				m.Ack()
				if _, err := js.Publish(ctx, args[3], m.Data()); err != nil {
					return true, err
				}
			}
			if err := batch.Error(); err != nil {
				return true, err
			}
		}
		return true, nil
	case "nats-flood-pipelined": // URL NAME N SIZE: send N+1 messages with natsq.Pipelined, then the end
		js, err := natsConnect(args[0])
		if err != nil {
			return true, err
		}
		q, err := natsq.Open[[]byte](ctx, js, args[1], natsq.Pipelined(natsPipeline))
		if err != nil {
			return true, err
		}
		defer q.Close()
		return true, flood(q, atoi(2), atoi(3))
	}
	return false, nil
}

var jobsDone = regexp.MustCompile(`all (\d+) jobs done exactly once .* in (\S+), `)

// workerpool runs the worker-pool demo with n jobs, over NATS (the
// embedded server) or POSIX queues, and returns its time per job.
func (b *bench) workerpool(n int, overNATS bool) (float64, error) {
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
	if overNATS {
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

// natsTargets are the goals of the NATS rows.
func natsTargets(ratio func(name, scenario, a, b string, limit float64, atMost bool, note string)) {
	const st = "NATS JetStream stream 64 B"
	ratio("natsq stream, Send + batched Receive, vs raw sync publish", st, "natsq, Send + batched Receive", "raw jetstream, sync publish", 0.8, false,
		"the sender is the bound, a round trip per Send as the raw publisher's; the receiver's work on the same two cores (the server's deliveries and acknowledgements) slows it; see docs/BENCHMARKS.md")
	ratio("natsq stream, Pipelined Send, vs raw async publish + fetch", st, "natsq, Pipelined(256) Send + batched Receive", "raw jetstream, async publish + fetch", 0.5, false,
		"natsq's receive takes one message per call and hands it over through its window; the raw loop takes batches of 100")
	ratio("natsq ping-pong vs raw publish + fetch", "NATS JetStream ping-pong", "natsq Queue[[]byte]", "raw jetstream, publish + fetch", 2.0, true,
		"a receive asks the levels it does not know empty, and a Send carries the stream's name to check")
	ratio("worker-pool demo over NATS vs POSIX, jobs/s", "worker-pool demo", "over NATS JetStream (natsq)", "over POSIX queues", 0.9, false, "")
}
