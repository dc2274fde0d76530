package main

import (
	"errors"
	"io"
	"strconv"

	"github.com/ipcchan/ipcchan/codec"
	"github.com/ipcchan/ipcchan/ipcchan"
	"github.com/ipcchan/ipcchan/natsq"
)

// peerRoles are the parts that this program plays, re-executed as
// ipcbench -peer ROLE ARGS..., for the measurements that talk to another
// process: each role with its arguments. A role's function stands next to
// the measurement that starts it.
var peerRoles = map[string]func(peerArgs) error{
	// queue.go, raw.go, unix.go, large.go
	"queue-echo":        echoPeer(openQueue[[]byte]),         // IN OUT: echo with ipcchan until the end of the stream
	"queue-flood":       queueFlood(),                        // NAME N SIZE: send N+1 messages with ipcchan, then the end
	"queue-flood-large": queueFlood(ipcchan.LargeMessages()), // NAME N SIZE: the same with LargeMessages
	"raw-echo":          rawEcho,                             // IN OUT: echo with blocking mq syscalls until a zero-byte message
	"raw-flood":         rawFlood,                            // NAME N SIZE: the same as queue-flood, with mq syscalls
	"unix-echo":         unixEcho,                            // PATH SIZE: echo fixed-size frames over a Unix socket
	"unix-flood":        unixFlood,                           // PATH N SIZE: send N+1 frames over a Unix socket
	"large-rss":         largeRSS,                            // NAME: receive one message, read all of it, and print the peak RSS in bytes

	// loan.go
	"ring-large-flood": ringLargeFlood, // HOW NAME N SIZE: send N+1 messages on a ring with a pool, loaned or by copy, then the end
	"ring-loan-echo":   ringLoanEcho,   // HOW IN OUT: answer each message of IN with one of its size on OUT, loaned or by copy

	// typed.go
	"typed-queue":        queueSends(sampleOrder),                                 // NAME N: send N+1 Orders, then the end
	"tick-queue":         queueSends(sampleTick, ipcchan.WithCodec(codec.Layout)), // NAME N: send N+1 Ticks as their bytes, then the end
	"typed-queue-echo":   echoPeer(openQueue[Order]),                              // IN OUT: decode each Order and send it back
	"typed-msgpack":      socketSends(sampleOrder, msgpackFrames),                 // PATH N: N+1 Orders in length-prefixed MessagePack frames over a Unix socket
	"typed-gob":          socketSends(sampleOrder, gobValues),                     // PATH N: N+1 Orders with encoding/gob over a Unix socket
	"tick-gob":           socketSends(sampleTick, gobValues),                      // PATH N: N+1 Ticks with encoding/gob over a Unix socket
	"typed-msgpack-echo": socketEcho(msgpackFrames),                               // PATH: echo Orders over a Unix socket
	"typed-gob-echo":     socketEcho(gobValues),                                   // PATH: the same with encoding/gob

	// ring.go
	"ring-tick-flood":  ringSends(sampleTick),       // NAME N SENDERS: send N+1 Ticks on a ring; the last sender to finish ends the stream
	"ring-bytes-flood": ringSends(make([]byte, 64)), // NAME N SENDERS: the same with 64-byte []byte messages
	"ring-tick-echo":   echoPeer(openRing[Tick]),    // IN OUT: echo Ticks until the end of the stream
	"ring-block":       ringBlock,                   // NAME: wait a second for a message that does not come; print the CPU ns it took

	// batch.go
	"ring-tick-batches": ringTickBatches, // NAME N SENDERS BATCH: send N+1 Ticks in batches of BATCH; the last sender to finish ends the stream

	// spsc.go
	"go-spsc-send": goSPSCSend, // PATH N EVERY: send N+1 messages on a Go SPSC ring, publishing its index every EVERY

	// topic.go
	"topic-sub":       topicSub,      // NAME: subscribe, say "ready", receive Ticks until the end; print ns per message
	"topic-tick-echo": topicTickEcho, // IN OUT: subscribe to IN, say "ready", publish each Tick on OUT until the end
	"ring-tick-drain": ringTickDrain, // NAME: receive Ticks until the end; print ns per message

	// sync.go
	"sem-echo":      semEcho,      // A B N: Acquire A, Release B, N+1 times
	"mutex-contend": mutexContend, // NAME N: "ready", wait for a line, then N lock+unlock

	// nats.go, natsraw.go
	"nats-echo":            natsEcho,                                 // URL IN OUT: echo over NATS JetStream until the end of the stream
	"nats-flood":           natsFlood(),                              // URL NAME N SIZE: send N+1 messages over NATS, then the end
	"nats-flood-pipelined": natsFlood(natsq.Pipelined(natsPipeline)), // URL NAME N SIZE: the same with natsq.Pipelined
	"raw-js-pub":           rawJSPub,                                 // URL SUBJECT N: publish N 64-byte messages, each waiting for its acknowledgement; print ns per message
	"raw-js-async":         rawJSAsync,                               // URL SUBJECT N: publish N 64-byte messages asynchronously
	"raw-js-echo":          rawJSEcho,                                // URL STREAM PING PONG N: fetch N messages from PING, publishing each to PONG
}

// runPeer plays one of peerRoles.
func runPeer(role string, args []string) error {
	play, ok := peerRoles[role]
	if !ok {
		return errors.New("unknown peer role " + role)
	}
	return play(args)
}

// peerArgs are a peer's arguments, after its role.
type peerArgs []string

// int is argument i as a number.
func (a peerArgs) int(i int) int {
	n, _ := strconv.Atoi(a[i])
	return n
}

// A duplex is what an echo peer opens: both ends of a stream on one
// transport.
type duplex[T any] interface {
	ipcchan.Sender[T]
	ipcchan.Receiver[T]
}

func openQueue[T any](name string) (duplex[T], error) { return ipcchan.OpenQueue[T](name) }

func openRing[T any](name string) (duplex[T], error) { return ipcchan.OpenRing[T](name) }

// echoPeer is the role IN OUT: open both with open, and echo.
func echoPeer[T any](open func(string) (duplex[T], error)) func(peerArgs) error {
	return func(a peerArgs) error {
		in, err := open(a[0])
		if err != nil {
			return err
		}
		out, err := open(a[1])
		if err != nil {
			return err
		}
		return echo[T](in, out)
	}
}

// echo sends back every message until the end of the stream.
func echo[T any](in ipcchan.Receiver[T], out ipcchan.Sender[T]) error {
	for {
		m, err := in.Receive(ctx)
		if err == io.EOF {
			return nil
		} else if err != nil {
			return err
		}
		if err := out.Send(ctx, m); err != nil {
			return err
		}
	}
}

// sendAll sends v n+1 times: the first starts the receiver's clock.
func sendAll[T any](q ipcchan.Sender[T], v T, n int) error {
	for range n + 1 {
		if err := q.Send(ctx, v); err != nil {
			return err
		}
	}
	return nil
}

// flood sends v n+1 times, then the end of the stream.
func flood[T any](q ipcchan.Sender[T], v T, n int) error {
	if err := sendAll(q, v, n); err != nil {
		return err
	}
	return q.CloseSend(ctx)
}
