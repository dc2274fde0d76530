package main

import (
	"fmt"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/ipcchan/ipcchan/natsq"
)

// The NATS call row: natsq's Client.Call against raw nats.go request/reply
// with a byte-echo responder, each to a server in a peer process, on the
// embedded NATS server: their ratio is what natsq adds to a NATS call.

// natsCallScenario is one of natsScenarios.
var natsCallScenario = scenario{
	name: "NATS call round trip, 32 B request / 16 B response", unit: "call",
	impls: []impl{
		{name: "natsq Client.Call", ipcchan: true, ops: 2000, run: natsCalls},
		{name: "raw nats.go Request to a queue subscriber", ops: 2000, run: rawNATSRequests},
	},
}

func init() {
	peerRoles["natsq-serve"] = natsqServe   // URL NAME: serve calcSum with natsq, say "ready", until killed
	peerRoles["nats-respond"] = natsRespond // URL SUBJECT: answer each request with its first 16 bytes, say "ready", until killed
}

// natsCallTargets are the goals of the NATS call row.
func natsCallTargets(ratio func(name, scenario, a, b string, limit float64, atMost bool, note string)) {
	ratio("natsq calls vs raw nats.go request/reply (≥ 0.8× the calls/s)", natsCallScenario.name, "natsq Client.Call", "raw nats.go Request to a queue subscriber", 1.25, true, "")
}

// natsCalls times natsq calls to a natsq-serve peer.
func natsCalls(b *bench, n int) (float64, error) {
	s, err := b.nats()
	if err != nil {
		return 0, err
	}
	name := b.name("call")
	cmd := b.peer("natsq-serve", s.url, name)
	if _, err := startReady(cmd); err != nil {
		return 0, err
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	c, err := natsq.OpenClient[CalcReq, CalcResp](ctx, s.js, name)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	return parallel(n, 1, func(id uint64) error {
		resp, err := c.Call(ctx, CalcReq{ID: id, A: int64(id), B: 1})
		if err != nil {
			return err
		}
		return checkSum(id, resp)
	})
}

// rawNATSRequests times nc.Request to a nats-respond peer.
func rawNATSRequests(b *bench, n int) (float64, error) {
	s, err := b.nats()
	if err != nil {
		return 0, err
	}
	subject := fmt.Sprintf("ipcbench.raw.%d", b.seq)
	b.seq++
	cmd := b.peer("nats-respond", s.url, subject)
	if _, err := startReady(cmd); err != nil {
		return 0, err
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	nc := s.js.Conn()
	return parallel(n, 1, func(id uint64) error {
		req := encodeCalcReq(CalcReq{ID: id, A: int64(id), B: 1})
		m, err := nc.Request(subject, req, 10*time.Second)
		if err != nil {
			return err
		}
		if len(m.Data) != 16 {
			return fmt.Errorf("request %d: an answer of %d bytes", id, len(m.Data))
		}
		return nil
	})
}

// natsqServe is the role URL NAME.
func natsqServe(a peerArgs) error {
	js, err := natsConnect(a[0])
	if err != nil {
		return err
	}
	srv, err := natsq.OpenServer[CalcReq, CalcResp](ctx, js, a[1])
	if err != nil {
		return err
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, calcSum) }()
	if err := js.Conn().Flush(); err != nil { // the subscription is on the server
		return err
	}
	fmt.Println("ready")
	return <-served
}

// natsRespond is the role URL SUBJECT.
func natsRespond(a peerArgs) error {
	nc, err := nats.Connect(a[0])
	if err != nil {
		return err
	}
	if _, err := nc.QueueSubscribe(a[1], a[1], func(m *nats.Msg) { m.Respond(m.Data[:16]) }); err != nil {
		return err
	}
	if err := nc.Flush(); err != nil {
		return err
	}
	fmt.Println("ready")
	select {}
}
