package ipcchan_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ipcchan/ipcchan/internal/testutil"
	"github.com/ipcchan/ipcchan/ipcchan"
	"github.com/ipcchan/ipcchan/loop"
)

// CalcReq and CalcResp are a pointer-free 32-byte request and 16-byte
// response: copied, not encoded (and the C server's, testdata/calcserver.c).
type CalcReq struct {
	Client, Seq uint32
	A, B        int64
	Op          uint32 // 0: A+B; 1: fail with ErrNotExist; 2: hang until cancelled
	_           uint32
}

type CalcResp struct {
	Sum         int64
	Client, Seq uint32
}

// sum is the server's handler: the sum, and the caller's identity back.
func sum(ctx context.Context, r CalcReq) (CalcResp, error) {
	switch r.Op {
	case 1:
		return CalcResp{}, fmt.Errorf("no account %d: %w", r.A, ipcchan.ErrNotExist)
	case 2:
		<-ctx.Done()
		return CalcResp{}, context.Cause(ctx)
	}
	return CalcResp{Sum: r.A + r.B, Client: r.Client, Seq: r.Seq}, nil
}

// serviceName returns a unique service name that is removed after the
// test.
func serviceName(t testing.TB) string {
	t.Helper()
	return testutil.Name(t, ipcchan.UnlinkService)
}

// openServer opens a server of name and serves it with h until the test
// ends.
func openServer[Req, Resp any](t testing.TB, name string, h ipcchan.Handler[Req, Resp], opts ...ipcchan.Option) *ipcchan.Server[Req, Resp] {
	t.Helper()
	srv, err := ipcchan.OpenServer[Req, Resp](name, opts...)
	if err != nil {
		t.Fatalf("OpenServer(%s): %v", name, err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(context.Background(), h) }()
	t.Cleanup(func() {
		srv.Close()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return srv
}

func openClient[Req, Resp any](t testing.TB, name string, opts ...ipcchan.Option) *ipcchan.Client[Req, Resp] {
	t.Helper()
	c, err := ipcchan.OpenClient[Req, Resp](name, opts...)
	if err != nil {
		t.Fatalf("OpenClient(%s): %v", name, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// callMany calls c from goroutines goroutines, calls each, and checks that
// every answer is its own call's.
func callMany(t *testing.T, c *ipcchan.Client[CalcReq, CalcResp], client uint32, goroutines, calls int) {
	t.Helper()
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range calls {
				seq := uint32(g*calls + i)
				req := CalcReq{Client: client, Seq: seq, A: int64(seq), B: int64(client) * 1000}
				resp, err := c.Call(t.Context(), req)
				if err != nil {
					t.Errorf("call %d: %v", seq, err)
					return
				}
				if resp != (CalcResp{Sum: req.A + req.B, Client: client, Seq: seq}) {
					t.Errorf("call %d of client %d got %+v: another call's answer", seq, client, resp)
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestServiceCall(t *testing.T) {
	forEachWait(t, func(t *testing.T) {
		name := serviceName(t)
		openServer(t, name, sum, ipcchan.Create(), ipcchan.Capacity(8))
		openServer[CalcReq, CalcResp](t, name, sum) // two servers share the calls
		c := openClient[CalcReq, CalcResp](t, name)
		callMany(t, c, 1, 16, 500) // more goroutines than records
		a, err := c.Attr()
		if err != nil {
			t.Fatal(err)
		}
		if a.Calls != 16*500 || a.InFlight != 0 || a.Servers != 1 || a.Capacity != 8 || a.ReqSize != 32 {
			t.Errorf("Attr = %+v, want 8000 calls, none in flight, one server process, 8 records of 32-byte requests", a)
		}
	})
}

// TestServiceEncoded: types that are not pointer-free go through the
// codec, both ways.
func TestServiceEncoded(t *testing.T) {
	name := serviceName(t)
	openServer(t, name, func(_ context.Context, names []string) (map[string]int, error) {
		m := map[string]int{}
		for _, n := range names {
			m[n] = len(n)
		}
		return m, nil
	}, ipcchan.Create(), ipcchan.MsgSize(200))
	c := openClient[[]string, map[string]int](t, name)
	got, err := c.Call(t.Context(), []string{"a", "bcd"})
	if err != nil || len(got) != 2 || got["bcd"] != 3 {
		t.Fatalf("Call = %v, %v; want map[a:1 bcd:3]", got, err)
	}
	_, err = c.Call(t.Context(), []string{strings.Repeat("x", 300)})
	if !errors.Is(err, ipcchan.ErrTooLarge) {
		t.Errorf("a request over MsgSize: %v, want ErrTooLarge", err)
	}
}

// TestServiceTypeMismatch: either type differing is refused at open, and
// the error names both sides.
func TestServiceTypeMismatch(t *testing.T) {
	name := serviceName(t)
	srv, err := ipcchan.OpenServer[CalcReq, CalcResp](name, ipcchan.Create())
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	for _, open := range []func() error{
		func() error { _, err := ipcchan.OpenClient[CalcReq, Job](name); return err },
		func() error { _, err := ipcchan.OpenClient[Job, CalcResp](name); return err },
		func() error { _, err := ipcchan.OpenServer[CalcResp, CalcReq](name); return err },
	} {
		err := open()
		if !errors.Is(err, ipcchan.ErrTypeMismatch) {
			t.Errorf("open with another type: %v, want ErrTypeMismatch", err)
			continue
		}
		if !strings.Contains(err.Error(), "func(ipcchan_test.CalcReq) ipcchan_test.CalcResp") {
			t.Errorf("%v: does not name the service's types", err)
		}
	}
	_, err = ipcchan.OpenClient[CalcReq, Job](name)
	if err == nil || !strings.Contains(err.Error(), "func(ipcchan_test.CalcReq) ipcchan_test.Job") {
		t.Errorf("%v: does not name the types asked for", err)
	}
}

// TestServiceHandlerErrors: a handler's error keeps its text and its
// sentinel.
func TestServiceHandlerErrors(t *testing.T) {
	name := serviceName(t)
	openServer(t, name, func(_ context.Context, what string) (string, error) {
		switch what {
		case "missing":
			return "", fmt.Errorf("account 7: %w", ipcchan.ErrNotExist)
		case "perm":
			return "", &fs.PathError{Op: "open", Path: "/etc/shadow", Err: fs.ErrPermission}
		case "plain":
			return "", errors.New("something broke")
		case "long":
			return "", errors.New(strings.Repeat("e", 5000))
		}
		return "ok " + what, nil
	}, ipcchan.Create())
	c := openClient[string, string](t, name)
	for _, tc := range []struct {
		req, text string
		is        error
	}{
		{"missing", "account 7: does not exist", ipcchan.ErrNotExist},
		{"perm", "open /etc/shadow: permission denied", fs.ErrPermission},
		{"plain", "something broke", nil},
	} {
		_, err := c.Call(t.Context(), tc.req)
		var he *ipcchan.HandlerError
		if !errors.As(err, &he) || err.Error() != tc.text {
			t.Errorf("%s: %v, want a HandlerError %q", tc.req, err, tc.text)
		}
		if tc.is != nil && !errors.Is(err, tc.is) {
			t.Errorf("%s: %v is not %v", tc.req, err, tc.is)
		}
		if tc.is == nil && he != nil && he.Err != nil {
			t.Errorf("%s: sentinel %v, want none", tc.req, he.Err)
		}
	}
	if errors.Is(&ipcchan.HandlerError{Msg: "x"}, fs.ErrNotExist) {
		t.Error("a HandlerError without a sentinel matches one")
	}
	_, err := c.Call(t.Context(), "long")
	if err == nil || len(err.Error()) < 256 || !strings.HasPrefix(err.Error(), "eee") {
		t.Errorf("a long error text: %.40q..., want its first bytes", err)
	}
	if got, err := c.Call(t.Context(), "x"); got != "ok x" || err != nil {
		t.Errorf("Call(x) = %q, %v after errors", got, err)
	}
}

// TestServiceDeadlineAndCancel: the handler's ctx carries the caller's
// deadline and ends when the caller gives up; the late answer is dropped
// and counted, and the next call gets its own.
func TestServiceDeadlineAndCancel(t *testing.T) {
	name := serviceName(t)
	deadlines := make(chan time.Time, 1)
	ended := make(chan error, 1)
	openServer(t, name, func(ctx context.Context, r CalcReq) (CalcResp, error) {
		if r.Op == 2 {
			dl, _ := ctx.Deadline()
			deadlines <- dl
			<-ctx.Done()
			ended <- ctx.Err()
			return CalcResp{Sum: -1, Client: r.Client, Seq: r.Seq}, nil // late: never delivered
		}
		return sum(ctx, r)
	}, ipcchan.Create(), ipcchan.Capacity(1)) // one record: the next call reuses it
	c := openClient[CalcReq, CalcResp](t, name)

	want := time.Now().Add(time.Hour).Truncate(time.Microsecond)
	ctx, cancel := context.WithDeadline(t.Context(), want)
	errc := make(chan error, 1)
	go func() {
		_, err := c.Call(ctx, CalcReq{Op: 2, Seq: 1})
		errc <- err
	}()
	if got := <-deadlines; !got.Equal(want) {
		t.Errorf("handler's deadline %v, want the caller's %v", got, want)
	}
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled call: %v, want context.Canceled", err)
	}
	if err := <-ended; err != context.Canceled {
		t.Errorf("handler's ctx ended with %v, want Canceled", err)
	}
	resp, err := c.Call(t.Context(), CalcReq{Seq: 2, A: 2, B: 3})
	if err != nil || resp != (CalcResp{Sum: 5, Seq: 2}) {
		t.Fatalf("the next call got %+v, %v; want its own answer", resp, err)
	}
	if a, _ := c.Attr(); a.Late != 1 {
		t.Errorf("Late = %d, want 1", a.Late)
	}

	short, cancel2 := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel2()
	if _, err := c.Call(short, CalcReq{Op: 2}); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("a call past its deadline: %v, want DeadlineExceeded", err)
	}
	<-deadlines
	<-ended
}

// TestServiceNoServer: with no server, a call waits for one until its
// ctx ends, and is answered by one that comes.
func TestServiceNoServer(t *testing.T) {
	name := serviceName(t)
	c := openClient[CalcReq, CalcResp](t, name, ipcchan.Create())
	short, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	if _, err := c.Call(short, CalcReq{}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a call with no server: %v, want DeadlineExceeded", err)
	}
	got := make(chan error, 1)
	go func() {
		resp, err := c.Call(t.Context(), CalcReq{A: 1, B: 2, Seq: 9})
		if err == nil && resp != (CalcResp{Sum: 3, Seq: 9}) {
			err = fmt.Errorf("got %+v", resp)
		}
		got <- err
	}()
	testutil.WaitBlocked(t, "ring.(*Service).Await", 1)
	openServer(t, name, sum)
	if err := <-got; err != nil {
		t.Fatalf("the waiting call: %v", err)
	}
}

// TestServiceClose: Close ends the calls in flight and Serve.
func TestServiceClose(t *testing.T) {
	name := serviceName(t)
	c := openClient[CalcReq, CalcResp](t, name, ipcchan.Create())
	got := make(chan error, 1)
	go func() { _, err := c.Call(context.Background(), CalcReq{}); got <- err }()
	testutil.WaitBlocked(t, "ring.(*Service).Await", 1)
	c.Close()
	if err := <-got; !errors.Is(err, ipcchan.ErrClosed) {
		t.Errorf("a call on a closed client: %v, want ErrClosed", err)
	}
	srv, err := ipcchan.OpenServer[CalcReq, CalcResp](name)
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(context.Background(), sum) }()
	testutil.WaitBlocked(t, "ring.(*Service).Take", 1)
	srv.Close()
	if err := <-served; err != nil {
		t.Errorf("Serve after Close: %v, want nil", err)
	}
	if err := srv.Serve(t.Context(), sum); !errors.Is(err, ipcchan.ErrClosed) {
		t.Errorf("Serve on a closed server: %v, want ErrClosed", err)
	}
}

// TestServiceWatch: a loop serves calls with Watch and TryServe.
func TestServiceWatch(t *testing.T) {
	name := serviceName(t)
	srv, err := ipcchan.OpenServer[CalcReq, CalcResp](name, ipcchan.Create())
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	l, err := loop.New()
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	stop, err := srv.Watch(l, loop.Readable, func(loop.Events) {
		for {
			if ok, err := srv.TryServe(sum); !ok || err != nil {
				return
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	go l.Run(t.Context())
	callMany(t, openClient[CalcReq, CalcResp](t, name), 3, 4, 200)
}

// helperCalcServe: NAME MODE — serves CalcReq with sum (MODE "sum"), or
// prints "handling" and hangs in every handler (MODE "hang"); prints
// "ready" once it serves.
func helperCalcServe(args []string) error {
	srv, err := ipcchan.OpenServer[CalcReq, CalcResp](args[0])
	if err != nil {
		return err
	}
	h := sum
	if args[1] == "slow" { // a handler that takes up to 2 ms: kills find calls in hand
		h = func(ctx context.Context, r CalcReq) (CalcResp, error) {
			select {
			case <-time.After(time.Duration(r.B%2000) * time.Microsecond):
			case <-ctx.Done():
				return CalcResp{}, ctx.Err()
			}
			return sum(ctx, r)
		}
	}
	if args[1] == "hang" {
		var once sync.Once
		h = func(ctx context.Context, r CalcReq) (CalcResp, error) {
			once.Do(func() { fmt.Println("handling") })
			select {}
		}
	}
	fmt.Println("ready")
	return srv.Serve(context.Background(), h)
}

// helperCalcCall: NAME CLIENT GOROUTINES CALLS — calls with callMany's
// checks; prints "ok" when every answer was its own.
func helperCalcCall(args []string) error {
	c, err := ipcchan.OpenClient[CalcReq, CalcResp](args[0])
	if err != nil {
		return err
	}
	var client, goroutines, calls int
	fmt.Sscan(args[1]+" "+args[2]+" "+args[3], &client, &goroutines, &calls)
	var wg sync.WaitGroup
	errs := make(chan error, goroutines)
	for g := range goroutines {
		wg.Go(func() {
			for i := range calls {
				seq := uint32(g*calls + i)
				req := CalcReq{Client: uint32(client), Seq: seq, A: int64(seq), B: int64(client) * 1000}
				resp, err := c.Call(context.Background(), req)
				if err != nil {
					errs <- err
					return
				}
				if resp != (CalcResp{Sum: req.A + req.B, Client: req.Client, Seq: seq}) {
					errs <- fmt.Errorf("call %d of client %d got %+v", seq, client, resp)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	fmt.Println("ok")
	return nil
}

func init() {
	helpers["calc-serve"] = helperCalcServe
	helpers["calc-call"] = helperCalcCall
	helpers["calc-chaos"] = helperCalcChaos
}

// startHelper starts a helper and waits for the line want on its output.
func startHelper(t testing.TB, want string, name string, args ...string) (*bufio.Scanner, func()) {
	t.Helper()
	cmd := helperCmd(t, name, args...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	kill := func() { cmd.Process.Kill(); cmd.Wait() }
	t.Cleanup(kill)
	sc := bufio.NewScanner(out)
	if !sc.Scan() || sc.Text() != want {
		t.Fatalf("helper %s said %q, want %q", name, sc.Text(), want)
	}
	return sc, kill
}

// TestServiceAcrossProcesses: clients in two processes and this one, with
// many goroutines each, and servers in another process and this one:
// every answer is its caller's.
func TestServiceAcrossProcesses(t *testing.T) {
	name := serviceName(t)
	c := openClient[CalcReq, CalcResp](t, name, ipcchan.Create(), ipcchan.Capacity(16))
	startHelper(t, "ready", "calc-serve", name, "sum")
	openServer(t, name, sum)
	var procs []*bufio.Scanner
	for client := range 2 {
		cmd := helperCmd(t, "calc-call", name, fmt.Sprint(client+10), "8", "300")
		out, _ := cmd.StdoutPipe()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer cmd.Wait()
		procs = append(procs, bufio.NewScanner(out))
	}
	callMany(t, c, 1, 8, 300)
	for i, sc := range procs {
		if !sc.Scan() || sc.Text() != "ok" {
			t.Errorf("client process %d: %q", i, sc.Text())
		}
	}
	if a, _ := c.Attr(); a.Servers != 2 {
		t.Errorf("Attr.Servers = %d, want 2 (this process and the helper)", a.Servers)
	}
}

// TestServiceServerDied: a server killed while it handles a call makes
// the call return ErrServerDied within 100 ms; its other calls go to the
// live server.
func TestServiceServerDied(t *testing.T) {
	name := serviceName(t)
	c := openClient[CalcReq, CalcResp](t, name, ipcchan.Create(), ipcchan.Capacity(4))
	out, kill := startHelper(t, "ready", "calc-serve", name, "hang")
	errc := make(chan error, 1)
	go func() { _, err := c.Call(t.Context(), CalcReq{Seq: 1}); errc <- err }()
	if !out.Scan() || out.Text() != "handling" {
		t.Fatalf("the server said %q, want handling", out.Text())
	}
	select {
	case err := <-errc:
		t.Fatalf("the call returned %v while its server lived", err)
	case <-time.After(30 * time.Millisecond): // it waits; it must not give up on a live server
	}
	killed := time.Now()
	kill()
	err := <-errc
	if took := time.Since(killed); took > 100*time.Millisecond {
		t.Errorf("ErrServerDied came %v after the kill, want within 100 ms", took)
	}
	if !errors.Is(err, ipcchan.ErrServerDied) {
		t.Fatalf("call whose server died: %v, want ErrServerDied", err)
	}
	openServer(t, name, sum)
	if resp, err := c.Call(t.Context(), CalcReq{Seq: 2, A: 1}); err != nil || resp.Sum != 1 {
		t.Errorf("a call after: %+v, %v", resp, err)
	}
	if a, _ := c.Attr(); a.Died != 1 {
		t.Errorf("Attr.Died = %d, want 1", a.Died)
	}
}

// helperCalcChaos: NAME CLIENT CALLS — calls from 4 goroutines with
// random deadlines, while servers are killed; every call must return its
// own answer, ErrServerDied or its own ctx's error. It prints
// "ok OK DIED TIMEDOUT".
func helperCalcChaos(args []string) error {
	c, err := ipcchan.OpenClient[CalcReq, CalcResp](args[0])
	if err != nil {
		return err
	}
	var client, calls int
	fmt.Sscan(args[1]+" "+args[2], &client, &calls)
	var ok, died, timedOut atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for g := range 4 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(client), uint64(g)))
			for i := range calls {
				seq := uint32(g*calls + i)
				req := CalcReq{Client: uint32(client), Seq: seq, A: int64(seq), B: rng.Int64N(1000)}
				ctx, cancel := context.WithTimeout(context.Background(), time.Duration(1+rng.IntN(50))*time.Millisecond)
				resp, err := c.Call(ctx, req)
				dl, _ := ctx.Deadline()
				ctxErr := ctx.Err()
				if ctxErr == nil && !time.Now().Before(dl) {
					ctxErr = context.DeadlineExceeded // past it, its timer about to fire
				}
				cancel()
				switch {
				case err == nil && resp == (CalcResp{Sum: req.A + req.B, Client: req.Client, Seq: seq}):
					ok.Add(1)
				case err == nil:
					errs <- fmt.Errorf("call %d of client %d got %+v: another call's answer", seq, client, resp)
					return
				case errors.Is(err, ipcchan.ErrServerDied):
					died.Add(1)
				case ctxErr != nil && errors.Is(err, ctxErr):
					timedOut.Add(1)
				default:
					errs <- fmt.Errorf("call %d of client %d: %v", seq, client, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	fmt.Println("ok", ok.Load(), died.Load(), timedOut.Load())
	return nil
}

// TestServiceChaos: 3 server and 3 client processes, the servers SIGKILLed
// at random instants and started again: every call returns its own
// answer, ErrServerDied or its ctx's error; none hangs (the test's
// deadline), none gets another's answer.
func TestServiceChaos(t *testing.T) {
	name := serviceName(t)
	c := openClient[CalcReq, CalcResp](t, name, ipcchan.Create(), ipcchan.Capacity(32))
	type server struct {
		cmd    *exec.Cmd
		exited chan error
	}
	start := func() *server {
		cmd := helperCmd(t, "calc-serve", name, "slow")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		s := &server{cmd: cmd, exited: make(chan error, 1)}
		go func() { s.exited <- cmd.Wait() }()
		return s
	}
	servers := []*server{start(), start(), start()}
	defer func() {
		for _, s := range servers {
			s.cmd.Process.Kill()
			<-s.exited
		}
	}()
	type result struct {
		out string
		err error
	}
	results := make(chan result, 3)
	for client := range 3 {
		cmd := helperCmd(t, "calc-chaos", name, strconv.Itoa(client), "1500")
		go func() {
			out, err := cmd.Output()
			results <- result{string(out), err}
		}()
	}
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 2))
	kills, done := 0, 0
	var totals [3]int
	for done < 3 {
		select {
		case r := <-results:
			done++
			var ok, died, timedOut int
			if _, err := fmt.Sscanf(r.out, "ok %d %d %d", &ok, &died, &timedOut); r.err != nil || err != nil {
				t.Fatalf("a client failed: %v %q", r.err, r.out)
			}
			totals[0], totals[1], totals[2] = totals[0]+ok, totals[1]+died, totals[2]+timedOut
		case <-time.After(time.Duration(rng.Int64N(int64(20 * time.Millisecond)))): // a random instant for the next kill
			i := rng.IntN(len(servers))
			servers[i].cmd.Process.Kill()
			if err := <-servers[i].exited; err == nil {
				t.Fatal("a server exited by itself")
			}
			servers[i] = start()
			kills++
		case <-t.Context().Done():
			t.Fatal("the clients hang")
		}
	}
	t.Logf("%d kills; calls: %d answered, %d ErrServerDied, %d timed out", kills, totals[0], totals[1], totals[2])
	if totals[0] == 0 {
		t.Error("no call was answered")
	}
	if a, _ := c.Attr(); a.InFlight != 0 {
		t.Errorf("Attr.InFlight = %d after every client returned, want 0", a.InFlight)
	}
}

// TestServiceConcurrentHandlers: handlers run at once, up to MaxHandlers:
// handlers that block all run at once, a quick call is still answered
// while they block, and never more than MaxHandlers run.
func TestServiceConcurrentHandlers(t *testing.T) {
	name := serviceName(t)
	var running, most atomic.Int32
	started := make(chan struct{}, 2*ipcchan.MaxHandlers)
	var release atomic.Pointer[chan struct{}]
	gate := func(ctx context.Context, r CalcReq) (CalcResp, error) {
		if r.Op != 3 {
			return sum(ctx, r)
		}
		n := running.Add(1)
		defer running.Add(-1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		rel := *release.Load()
		started <- struct{}{}
		select {
		case <-rel:
		case <-ctx.Done():
			return CalcResp{}, context.Cause(ctx)
		}
		return CalcResp{Seq: r.Seq}, nil
	}
	openServer(t, name, gate, ipcchan.Create())
	c := openClient[CalcReq, CalcResp](t, name)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	// block starts calls handlers block in, waits until want of them run,
	// and returns the release of them and the wait for their answers.
	block := func(calls, want int) (func(), func()) {
		rel := make(chan struct{})
		release.Store(&rel)
		errs := make(chan error, calls)
		for i := range calls {
			go func() {
				resp, err := c.Call(ctx, CalcReq{Op: 3, Seq: uint32(i)})
				if err == nil && resp.Seq != uint32(i) {
					err = fmt.Errorf("blocked call %d got %+v", i, resp)
				}
				errs <- err
			}()
		}
		for i := range want {
			select {
			case <-started:
			case <-ctx.Done():
				t.Fatalf("only %d of %d blocking handlers ran at once", i, want)
			}
		}
		return func() { close(rel) }, func() {
			for range calls {
				if err := <-errs; err != nil {
					t.Error(err)
				}
			}
			for len(started) > 0 {
				<-started
			}
		}
	}

	callMany(t, c, 1, 1, 200)
	free, wait := block(8, 8)
	callMany(t, c, 2, 2, 50) // answered while eight handlers block
	free()
	wait()

	callMany(t, c, 3, 1, 200)
	free, wait = block(ipcchan.MaxHandlers+1, ipcchan.MaxHandlers)
	free()
	wait()
	if m := most.Load(); m > ipcchan.MaxHandlers {
		t.Errorf("%d handlers ran at once, more than MaxHandlers (%d)", m, ipcchan.MaxHandlers)
	}
	callMany(t, c, 4, 4, 100)
}

// TestServiceServeEnds: when Serve ends, by its ctx or by Close, the
// handlers running are cancelled (even MaxHandlers of them, when no
// worker is left to see the handle closed), their callers get the
// handler's error, and Serve returns ctx's cause, or nil after Close.
func TestServiceServeEnds(t *testing.T) {
	stop := errors.New("the test stops serving")
	for _, by := range []string{"ctx", "Close"} {
		t.Run(by, func(t *testing.T) {
			name := serviceName(t)
			srv, err := ipcchan.OpenServer[CalcReq, CalcResp](name, ipcchan.Create())
			if err != nil {
				t.Fatal(err)
			}
			defer srv.Close()
			c := openClient[CalcReq, CalcResp](t, name)
			ctx, cancel := context.WithCancelCause(t.Context())
			defer cancel(nil)
			served := make(chan error, 1)
			go func() { served <- srv.Serve(ctx, sum) }()
			callMany(t, c, 1, 2, 50)
			const hanging = ipcchan.MaxHandlers
			got := make(chan error, hanging)
			for range hanging {
				go func() { _, err := c.Call(t.Context(), CalcReq{Op: 2}); got <- err }()
			}
			testutil.WaitBlocked(t, "ipcchan_test.sum", hanging)
			var want error // Serve's
			if by == "ctx" {
				cancel(stop)
				want = stop
			} else {
				srv.Close()
			}
			bound, done := context.WithTimeout(t.Context(), 10*time.Second)
			defer done()
			select {
			case err := <-served:
				if want == nil && err != nil || want != nil && !errors.Is(err, want) {
					t.Errorf("Serve returned %v, want %v", err, want)
				}
			case <-bound.Done():
				t.Fatal("Serve did not return: its handlers were not cancelled")
			}
			for range hanging {
				var herr *ipcchan.HandlerError
				if err := <-got; !errors.As(err, &herr) || want != nil && !strings.Contains(err.Error(), want.Error()) {
					t.Errorf("a call whose handler the end of Serve cancelled: %v, want the handler's error (%v)", err, want)
				}
			}
		})
	}
}
