package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
)

// A comparison is one line of the summary that the README quotes: an
// ipcchan row of a scenario against a baseline row of the same scenario.
type comparison struct {
	what, scenario, ipcchan, baseline string
}

// summaryRows are the comparisons of the README's Performance section, in
// its order.
var summaryRows = []comparison{
	{"queue ping-pong, one-way", "queue ping-pong 64 B", "ipcchan Queue[[]byte]", "raw mq syscalls from Go"},
	{"queue ping-pong, one-way", "queue ping-pong 64 B", "ipcchan Queue[[]byte]", "C, glibc mq_send/mq_receive"},
	{"queue stream 64 B, ReceiveAppend", "queue throughput 64 B", "ipcchan Queue[[]byte].ReceiveAppend", "raw mq syscalls from Go"},
	{"queue stream 64 B, Receive", "queue throughput 64 B", "ipcchan Queue[[]byte].Receive", "raw mq syscalls from Go"},
	{"queue stream of a 64-byte struct, codec.Layout", "typed stream of a 64-byte struct", "ipcchan Queue[Tick] (codec.Layout)", "raw mq syscalls from Go, 64 B"},
	{"typed queue stream (msgpack)", "typed stream (a 10-field struct)", "ipcchan Queue[Order] (msgpack)", "Unix socket + encoding/gob"},
	{"typed queue request/response (msgpack)", "typed request/response", "ipcchan Queue[Order] (msgpack)", "Unix socket + encoding/gob"},
	{"ring stream of a 64-byte struct", "ring stream of a 64-byte struct", "ipcchan Ring[Tick]", "Unix socket + encoding/gob"},
	{"ring stream of a 64-byte struct", "ring stream of a 64-byte struct", "ipcchan Ring[Tick]", "C, SPSC ring in shm, busy-polling"},
	{"ring stream of a 64-byte struct", "ring stream of a 64-byte struct", "ipcchan Ring[Tick]", "C, SPSC ring in shm, futex wake-ups"},
	{"ring ping-pong, one-way", "ring ping-pong", "ipcchan Ring[Tick]", "C, futex ping-pong in shm"},
	{"ring ping-pong, one-way", "ring ping-pong", "ipcchan Ring[Tick]", "ipcchan Queue[[]byte] 64 B"},
	{"ring, 2 senders × 2 receivers, per message", "ring, 2 senders", "ipcchan Ring[Tick], 2 x 2", "ipcchan Ring[Tick], 1 x 1"},
	{"ring batches of 64 structs, per message", "ring batches of a 64-byte struct", "ipcchan Ring[Tick], batches of 64", "C, SPSC ring, release/acquire index stores"},
	{"ring Send/Receive of a struct, per message", "ring batches of a 64-byte struct", "ipcchan Ring[Tick], Send/Receive", "Go SPSC ring, atomic.Store per message"},
	{"ring batches of 64, 2 senders × 2 receivers", "ring batches of 64, 2 senders", "ipcchan Ring[Tick], 2 x 2, batches of 64", "ipcchan Ring[Tick], 1 x 1, batches of 64"},
	{"topic 1 → 4 subscriber processes, each one's time per message", "topic fan-out", "ipcchan Topic[Tick], 1 -> 4 subscriber processes", "ipcchan Ring[Tick], 1 -> 1"},
	{"topic 1 → 1 subscriber process, per message", "topic fan-out", "ipcchan Topic[Tick], 1 -> 1 subscriber process", "ipcchan Ring[Tick], 1 -> 1"},
	{"topic ping-pong through two topics, one-way", "topic ping-pong", "ipcchan Topic[Tick]", "ipcchan Ring[Tick]"},
	{"call round trip, 32 B request / 16 B response", "call round trip", "ipcchan Client.Call", "ipcchan Ring[Tick] ping-pong, two one-way trips"},
	{"call round trip, 32 B request / 16 B response", "call round trip", "ipcchan Client.Call", "gRPC-go unary over a Unix socket"},
	{"call round trip, 32 B request / 16 B response", "call round trip", "ipcchan Client.Call", "net/rpc (gob) over a Unix socket"},
	{"calls from 8 goroutines at once, per call", "calls from 8 goroutines", "ipcchan Client.Call, 8 goroutines", "gRPC-go unary over a Unix socket, 8 goroutines"},
	{"calls from 8 goroutines at once, per call", "calls from 8 goroutines", "ipcchan Client.Call, 8 goroutines", "net/rpc (gob) over a Unix socket, 8 goroutines"},
	{"NATS call round trip (natsq)", "NATS call round trip", "natsq Client.Call", "raw nats.go Request to a queue subscriber"},
	{"semaphore ping-pong, round trip", "semaphore ping-pong", "ipcchan Semaphore", "C, glibc sem_post/sem_wait"},
	{"a waiter woken without a thread (parked), one-way", "a waiter woken without", "ipcchan Semaphore, parked on the shared waiter", "ipcchan Queue[[]byte], on the reactor"},
	{"mutex lock+unlock, uncontended", "mutex lock+unlock, uncontended", "ipcchan Mutex", "sync.Mutex, one process"},
	{"mutex lock+unlock, uncontended", "mutex lock+unlock, uncontended", "ipcchan Mutex", "C, robust pthread mutex in shm"},
	{"a field of Shm[T]", "shm field read+write", "ipcchan Shm[T].Ptr()", "plain Go struct"},
	{"large message 1 MiB, ReceiveAppend", "large message 1 MiB", "ipcchan Queue[[]byte] LargeMessages, ReceiveAppend", "Go net, Unix socket"},
	{"large message 1 MiB, Receive", "large message 1 MiB", "ipcchan Queue[[]byte] LargeMessages, Receive", "Go net, Unix socket"},
	{"large message 64 MiB, ReceiveAppend", "large message 64 MiB, Send then Receive", "ipcchan Queue[[]byte] LargeMessages, ReceiveAppend", "two copy calls of 64 MiB"},
	{"large message 64 MiB, PoolSize(64 MiB), ReceiveAppend", "large message 64 MiB, Send then Receive", "ipcchan Queue[[]byte] LargeMessages, PoolSize(64 MiB), ReceiveAppend", "two copy calls of 64 MiB"},
	{"ring 1 MiB stream, Loan / ReceiveView", "ring 1 MiB stream", "ipcchan Ring[[]byte] Loan / ReceiveView", "Go net, Unix socket"},
	{"ring 1 MiB stream, Send / Receive", "ring 1 MiB stream", "ipcchan Ring[[]byte] Send / Receive", "Go net, Unix socket"},
	{"ring ping-pong, 1 MiB loaned, one-way", "ring ping-pong, 1 MiB loaned", "ipcchan Ring[[]byte] 1 MiB Loan / ReceiveView", "ipcchan Ring[[]byte] 64 B Send / Receive"},
	{"natsq stream, Send", "NATS JetStream stream 64 B", "natsq, Send + batched Receive", "raw jetstream, sync publish"},
	{"natsq stream, Pipelined(256)", "NATS JetStream stream 64 B", "natsq, Pipelined(256) Send + batched Receive", "raw jetstream, async publish + fetch"},
	{"natsq ping-pong, one-way", "NATS JetStream ping-pong 64 B", "natsq Queue[[]byte]", "raw jetstream, publish + fetch"},
	{"worker-pool demo, per job", "worker-pool demo", "over NATS JetStream (natsq)", "over POSIX queues"},
}

// writeSummary writes the README's table of the run in rep: for each
// comparison, both medians and the ratio of ipcchan's time to the
// baseline's, one kind of ratio throughout. A comparison that the run
// lacks (skipped, or not measured) says so.
func writeSummary(w io.Writer, rep *report) {
	fmt.Fprintln(w, "| measured | ipcchan | against | its time | ipcchan ÷ it |")
	fmt.Fprintln(w, "|---|---|---|---|---|")
	for _, c := range summaryRows {
		a, b := find(rep.Results, c.scenario, c.ipcchan), find(rep.Results, c.scenario, c.baseline)
		if a == nil || b == nil {
			fmt.Fprintf(w, "| %s | %s | %s | not measured in this run | |\n", c.what, c.ipcchan, c.baseline)
			continue
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %.2f× |\n", c.what, value(a.Unit, a.Median), c.baseline, value(b.Unit, b.Median), a.Median/b.Median)
	}
}

// summarize prints the summary of the JSON report in path.
func summarize(path string) error {
	rep, err := readReport(path)
	if err != nil {
		return err
	}
	writeSummary(os.Stdout, rep)
	return nil
}

// readReport reads a report that ipcbench -json wrote.
func readReport(path string) (*report, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var rep report
	if err := json.Unmarshal(b, &rep); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(rep.Results) == 0 {
		return nil, fmt.Errorf("%s holds no results", path)
	}
	return &rep, nil
}

// summaryBlock returns the lines of text between the README's summary
// markers, which the test compares with writeSummary's.
func summaryBlock(readme string) (string, bool) {
	_, rest, ok := strings.Cut(readme, summaryBegin)
	if !ok {
		return "", false
	}
	rest = rest[strings.IndexByte(rest, '\n')+1:]
	block, _, ok := strings.Cut(rest, summaryEnd)
	return block, ok
}

// The markers around the generated summary in README.md.
const (
	summaryBegin = "<!-- ipcbench -summary docs/ipcbench-results.json:"
	summaryEnd   = "<!-- end of the ipcbench summary -->"
)
