package natsq_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/ipcchan/ipcchan/internal/natstest"
	"github.com/ipcchan/ipcchan/internal/testutil"
	"github.com/ipcchan/ipcchan/ipcchan"
	"github.com/ipcchan/ipcchan/natsq"
)

// TestDeletedStream: a receive on a queue whose stream, or one of whose
// consumers, was deleted fails with ErrNotExist saying so (JetStream's
// "no responders" to a request for messages alone does not tell it from a
// server without JetStream), whether it was waiting or asks afterwards.
func TestDeletedStream(t *testing.T) {
	url := natstest.Server(t)
	js := natstest.Connect(t, url)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	name := testutil.Name(t, func(n string) error { return natsq.Unlink(context.Background(), js, n) })
	q, err := natsq.Open[string](ctx, js, name, ipcchan.Create())
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	waiting := make(chan error, 1)
	go func() {
		_, err := q.Receive(ctx)
		waiting <- err
	}()
	if err := natsq.Unlink(ctx, js, name); err != nil {
		t.Fatal(err)
	}
	gone := "the stream " + q.Stream() + " no longer exists"
	if err := <-waiting; !errors.Is(err, ipcchan.ErrNotExist) || !contains(err, gone) {
		t.Errorf("a Receive waiting while the stream is deleted = %v, want ErrNotExist saying %q", err, gone)
	}
	if _, err := q.TryReceive(); !errors.Is(err, ipcchan.ErrNotExist) || !contains(err, gone) {
		t.Errorf("TryReceive on a deleted stream = %v, want ErrNotExist saying %q", err, gone)
	}
	if _, err := q.Attr(); !errors.Is(err, ipcchan.ErrNotExist) || !contains(err, gone) {
		t.Errorf("Attr of a deleted stream = %v, want ErrNotExist saying %q", err, gone)
	}

	// A consumer deleted (an operator's mistake): the stream is there.
	name = testutil.Name(t, func(n string) error { return natsq.Unlink(context.Background(), js, n) })
	q, err = natsq.Open[string](ctx, js, name, ipcchan.Create())
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	if err := js.DeleteConsumer(ctx, q.Stream(), "p2"); err != nil {
		t.Fatal(err)
	}
	want := "the consumer p2 of the stream " + q.Stream() + " (priority level 2) no longer exists"
	if _, err := q.TryReceive(); !errors.Is(err, ipcchan.ErrNotExist) || !contains(err, want) {
		t.Errorf("TryReceive with a consumer deleted = %v, want ErrNotExist saying %q", err, want)
	}
	// Open makes the consumers it lacks.
	r, err := natsq.Open[string](ctx, js, name)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := r.TryReceive(); !errors.Is(err, ipcchan.ErrEmpty) {
		t.Errorf("TryReceive once the consumer is made again = %v, want ErrEmpty", err)
	}
}

// TestServerWithoutJetStream: a server that runs without JetStream is
// named as the cause.
func TestServerWithoutJetStream(t *testing.T) {
	s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, NoSigs: true, NoLog: true})
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	defer s.Shutdown()
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats server not ready after 10 s")
	}
	js := natstest.Connect(t, s.ClientURL())
	_, err = natsq.Open[string](t.Context(), js, "/nojs", ipcchan.Create())
	if want := "no JetStream answers on this connection (is the server started with JetStream enabled, -js?)"; !contains(err, want) {
		t.Errorf("Open on a server without JetStream = %v, want it saying %q", err, want)
	}
	if strings.Contains(err.Error(), "connection is down") {
		t.Errorf("Open on a server without JetStream blames the connection: %v", err)
	}
}
