package main

import (
	"fmt"
	"path/filepath"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ipcchan/ipcchan/internal/natstest"
	"github.com/ipcchan/ipcchan/ipcchan"
	"github.com/ipcchan/ipcchan/natsq"
)

// The NATS rows put ipcchan's POSIX queue next to the same code on NATS
// JetStream (package natsq): a NATS server embedded in this process, with
// file storage in the temporary directory, reached over TCP on loopback.
// They show what leaving the machine costs before any network does. The
// engine itself is measured too (natsraw.go), and the worker-pool demo on
// both transports (workerpool.go).

const natsPipeline = 256 // natsq.Pipelined for the pipelined row

// natsScenarios are natsq against raw jetstream calls, and the worker-pool
// demo over NATS and POSIX queues (see table.go).
var natsScenarios = []scenario{{
	name: "NATS JetStream stream 64 B, per message", unit: "message",
	impls: []impl{
		{name: "natsq, Send + batched Receive", ipcchan: true, ops: 2000, run: natsStream(64, "nats-flood")},
		{name: "natsq, Pipelined(256) Send + batched Receive", ipcchan: true, ops: 4000, run: natsStream(64, "nats-flood-pipelined")},
		{name: "raw jetstream, sync publish", ops: 2000, run: rawJSPublish},
		{name: "raw jetstream, async publish + fetch", ops: 4000, run: rawJSAsyncFetch},
	},
}, {
	name: "NATS JetStream ping-pong 64 B, one-way", unit: "one-way trip",
	impls: []impl{
		{name: "natsq Queue[[]byte]", ipcchan: true, ops: 1000, run: natsPingPong},
		{name: "raw jetstream, publish + fetch", ops: 1000, run: rawJSPingPong},
	},
}, natsCallScenario, {
	name: "worker-pool demo (examples/workerpool), per job", unit: "job",
	impls: []impl{
		{name: "over NATS JetStream (natsq)", ipcchan: true, ops: 400, run: workerpool(overNATS)},
		{name: "over POSIX queues", ipcchan: true, ops: 400, run: workerpool(overPOSIX)},
	},
}}

type natsSide struct {
	srv *server.Server
	url string
	js  jetstream.JetStream
}

// nats starts the embedded server on first use.
func (b *bench) nats() (*natsSide, error) {
	if b.natsSrv != nil {
		return b.natsSrv, nil
	}
	srv, err := natstest.Start(filepath.Join(b.dir, "jetstream"))
	if err != nil {
		return nil, err
	}
	js, err := natsConnect(srv.ClientURL())
	if err != nil {
		srv.Shutdown()
		return nil, err
	}
	b.natsSrv = &natsSide{srv: srv, url: srv.ClientURL(), js: js}
	return b.natsSrv, nil
}

func (b *bench) stopNATS() {
	if s := b.natsSrv; s != nil {
		s.js.Conn().Close()
		s.srv.Shutdown()
		s.srv.WaitForShutdown()
	}
}

func natsConnect(url string) (jetstream.JetStream, error) {
	nc, err := nats.Connect(url, nats.Timeout(5*time.Second))
	if err != nil {
		return nil, fmt.Errorf("cannot connect to the embedded NATS server: %w", err)
	}
	return jetstream.New(nc)
}

// natsOpener opens (and creates) natsq queues of js.
func natsOpener(js jetstream.JetStream) func(string) (duplex[[]byte], error) {
	return func(name string) (duplex[[]byte], error) {
		return natsq.Open[[]byte](ctx, js, name, ipcchan.Create())
	}
}

// natsPingPong is queuePingPong over NATS: this process and an echo peer.
func natsPingPong(b *bench, n int) (float64, error) {
	s, err := b.nats()
	if err != nil {
		return 0, err
	}
	ping, pong := b.name("ping"), b.name("pong")
	open := natsOpener(s.js)
	out, err := open(ping)
	if err != nil {
		return 0, err
	}
	defer natsq.Unlink(ctx, s.js, ping)
	defer out.Close()
	in, err := open(pong)
	if err != nil {
		return 0, err
	}
	defer natsq.Unlink(ctx, s.js, pong)
	defer in.Close()
	cmd, err := b.start("nats-echo", s.url, ping, pong)
	if err != nil {
		return 0, err
	}
	ns, err := pingPong(out, in, make([]byte, 64), n, nil)
	if err != nil {
		return 0, err
	}
	return ns, cmd.Wait()
}

// natsStream is queueStream over NATS: a flooding peer (role), this
// receiver.
func natsStream(size int, role string) measurement {
	return func(b *bench, n int) (float64, error) {
		s, err := b.nats()
		if err != nil {
			return 0, err
		}
		name := b.name("stream")
		q, err := natsq.Open[[]byte](ctx, s.js, name, ipcchan.Create())
		if err != nil {
			return 0, err
		}
		defer natsq.Unlink(ctx, s.js, name)
		defer q.Close()
		return drainPeer(b, q, nil, role, s.url, name, strconv.Itoa(n), strconv.Itoa(size))
	}
}

// natsEcho is the role URL IN OUT: echo over NATS JetStream until the end
// of the stream.
func natsEcho(a peerArgs) error {
	js, err := natsConnect(a[0])
	if err != nil {
		return err
	}
	return echoPeer(natsOpener(js))(a[1:])
}

// natsFlood is the role URL NAME N SIZE: send N+1 messages of SIZE bytes
// on the natsq queue opened with opts, then the end.
func natsFlood(opts ...ipcchan.Option) func(peerArgs) error {
	return func(a peerArgs) error {
		js, err := natsConnect(a[0])
		if err != nil {
			return err
		}
		q, err := natsq.Open[[]byte](ctx, js, a[1], opts...)
		if err != nil {
			return err
		}
		defer q.Close()
		return flood(q, make([]byte, a.int(3)), a.int(2))
	}
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
