package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"regexp"
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

// double is the handler of the services of helperServe and helperAbandon.
func double(_ context.Context, n int64) (int64, error) { return 2 * n, nil }

// helperServe: SERVICE — makes the service (int64 to int64, 4 records)
// and serves it, says "ready", and waits for stdin to close; then it stops
// serving and closes the server.
func helperServe(args []string) error {
	srv, err := ipcchan.OpenServer[int64, int64](args[0], ipcchan.Create(), ipcchan.Capacity(4))
	if err != nil {
		return err
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, double) }()
	fmt.Println("ready")
	io.Copy(io.Discard, os.Stdin)
	stop()
	<-done
	return srv.Close()
}

// TestRmStaleService: a service whose only users, a server and a client
// in one process, were killed with SIGKILL is abandoned (ls and stat say
// so, and that it has no server), and rm --stale removes it; one served by
// a live process, and one whose server was killed while a client (this
// process) still has it open, are in use and kept; one everyone closed is
// idle, kept by rm --stale and removed by rm --stale --idle. In a sandbox
// of its own.
func TestRmStaleService(t *testing.T) {
	if testutil.InSandbox(t, testutil.OwnMqueueMount) {
		return
	}
	// Made, served and closed by another process (its stdin at its end at
	// once).
	idle := testutil.Name(t, ipcchan.UnlinkService)
	if out, err := testutil.Helper(t, "serve", idle).Output(); err != nil || string(out) != "ready\n" {
		t.Fatalf("the server of %s: %v, %q", idle, err, out)
	}

	// Served by a live process.
	live := testutil.Name(t, ipcchan.UnlinkService)
	server := testutil.Helper(t, "serve", live)
	serverIn := startReady(t, server)
	defer server.Wait()
	defer serverIn.Close()

	// Killed: a server and a client of dead (both the victim's), and the
	// server of orphan, whose client is this process's.
	dead, orphan := testutil.Name(t, ipcchan.UnlinkService), testutil.Name(t, ipcchan.UnlinkService)
	victim := testutil.Helper(t, "abandon", "service", dead, "server", orphan)
	hold := startReady(t, victim) // never closed before the kill
	defer hold.Close()
	client, err := ipcchan.OpenClient[int64, int64](orphan)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	second, err := ipcchan.OpenClient[int64, int64](orphan) // two handles, one client process
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	if n, err := client.Call(t.Context(), 4); err != nil || n != 8 {
		t.Fatalf("a call of the victim's server: %d, %v", n, err)
	}
	victim.Process.Kill()
	victim.Wait()
	vpid := victim.Process.Pid

	all := lsJSON(t)
	if in := all["service "+dead]; in.Use != inventory.Abandoned || !slices.Equal(in.Died, []int{vpid}) || // its server and client: one process
		len(in.Registered) != 0 || len(in.Servers) != 0 || in.Clients != 0 || in.Calls != 1 {
		t.Errorf("ls lists the service of the killed server and client as %+v", in)
	}
	if in := all["service "+live]; in.Use != inventory.InUse || !slices.Equal(in.Servers, []int{server.Process.Pid}) || in.Clients != 0 {
		t.Errorf("ls lists the service of a live server as %+v", in)
	}
	if in := all["service "+orphan]; in.Use != inventory.InUse || len(in.Servers) != 0 || in.Clients != 1 ||
		!slices.Equal(in.Died, []int{vpid}) || !slices.Equal(in.Registered, []int{os.Getpid(), os.Getpid()}) {
		t.Errorf("ls lists the service of a killed server and a live client process of two handles as %+v", in)
	}
	if in := all["service "+idle]; in.Use != inventory.Idle || len(in.Servers) != 0 {
		t.Errorf("ls lists the service everyone closed as %+v", in)
	}
	table := mustRun(t, "ls")
	if !regexp.MustCompile(regexp.QuoteMeta("service  "+dead) + ` .* abandoned  0 servers, 0 clients, 0/4 calls in flight, 1 answered, service func\(int64\) int64, left open by ` + fmt.Sprint(vpid) + `, which died\n`).MatchString(table) {
		t.Errorf("the table lacks the abandoned service:\n%s", table)
	}
	if st := mustRun(t, "stat", dead); !strings.Contains(st, fmt.Sprintf("use        abandoned: only processes that died without closing it used it (%d", vpid)) {
		t.Errorf("stat of the abandoned service:\n%s", st)
	}

	removesStale(t, func(name string) string { return "/dev/shm/ipcchan.service." + name[1:] }, dead, idle)
	for _, name := range []string{live, orphan} {
		if in := statJSON(t, name)["service"]; in.Use != inventory.InUse {
			t.Errorf("after rm --stale --idle, %s is %+v", name, in)
		}
	}
	// The live server still serves.
	c, err := ipcchan.OpenClient[int64, int64](live)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := c.Call(t.Context(), 5); err != nil || n != 10 {
		t.Errorf("a call of the live server: %d, %v", n, err)
	}
	c.Close()
	serverIn.Close()
	if err := server.Wait(); err != nil {
		t.Errorf("the server: %v", err)
	}
	mustRun(t, "rm", live)
	client.Close()
	mustRun(t, "rm", orphan)
}
