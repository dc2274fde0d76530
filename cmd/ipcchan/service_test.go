package main

import (
	"context"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/ipcchan/ipcchan/cmd/ipcchan/internal/inventory"
	"github.com/ipcchan/ipcchan/internal/testutil"
	"github.com/ipcchan/ipcchan/ipcchan"
)

// TestStatService: stat and ls show a service's servers, clients, calls in
// flight, late answers and calls lost; rm removes it.
func TestStatService(t *testing.T) {
	name := testutil.Name(t, ipcchan.UnlinkService)
	srv, err := ipcchan.OpenServer[int64, int64](name, ipcchan.Create(), ipcchan.Capacity(1))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	ctx, stop := context.WithCancel(t.Context())
	defer stop()
	held := make(chan struct{})
	go srv.Serve(ctx, func(ctx context.Context, n int64) (int64, error) {
		if n < 0 { // held until its caller gives up: a late answer
			held <- struct{}{}
			<-ctx.Done()
		}
		return 2 * n, nil
	})
	c, err := ipcchan.OpenClient[int64, int64](name)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i := range int64(3) {
		if got, err := c.Call(t.Context(), i); err != nil || got != 2*i {
			t.Fatalf("Call(%d) = %d, %v", i, got, err)
		}
	}
	short, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() { _, err := c.Call(short, -1); errc <- err }()
	<-held
	in := statJSON(t, name)["service"]
	if in.InFlight != 1 || in.Calls != 3 || in.Capacity != 1 || in.Type != "func(int64) int64" {
		t.Errorf("stat with a call in flight: %+v", in)
	}
	cancel()
	<-errc
	// The one record is free again only once the server dropped the late
	// answer: a call that goes through proves it.
	if got, err := c.Call(t.Context(), 5); err != nil || got != 10 {
		t.Fatalf("Call(5) = %d, %v", got, err)
	}
	late := statJSON(t, name)["service"]
	if late.Late != 1 || late.InFlight != 0 || !slices.Equal(late.Servers, []int{os.Getpid()}) || late.Use != inventory.InUse {
		t.Errorf("stat after a late answer: %+v", late)
	}
	out := mustRun(t, "ls")
	if !strings.Contains(out, name) || !strings.Contains(out, "1 server, 0 clients, 0/1 calls in flight, 4 answered, 1 late") {
		t.Errorf("ls:\n%s", out)
	}
	stat := mustRun(t, "stat", name)
	for _, want := range []string{"servers", "clients", "in flight", "late", "servers died"} {
		if !strings.Contains(stat, want) {
			t.Errorf("stat does not say %q:\n%s", want, stat)
		}
	}
	mustRun(t, "rm", "--kind", "service", name)
	if _, err := ipcchan.OpenClient[int64, int64](name); err == nil {
		t.Error("the service is still there after rm")
	}
}
