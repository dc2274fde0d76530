package natsq_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ipcchan/ipcchan/internal/natstest"
	"github.com/ipcchan/ipcchan/ipcchan"
	"github.com/ipcchan/ipcchan/natsq"
)

// exampleJetStream starts a NATS server with JetStream, in this process,
// and connects to it.
func exampleJetStream() (jetstream.JetStream, func(), error) {
	dir, _ := os.MkdirTemp("", "natsq-example-")
	srv, err := natstest.Start(dir)
	if err != nil {
		os.RemoveAll(dir)
		return nil, nil, err
	}
	nc, _ := nats.Connect(srv.ClientURL())
	js, _ := jetstream.New(nc)
	return js, func() {
		nc.Close()
		srv.Shutdown()
		os.RemoveAll(dir)
	}, nil
}

// The same code as with a POSIX queue; only Open differs.
func Example() {
	js, stop, err := exampleJetStream()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer stop()

	type Job struct{ ID int }
	ctx := context.Background()
	q, err := natsq.Open[Job](ctx, js, "/example-jobs", ipcchan.Create())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer q.Unlink(ctx)
	defer q.Close()
	var s ipcchan.Sender[Job] = q
	var r ipcchan.Receiver[Job] = q
	for i := range 3 {
		s.Send(ctx, Job{ID: i})
	}
	s.CloseSend(ctx)
	for job, err := range r.All(ctx) {
		fmt.Println(job.ID, err)
	}
	// Output:
	// 0 <nil>
	// 1 <nil>
	// 2 <nil>
}

// A topic: every subscription gets every message, on any machine.
func ExampleOpenTopic() {
	js, stop, err := exampleJetStream()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer stop()

	type Tick struct{ N int }
	ctx := context.Background()
	t, err := natsq.OpenTopic[Tick](ctx, js, "/example-ticks", ipcchan.Create(), ipcchan.History(1))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer t.Unlink(ctx)
	defer t.Close()
	t.Send(ctx, Tick{N: 0}) // before anyone subscribed: the History
	a, _ := t.Subscribe()
	b, _ := t.Subscribe()
	var s ipcchan.Sender[Tick] = t
	for i := 1; i < 3; i++ {
		s.Send(ctx, Tick{N: i})
	}
	s.CloseSend(ctx)
	for _, r := range []ipcchan.Receiver[Tick]{a, b} {
		var got []int
		for tick, err := range r.All(ctx) {
			if err != nil {
				fmt.Println(err)
			}
			got = append(got, tick.N)
		}
		fmt.Println(got)
	}
	// Output:
	// [0 1 2]
	// [0 1 2]
}

// A service: the handler and the calls of ipcchan.OpenServer and
// OpenClient, on NATS.
func ExampleOpenServer() {
	js, stop, err := exampleJetStream()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer stop()

	type Req struct{ A, B int64 } // pointer-free: sent as its bytes
	type Resp struct{ Sum int64 }
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	// A server (any number of them, on any machines): Serve answers calls
	// until ctx ends or Close.
	srv, err := natsq.OpenServer[Req, Resp](ctx, js, "/example-calc")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Close()
	var sum ipcchan.Handler[Req, Resp] = func(ctx context.Context, r Req) (Resp, error) {
		if r.A < 0 {
			return Resp{}, fmt.Errorf("account %d: %w", r.A, ipcchan.ErrNotExist)
		}
		return Resp{Sum: r.A + r.B}, nil
	}
	go srv.Serve(ctx, sum)

	// A client: Call returns the answer to its own request, or the
	// handler's error; it waits for a server until ctx ends.
	c, err := natsq.OpenClient[Req, Resp](ctx, js, "/example-calc")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	resp, err := c.Call(ctx, Req{A: 2, B: 3})
	fmt.Println(resp.Sum, err)
	_, err = c.Call(ctx, Req{A: -7})
	fmt.Println(err, errors.Is(err, ipcchan.ErrNotExist))
	// Output:
	// 5 <nil>
	// account -7: does not exist true
}
