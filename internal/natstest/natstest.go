// Package natstest runs an embedded NATS server with JetStream, for tests
// and benchmarks: in this process, on a free loopback port, storing its
// streams in a directory of the caller's.
package natstest

import (
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Start starts a NATS server with JetStream on 127.0.0.1 (a free port),
// storing its streams under dir. Stop it with Shutdown; its URL is
// ClientURL().
func Start(dir string) (*server.Server, error) {
	s, err := server.NewServer(&server.Options{
		Host:      "127.0.0.1",
		Port:      server.RANDOM_PORT,
		JetStream: true,
		StoreDir:  dir,
		NoSigs:    true,
		NoLog:     os.Getenv("NATSTEST_LOG") == "",
	})
	if err != nil {
		return nil, fmt.Errorf("nats server: %w", err)
	}
	if os.Getenv("NATSTEST_LOG") != "" {
		s.ConfigureLogger()
	}
	s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		s.Shutdown()
		return nil, fmt.Errorf("nats server: not ready after 10 s")
	}
	return s, nil
}

// Server starts a server for the test t (stopped at its end) and returns
// its URL.
func Server(t testing.TB) string {
	t.Helper()
	s, err := Start(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.Shutdown()
		s.WaitForShutdown()
	})
	return s.ClientURL()
}

// Connect connects to url with opts for the test t (closed at its end)
// and returns the JetStream of the connection.
func Connect(t testing.TB, url string, opts ...nats.Option) jetstream.JetStream {
	t.Helper()
	js, _ := ConnectConn(t, url, opts...)
	return js
}

// ConnectConn is Connect that also returns the connection, for a test
// that closes it itself.
func ConnectConn(t testing.TB, url string, opts ...nats.Option) (jetstream.JetStream, *nats.Conn) {
	t.Helper()
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js, nc
}
