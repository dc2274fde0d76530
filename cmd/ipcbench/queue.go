package main

import (
	"fmt"
	"io"
	"os/exec"
	"strconv"
	"time"

	"github.com/ipcchan/ipcchan/ipcchan"
)

// queueScenarios are ipcchan's Queue[[]byte] against the mq system calls,
// C, a Unix socket, a Go channel and NATS (see table.go).
var queueScenarios = []scenario{
	{
		name: "queue ping-pong 64 B, one-way latency", unit: "one-way trip",
		impls: []impl{
			{name: "ipcchan Queue[[]byte]", ipcchan: true, ops: 4000, run: queuePingPong64},
			{name: "raw mq syscalls from Go", ops: 4000, run: rawPingPong},
			{name: "C, glibc mq_send/mq_receive", ops: 4000, run: inC("mq-pingpong %d 64")},
			{name: "Go net, Unix socket", ops: 4000, run: unixPingPong},
			{name: "Go channel, one process", ops: 200000, run: chanPingPong},
			{name: "natsq Queue[[]byte], NATS JetStream on loopback", ops: 1000, run: natsPingPong},
		},
	},
	queueThroughput(64),
	queueThroughput(1024),
	queueThroughput(8192),
}

// queueThroughput is the scenario of a stream of messages of size bytes.
func queueThroughput(size int) scenario {
	return scenario{
		name: fmt.Sprintf("queue throughput %s, per message", byteSize(size)), unit: "message",
		impls: []impl{
			{name: "ipcchan Queue[[]byte].Receive", ipcchan: true, ops: 20000, run: queueStream(size, receive)},
			{name: "ipcchan Queue[[]byte].ReceiveAppend", ipcchan: true, ops: 20000, run: queueStream(size, receiveAppend)},
			{name: "raw mq syscalls from Go", ops: 20000, run: rawStream(size)},
			{name: "C, glibc mq_send/mq_receive", ops: 20000, run: inC("mq-stream %d " + strconv.Itoa(size))},
			{name: "Go net, Unix socket", ops: 20000, run: unixStream(size)},
			{name: "Go channel, one process", ops: 200000, run: chanStream(size)},
			{name: "natsq Queue[[]byte], NATS JetStream on loopback", ops: 2000, run: natsStream(size, "nats-flood")},
		},
	}
}

func byteSize(n int) string {
	if n >= 1024 {
		return fmt.Sprintf("%d KiB", n/1024)
	}
	return fmt.Sprintf("%d B", n)
}

// queue makes a queue of 10 messages of up to 8 KiB for one measurement,
// and returns its name.
func (b *bench) queue(what string) (string, error) {
	name := b.name(what)
	q, err := ipcchan.OpenQueue[[]byte](name, ipcchan.Create(), ipcchan.Exclusive(), ipcchan.Capacity(10), ipcchan.MsgSize(8192))
	if err != nil {
		return "", err
	}
	return name, q.Close()
}

// pair makes the two queues of a ping-pong and starts the echo peer.
func (b *bench) pair(role string) (ping, pong string, cmd *exec.Cmd, err error) {
	if ping, err = b.queue("ping"); err != nil {
		return "", "", nil, err
	}
	if pong, err = b.queue("pong"); err != nil {
		return "", "", nil, err
	}
	cmd, err = b.start(role, ping, pong)
	return ping, pong, cmd, err
}

func (b *bench) unpair(ping, pong string, cmd *exec.Cmd) error {
	err := cmd.Wait()
	ipcchan.UnlinkQueue(ping)
	ipcchan.UnlinkQueue(pong)
	return err
}

// queuePingPong64 is the ping-pong of 64-byte messages.
var queuePingPong64 = queuePingPong("queue-echo", make([]byte, 64), nil)

// queuePingPong times one-way trips of v over two queues of T to an echo
// peer (role); check, if not nil, inspects each reply.
func queuePingPong[T any](role string, v T, check func(T) error) measurement {
	return func(b *bench, n int) (float64, error) {
		ping, pong, cmd, err := b.pair(role)
		if err != nil {
			return 0, err
		}
		out, _ := ipcchan.OpenQueue[T](ping)
		in, _ := ipcchan.OpenQueue[T](pong)
		defer out.Close()
		defer in.Close()
		ns, err := pingPong(out, in, v, n, check)
		if err != nil {
			return 0, err
		}
		return ns, b.unpair(ping, pong, cmd)
	}
}

// How a measurement takes a []byte message off a queue.
type taking int

const (
	receive       taking = iota // Receive: a new slice per message
	receiveAppend               // ReceiveAppend: into one buffer
)

// queueStream has a peer send messages of size bytes, and times their
// receipt.
func queueStream(size int, how taking) measurement {
	return func(b *bench, n int) (float64, error) { return receiveFlood(b, n, size, how, false) }
}

// receiveFlood times the receipt of n messages of size bytes that a peer
// sends, on a queue opened with LargeMessages if large.
func receiveFlood(b *bench, n, size int, how taking, large bool) (float64, error) {
	name, err := b.queue("stream")
	if err != nil {
		return 0, err
	}
	defer ipcchan.UnlinkQueue(name)
	var opts []ipcchan.Option
	role := "queue-flood"
	if large {
		opts, role = append(opts, ipcchan.LargeMessages()), "queue-flood-large"
	}
	q, err := ipcchan.OpenQueue[[]byte](name, opts...)
	if err != nil {
		return 0, err
	}
	defer q.Close()
	cmd, err := b.start(role, name, strconv.Itoa(n), strconv.Itoa(size))
	if err != nil {
		return 0, err
	}
	buf := make([]byte, 0, max(size, 8192))
	q.ReceiveAppend(ctx, buf) // the clock starts at the first message
	start := time.Now()
	got := 0
	for {
		if how == receiveAppend {
			buf, _, err = q.ReceiveAppend(ctx, buf[:0])
		} else {
			_, err = q.Receive(ctx)
		}
		if err == io.EOF {
			break
		} else if err != nil {
			return 0, err
		}
		got++
	}
	ns := nsPer(start, got)
	return ns, cmd.Wait()
}

// queueFlood is the role NAME N SIZE: send N+1 messages of SIZE bytes on
// the queue opened with opts, then the end.
func queueFlood(opts ...ipcchan.Option) func(peerArgs) error {
	return func(a peerArgs) error {
		q, err := ipcchan.OpenQueue[[]byte](a[0], opts...)
		if err != nil {
			return err
		}
		return flood(q, make([]byte, a.int(2)), a.int(1))
	}
}
