package natsq_test

import (
	"context"
	"fmt"
	"os"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ipcchan/ipcchan/internal/natstest"
	"github.com/ipcchan/ipcchan/ipcchan"
	"github.com/ipcchan/ipcchan/natsq"
)

// The same code as with a POSIX queue; only Open differs.
func Example() {
	dir, _ := os.MkdirTemp("", "natsq-example-")
	defer os.RemoveAll(dir)
	srv, err := natstest.Start(dir) // a NATS server with JetStream, in this process
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Shutdown()
	nc, _ := nats.Connect(srv.ClientURL())
	defer nc.Close()
	js, _ := jetstream.New(nc)

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
