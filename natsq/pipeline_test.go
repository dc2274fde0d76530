package natsq_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ipcchan/ipcchan/internal/natstest"
	"github.com/ipcchan/ipcchan/internal/testutil"
	"github.com/ipcchan/ipcchan/ipcchan"
	"github.com/ipcchan/ipcchan/natsq"
)

// TestPipelinedInOrder: pipelined sends arrive whole and in order, and
// Flush returns once they are all stored.
func TestPipelinedInOrder(t *testing.T) {
	js := natstest.Connect(t, natstest.Server(t))
	tr := transport{name: "nats", js: js}
	name := tr.newName(t)
	s, err := natsq.Open[int](t.Context(), js, name, ipcchan.Create(), natsq.Pipelined(64))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const n = 300
	for i := range n {
		if err := s.Send(t.Context(), i); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	if a, err := s.Attr(); err != nil || a.Len != n {
		t.Fatalf("after Flush the stream holds %d messages (%v), want %d", a.Len, err, n)
	}
	if err := s.CloseSend(t.Context()); err != nil {
		t.Fatal(err)
	}
	r := mustOpen[int](t, tr, name)
	i := 0
	for v, err := range r.All(t.Context()) {
		if err != nil || v != i {
			t.Fatalf("message %d: %d, %v", i, v, err)
		}
		i++
	}
	if i != n {
		t.Fatalf("received %d messages, want %d", i, n)
	}
	if _, err := ipcchan.OpenQueue[int]("/pipelined", natsq.Pipelined(4)); !errors.Is(err, ipcchan.ErrInvalid) || !strings.Contains(err.Error(), "natsq.Pipelined") {
		t.Errorf("a POSIX queue with natsq.Pipelined = %v, want ErrInvalid naming it", err)
	}
}

// TestPipelinedFullStream: on a stream with a Capacity, what JetStream
// refuses while full is sent again, once: every message is received, none
// twice.
func TestPipelinedFullStream(t *testing.T) {
	js := natstest.Connect(t, natstest.Server(t))
	tr := transport{name: "nats", js: js}
	name := tr.newName(t)
	s, err := natsq.Open[int](t.Context(), js, name, ipcchan.Create(), ipcchan.Capacity(4), natsq.Pipelined(32))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	r := mustOpen[int](t, tr, name)
	const n = 100
	got := map[int]int{}
	var wg sync.WaitGroup
	wg.Go(func() {
		for v, err := range r.All(t.Context()) {
			if err != nil {
				t.Error(err)
				return
			}
			got[v]++
		}
	})
	for i := range n {
		if err := s.Send(t.Context(), i); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.CloseSend(t.Context()); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	for i := range n {
		if got[i] != 1 {
			t.Fatalf("message %d received %d times (%d distinct of %d)", i, got[i], len(got), n)
		}
	}
}

// TestServerRestartMidStream: a separate nats-server, stopped and started
// again in the middle of a stream of sends (pipelined, and then plain):
// the senders go on once it is back, and every message whose Send (and
// Flush) returned nil is received.
func TestServerRestartMidStream(t *testing.T) {
	srv := natstest.StartProcess(t)
	connect := func() jetstream.JetStream { // one that waits for the server to come back
		return natstest.Connect(t, srv.URL(), nats.MaxReconnects(-1), nats.ReconnectWait(20*time.Millisecond))
	}
	js := connect()
	name := testutil.Name(t, func(n string) error { return natsq.Unlink(context.Background(), js, n) })
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	pipelined, err := natsq.Open[int](ctx, js, name, ipcchan.Create(), natsq.Pipelined(32))
	if err != nil {
		t.Fatal(err)
	}
	defer pipelined.Close()
	plain, err := natsq.Open[int](ctx, js, name)
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	const n = 400
	sent := map[int]bool{}
	for i := range n {
		if i == n/4 {
			srv.Stop()
			srv.Start()
		}
		q := pipelined
		if i >= n/2 {
			if i == n/2 {
				if err := pipelined.Flush(ctx); err != nil {
					t.Fatalf("Flush after the restart: %v", err)
				}
			}
			if i == 3*n/4 {
				srv.Stop()
				srv.Start()
			}
			q = plain
		}
		for {
			err := q.Send(ctx, i)
			if err == nil {
				sent[i] = true
				break
			}
			if ctx.Err() != nil {
				t.Fatalf("send %d: %v", i, err)
			}
			// A plain Send to a server that is away fails: send again, as a
			// program would (a duplicate is possible, at least once).
		}
	}
	if err := pipelined.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	r, err := natsq.Open[int](ctx, connect(), name)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	got := map[int]bool{}
	for len(got) < n {
		v, err := r.Receive(ctx)
		if err != nil {
			t.Fatalf("received %d of %d distinct messages: %v", len(got), n, err)
		}
		got[v] = true
	}
}
