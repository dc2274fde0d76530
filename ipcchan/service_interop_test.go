package ipcchan_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/ipcchan/ipcchan/internal/testutil"
	"github.com/ipcchan/ipcchan/ipcchan"
)

// TestServiceWithC: a C server (testdata/calcserver.c, C11 atomics and
// futexes, following docs/FORMATS.md's "Service") serves a service that Go
// made: it registers in the servers table, answers calls from 8
// goroutines, then from 80 (records of both bitmap words), each with its
// own answer, fails a call with the text and code of Go's sum handler
// (errors.Is matches ErrNotExist), frees a call whose caller gave it up
// (late), and leaves the servers table when told to stop (Op 3).
func TestServiceWithC(t *testing.T) {
	server := testutil.BuildC(t, "calcserver")
	name := serviceName(t)
	c := openClient[CalcReq, CalcResp](t, name, ipcchan.Create(), ipcchan.Capacity(100)) // two bitmap words, the second partly used

	cmd := exec.Command(server, name)
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 8)
	exited := make(chan struct{})
	var exitErr error
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		exitErr = cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
	})
	expect := func(want string) {
		t.Helper()
		select {
		case l, ok := <-lines:
			if !ok || l != want {
				t.Fatalf("calcserver said %q (open %v), want %q", l, ok, want)
			}
		case <-time.After(interopDeadline):
			t.Fatalf("calcserver did not say %q", want)
		}
	}
	ctx := interopContext(t) // a lost wake-up fails the test instead of hanging it
	attr := func() ipcchan.ServiceAttr {
		t.Helper()
		a, err := c.Attr()
		if err != nil {
			t.Fatal(err)
		}
		return a
	}

	expect("ready")
	if a := attr(); a.Servers != 1 {
		t.Fatalf("Attr.Servers = %d with the C server registered, want 1", a.Servers)
	}

	const goroutines, calls = 8, 500
	callMany(t, c, 7, goroutines, calls)
	const wide, wideCalls = 80, 20 // more calls in flight than 64: records of the second bitmap word
	callMany(t, c, 8, wide, wideCalls)
	if t.Failed() {
		t.FailNow()
	}

	// A handler's error: the text of Go's sum, and ErrNotExist's code.
	for _, a := range []int64{7, -12345678901} {
		req := CalcReq{Seq: 1, A: a, Op: 1}
		_, err := c.Call(ctx, req)
		_, want := sum(ctx, req)
		var he *ipcchan.HandlerError
		if !errors.As(err, &he) || err.Error() != want.Error() {
			t.Errorf("Op 1 with A %d: %v, want a HandlerError %q", a, err, want)
		}
		if !errors.Is(err, ipcchan.ErrNotExist) {
			t.Errorf("Op 1 with A %d: %v is not ErrNotExist", a, err)
		}
	}

	// A call given up while C handles it: C frees the record when it
	// answers (late), and the next call gets its own answer.
	hang, cancel := context.WithCancel(ctx)
	errc := make(chan error, 1)
	go func() {
		_, err := c.Call(hang, CalcReq{Seq: 2, Op: 2})
		errc <- err
	}()
	expect("handling")
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Errorf("a call given up: %v, want context.Canceled", err)
	}
	resp, err := c.Call(ctx, CalcReq{Client: 7, Seq: 3, A: 40, B: 2})
	if err != nil || resp != (CalcResp{Sum: 42, Client: 7, Seq: 3}) {
		t.Fatalf("the call after one given up: %+v, %v; want its own answer", resp, err)
	}
	a := attr()
	if want := uint64(goroutines*calls + wide*wideCalls + 2 + 1); a.Calls != want || a.Late != 1 || a.InFlight != 0 || a.Servers != 1 || a.Died != 0 || a.Reclaimed != 0 {
		t.Errorf("Attr = %+v, want %d calls, 1 late, none in flight, one server", a, want)
	}

	// Op 3: C answers, leaves the servers table and exits.
	resp, err = c.Call(ctx, CalcReq{Client: 7, Seq: 4, A: 1, B: 1, Op: 3})
	if err != nil || resp != (CalcResp{Sum: 2, Client: 7, Seq: 4}) {
		t.Fatalf("the last call: %+v, %v", resp, err)
	}
	var total, highest int
	select {
	case l := <-lines:
		if _, err := fmt.Sscanf(l, "served %d calls, the highest record %d", &total, &highest); err != nil {
			t.Fatalf("calcserver said %q at exit: %v", l, err)
		}
	case <-time.After(interopDeadline):
		t.Fatal("calcserver said nothing after Op 3")
	}
	select {
	case <-exited:
		if exitErr != nil {
			t.Fatalf("calcserver: %v", exitErr)
		}
	case <-time.After(interopDeadline):
		t.Fatal("calcserver did not exit after Op 3")
	}
	t.Logf("calcserver served %d calls, the highest record %d", total, highest)
	if want := goroutines*calls + wide*wideCalls + 2 + 2 + 1; total != want {
		t.Errorf("calcserver served %d calls, want %d", total, want)
	}
	if highest < 64 {
		t.Errorf("calcserver served records up to %d only: none of the second bitmap word", highest)
	}
	if a := attr(); a.Servers != 0 {
		t.Errorf("Attr.Servers = %d after the C server left, want 0", a.Servers)
	}
}
