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
// They show what leaving the machine costs before any network does.

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

func natsOpen2(js jetstream.JetStream, a, b string) (*natsq.Queue[[]byte], *natsq.Queue[[]byte], error) {
	qa, err := natsq.Open[[]byte](ctx, js, a, ipcchan.Create())
	if err != nil {
		return nil, nil, err
	}
	qb, err := natsq.Open[[]byte](ctx, js, b, ipcchan.Create())
	return qa, qb, err
}

// natsPingPong is queuePingPong over NATS: this process and an echo peer.
func (b *bench) natsPingPong(n int) (float64, error) {
	s, err := b.nats()
	if err != nil {
		return 0, err
	}
	ping, pong := b.name("ping"), b.name("pong")
	out, in, err := natsOpen2(s.js, ping, pong)
	if err != nil {
		return 0, err
	}
	defer natsq.Unlink(ctx, s.js, ping)
	defer natsq.Unlink(ctx, s.js, pong)
	defer out.Close()
	defer in.Close()
	cmd := b.peer("nats-echo", s.url, ping, pong)
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	ns, err := pingPong(out, in, make([]byte, 64), n, nil)
	if err != nil {
		return 0, err
	}
	return ns, cmd.Wait()
}

// natsStream is queueStream over NATS: a flooding peer, this receiver.
func (b *bench) natsStream(n, size int) (float64, error) {
	return b.natsStreamMode(n, size, false)
}

// natsStreamMode is natsStream with the peer's sends pipelined or not.
func (b *bench) natsStreamMode(n, size int, pipelined bool) (float64, error) {
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
	role := "nats-flood"
	if pipelined {
		role = "nats-flood-pipelined"
	}
	cmd := b.peer(role, s.url, name, strconv.Itoa(n), strconv.Itoa(size))
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	ns, err := drain(q, nil)
	if err != nil {
		return 0, err
	}
	return ns, cmd.Wait()
}
