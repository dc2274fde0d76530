package natsq

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/ipcchan/ipcchan/internal/natstest"
	"github.com/ipcchan/ipcchan/ipcchan"
)

// TestNoAnswerWhileDisconnected: JetStream's silence (no responders)
// while the connection is down blames the connection, not the server's
// JetStream; once it is back, a request for messages that nobody took, on
// a stream that has its consumers, is told as a server starting or
// stopping.
func TestNoAnswerWhileDisconnected(t *testing.T) {
	srv := natstest.StartProcess(t)
	js, nc := natstest.ConnectConn(t, srv.URL(), nats.MaxReconnects(-1), nats.ReconnectWait(20*time.Millisecond))
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	q, err := Open[[]byte](ctx, js, "/down", ipcchan.Create())
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	waitStatus := func(want nats.Status) {
		t.Helper()
		ch := nc.StatusChanged(want)
		defer nc.RemoveStatusListener(ch)
		if nc.Status() == want {
			return
		}
		select {
		case <-ch:
		case <-ctx.Done():
			t.Fatalf("the connection is %v, not %v", nc.Status(), want)
		}
	}

	srv.Stop()
	waitStatus(nats.RECONNECTING)
	for _, err := range []error{nats.ErrNoResponders, nats.ErrTimeout} {
		e := q.natsError("receive", err, "cannot receive").Error()
		if strings.Contains(e, "-js") || !strings.Contains(e, "cannot receive: the NATS connection is down (reconnecting)") {
			t.Errorf("%v while reconnecting: %s", err, e)
		}
	}
	if e := q.askFailed(ctx, 0, nats.ErrNoResponders).Error(); strings.Contains(e, "-js") || !strings.Contains(e, "connection is down (reconnecting)") {
		t.Errorf("a request for messages that nobody took while reconnecting: %s", e)
	}

	srv.Start()
	waitStatus(nats.CONNECTED)
	if e := q.askFailed(ctx, 0, nats.ErrNoResponders).Error(); !strings.Contains(e, "JetStream did not take the request for a message, though it answers and has the consumer") {
		t.Errorf("a request for messages that nobody took, with the consumer there: %s", e)
	}
	if e := q.natsError("receive", nats.ErrNoResponders, "cannot receive").Error(); !strings.Contains(e, "-js?") {
		t.Errorf("no responders on a connection that is up: %s", e)
	}
}
