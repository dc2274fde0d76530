package natsq_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ipcchan/ipcchan/internal/natstest"
	"github.com/ipcchan/ipcchan/ipcchan"
	"github.com/ipcchan/ipcchan/natsq"
)

// CalcReq and CalcResp are pointer-free, as ipcchan's service tests' are:
// they travel as their bytes (codec.Layout).
type CalcReq struct {
	Client, Seq uint32
	A, B        int64
	Op          uint32 // 0: A+B; 1: fail with ErrNotExist; 2: wait for ctx; 3: fail with fs.ErrPermission; 4: fail, no sentinel
	_           uint32
}

type CalcResp struct {
	Sum         int64
	Client, Seq uint32
	Server      uint32 // which server answered
	_           uint32
}

// calc is a handler of server number id: the sum, and the caller's
// identity back.
func calc(id uint32) ipcchan.Handler[CalcReq, CalcResp] {
	return func(ctx context.Context, r CalcReq) (CalcResp, error) {
		switch r.Op {
		case 1:
			return CalcResp{}, fmt.Errorf("no account %d: %w", r.A, ipcchan.ErrNotExist)
		case 2:
			<-ctx.Done()
			return CalcResp{}, context.Cause(ctx)
		case 3:
			return CalcResp{}, fmt.Errorf("account %d is locked: %w", r.A, fs.ErrPermission)
		case 4:
			return CalcResp{}, errors.New("boom")
		}
		return CalcResp{Sum: r.A + r.B, Client: r.Client, Seq: r.Seq, Server: id}, nil
	}
}

// serviceJS starts a NATS server for the test and returns two connections'
// JetStreams to it: the servers', the clients'.
func serviceJS(t testing.TB) (srvJS, cliJS jetstream.JetStream) {
	t.Helper()
	url := natstest.Server(t)
	return natstest.Connect(t, url), natstest.Connect(t, url)
}

// openServer opens a server of name; Serve runs with h until the test ends
// (and must then return nil).
func openServer[Req, Resp any](t testing.TB, js jetstream.JetStream, name string, h ipcchan.Handler[Req, Resp], opts ...ipcchan.Option) *natsq.Server[Req, Resp] {
	t.Helper()
	srv, err := natsq.OpenServer[Req, Resp](context.Background(), js, name, opts...)
	if err != nil {
		t.Fatalf("OpenServer(%s): %v", name, err)
	}
	serve(t, srv, h)
	return srv
}

// serve runs srv.Serve with h in a goroutine; at the end of the test it
// closes srv and checks that Serve returned nil.
func serve[Req, Resp any](t testing.TB, srv *natsq.Server[Req, Resp], h ipcchan.Handler[Req, Resp]) {
	done := make(chan error, 1)
	go func() { done <- srv.Serve(context.Background(), h) }()
	t.Cleanup(func() {
		srv.Close()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
}

func openClient[Req, Resp any](t testing.TB, js jetstream.JetStream, name string, opts ...ipcchan.Option) *natsq.Client[Req, Resp] {
	t.Helper()
	c, err := natsq.OpenClient[Req, Resp](context.Background(), js, name, opts...)
	if err != nil {
		t.Fatalf("OpenClient(%s): %v", name, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// callMany calls c from goroutines goroutines, calls each, checks that
// every answer is its own call's, and returns how many each server
// answered.
func callMany(t *testing.T, c *natsq.Client[CalcReq, CalcResp], client uint32, goroutines, calls int) map[uint32]int {
	t.Helper()
	var (
		wg sync.WaitGroup
		mu sync.Mutex
		by = map[uint32]int{}
	)
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
				if resp.Sum != req.A+req.B || resp.Client != client || resp.Seq != seq {
					t.Errorf("call %d of client %d got %+v: another call's answer", seq, client, resp)
					return
				}
				mu.Lock()
				by[resp.Server]++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return by
}

// TestServiceCall: many goroutines of two clients call at once, and each
// gets the answer to its own request.
func TestServiceCall(t *testing.T) {
	srvJS, cliJS := serviceJS(t)
	openServer(t, srvJS, "/calc", calc(1))
	a := openClient[CalcReq, CalcResp](t, cliJS, "/calc")
	b := openClient[CalcReq, CalcResp](t, srvJS, "/calc") // on the server's own connection
	var wg sync.WaitGroup
	wg.Go(func() { callMany(t, a, 1, 16, 50) })
	wg.Go(func() { callMany(t, b, 2, 16, 50) })
	wg.Wait()
	if s := a.Subject(); s != "ipcchan.service.calc" {
		t.Errorf("Subject = %q", s)
	}
	if n := a.Name(); n != "/calc" {
		t.Errorf("Name = %q", n)
	}
}

// TestServiceEncoded: types that are not pointer-free travel in
// MessagePack, []byte as it is, from goroutines reusing buffers.
func TestServiceEncoded(t *testing.T) {
	type Greeting struct {
		Name string
		Tags []string
	}
	srvJS, cliJS := serviceJS(t)
	openServer(t, srvJS, "/greet", func(ctx context.Context, g Greeting) ([]byte, error) {
		return fmt.Appendf(nil, "hello %s %v", g.Name, g.Tags), nil
	})
	c := openClient[Greeting, []byte](t, cliJS, "/greet")
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 30 {
				name := strings.Repeat("n", g*i%50) + fmt.Sprint(g, i)
				resp, err := c.Call(t.Context(), Greeting{Name: name, Tags: []string{fmt.Sprint(i)}})
				if want := fmt.Sprintf("hello %s [%d]", name, i); err != nil || string(resp) != want {
					t.Errorf("Call = %q, %v; want %q", resp, err, want)
					return
				}
			}
		})
	}
	wg.Wait()
}

// TestServiceQueueGroup: two servers share the calls, each call handled
// by one of them, once.
func TestServiceQueueGroup(t *testing.T) {
	srvJS, cliJS := serviceJS(t)
	var handled atomic.Int64
	counting := func(id uint32) ipcchan.Handler[CalcReq, CalcResp] {
		h := calc(id)
		return func(ctx context.Context, r CalcReq) (CalcResp, error) {
			handled.Add(1)
			return h(ctx, r)
		}
	}
	openServer(t, srvJS, "/calc", counting(1))
	openServer(t, natstest.Connect(t, srvJS.Conn().ConnectedUrl()), "/calc", counting(2)) // another connection: another member
	c := openClient[CalcReq, CalcResp](t, cliJS, "/calc")
	// Until both servers have subscribed, the first may take every call:
	// call until each has answered one (NATS picks a member at random).
	calls, by := 0, map[uint32]int{}
	for ; by[1] == 0 || by[2] == 0; calls++ {
		if calls == 2000 {
			t.Fatalf("after %d calls, the servers answered %v: not shared", calls, by)
		}
		resp, err := c.Call(t.Context(), CalcReq{Seq: uint32(calls), A: 1, B: 2})
		if err != nil || resp.Sum != 3 || resp.Seq != uint32(calls) {
			t.Fatalf("call %d = %+v, %v", calls, resp, err)
		}
		by[resp.Server]++
	}
	for s, n := range callMany(t, c, 7, 8, 50) {
		by[s] += n
	}
	calls += 8 * 50
	if by[1] == 0 || by[2] == 0 || by[1]+by[2] != calls {
		t.Errorf("servers answered %v of %d calls", by, calls)
	}
	if n := handled.Load(); n != int64(calls) {
		t.Errorf("%d calls were handled %d times", calls, n)
	}
}

// TestServiceHandlerError: a handler's error reaches the caller with its
// text and its sentinel; other calls go on.
func TestServiceHandlerError(t *testing.T) {
	srvJS, cliJS := serviceJS(t)
	openServer(t, srvJS, "/calc", calc(1))
	c := openClient[CalcReq, CalcResp](t, cliJS, "/calc")
	for _, tc := range []struct {
		op       uint32
		text     string
		sentinel []error
	}{
		{1, "no account 7: does not exist", []error{ipcchan.ErrNotExist, fs.ErrNotExist}},
		{3, "account 7 is locked: permission denied", []error{fs.ErrPermission}},
		{4, "boom", nil},
	} {
		_, err := c.Call(t.Context(), CalcReq{A: 7, Op: tc.op})
		var he *ipcchan.HandlerError
		if !errors.As(err, &he) || err.Error() != tc.text {
			t.Fatalf("op %d: Call = %v (%T); want the handler's error %q", tc.op, err, err, tc.text)
		}
		if he.Kind != "NATS service" || he.Service != "/calc" {
			t.Errorf("op %d: HandlerError %+v", tc.op, he)
		}
		for _, s := range tc.sentinel {
			if !errors.Is(err, s) {
				t.Errorf("op %d: errors.Is(%v, %v) = false", tc.op, err, s)
			}
		}
		if tc.sentinel == nil && he.Err != nil {
			t.Errorf("op %d: sentinel %v, want none", tc.op, he.Err)
		}
		if errors.Is(err, ipcchan.ErrClosed) || errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("op %d: %v matches another sentinel", tc.op, err)
		}
	}
	if resp, err := c.Call(t.Context(), CalcReq{A: 1, B: 1}); err != nil || resp.Sum != 2 {
		t.Fatalf("Call after errors = %+v, %v", resp, err)
	}
}

// TestServiceDeadline: the handler's ctx has the caller's deadline (to the
// microsecond), or none; a handler waiting past it makes the call end
// with DeadlineExceeded.
func TestServiceDeadline(t *testing.T) {
	srvJS, cliJS := serviceJS(t)
	type seen struct {
		deadline time.Time
		ok       bool
	}
	deadlines := make(chan seen, 1)
	openServer(t, srvJS, "/dl", func(ctx context.Context, req string) (string, error) {
		if req == "wait" {
			<-ctx.Done()
			return "", ctx.Err()
		}
		dl, ok := ctx.Deadline()
		deadlines <- seen{dl, ok}
		return req, nil
	})
	c := openClient[string, string](t, cliJS, "/dl")

	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	want, _ := ctx.Deadline()
	if resp, err := c.Call(ctx, "when"); err != nil || resp != "when" {
		t.Fatalf("Call = %q, %v", resp, err)
	}
	got := <-deadlines
	if !got.ok || got.deadline.Sub(want).Abs() >= time.Microsecond {
		t.Errorf("handler's deadline %v (%v), want %v", got.deadline, got.ok, want)
	}

	if _, err := c.Call(context.Background(), "none"); err != nil {
		t.Fatal(err)
	}
	if got := <-deadlines; got.ok {
		t.Errorf("handler's deadline %v, want none", got.deadline)
	}

	ctx, cancel = context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if _, err := c.Call(ctx, "wait"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Call past its deadline = %v, want DeadlineExceeded", err)
	}
}

// TestServiceWaitsForServer: with no server a call waits, until ctx ends
// (DeadlineExceeded) or a server comes and answers it.
func TestServiceWaitsForServer(t *testing.T) {
	srvJS, cliJS := serviceJS(t)
	c := openClient[CalcReq, CalcResp](t, cliJS, "/later")
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.Call(ctx, CalcReq{A: 1})
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "none serves ipcchan.service.later") {
		t.Fatalf("Call with no server = %v, want DeadlineExceeded waiting for a server", err)
	}
	if d := time.Since(start); d < 30*time.Millisecond {
		t.Fatalf("Call with no server returned after %v, before its deadline", d)
	}

	waiting := make(chan struct{})
	var once sync.Once
	natsq.OnRetry(c, func() { once.Do(func() { close(waiting) }) })
	answer := make(chan error, 1)
	go func() {
		resp, err := c.Call(t.Context(), CalcReq{A: 2, B: 3, Seq: 9})
		if err == nil && (resp.Sum != 5 || resp.Seq != 9) {
			err = fmt.Errorf("answer %+v", resp)
		}
		answer <- err
	}()
	<-waiting // the call found no server
	openServer(t, srvJS, "/later", calc(1))
	if err := <-answer; err != nil {
		t.Fatalf("Call once a server came: %v", err)
	}
}

// TestServiceTypeMismatch: a server answers a call of other types with
// ErrTypeMismatch naming both.
func TestServiceTypeMismatch(t *testing.T) {
	type OtherReq struct{ A, B int32 }
	srvJS, cliJS := serviceJS(t)
	openServer(t, srvJS, "/calc", calc(1))
	for name, call := range map[string]func() error{
		"OtherReq": func() error {
			_, err := openClient[OtherReq, CalcResp](t, cliJS, "/calc").Call(t.Context(), OtherReq{1, 2})
			return err
		},
		"string": func() error {
			_, err := openClient[string, string](t, cliJS, "/calc").Call(t.Context(), "1+2")
			return err
		},
	} {
		err := call()
		if !errors.Is(err, ipcchan.ErrTypeMismatch) || !strings.Contains(err.Error(), name) || !strings.Contains(err.Error(), "natsq_test.CalcReq") {
			t.Errorf("Call of %s = %v, want ErrTypeMismatch naming both types", name, err)
		}
	}
}

// TestServiceClientClose: Close ends the calls in flight, and later ones,
// with ErrClosed.
func TestServiceClientClose(t *testing.T) {
	srvJS, cliJS := serviceJS(t)
	entered, release := make(chan struct{}), make(chan struct{})
	defer close(release)
	openServer(t, srvJS, "/slow", func(ctx context.Context, req string) (string, error) {
		entered <- struct{}{}
		<-release
		return req, nil
	})
	c := openClient[string, string](t, cliJS, "/slow")
	errs := make(chan error, 2)
	go func() { _, err := c.Call(context.Background(), "a"); errs <- err }() // a context that never ends
	deadline, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	go func() { _, err := c.Call(deadline, "b"); errs <- err }() // and one that does
	<-entered
	<-entered
	c.Close()
	for range 2 {
		if err := <-errs; !errors.Is(err, ipcchan.ErrClosed) {
			t.Errorf("Call in flight at Close = %v, want ErrClosed", err)
		}
	}
	if _, err := c.Call(t.Context(), "c"); !errors.Is(err, ipcchan.ErrClosed) {
		t.Errorf("Call after Close = %v, want ErrClosed", err)
	}
}

// TestServiceServeEnds: Serve returns ctx's cause when ctx ends, nil after
// Close, and cancels its handlers' contexts as it ends.
func TestServiceServeEnds(t *testing.T) {
	srvJS, cliJS := serviceJS(t)
	srv, err := natsq.OpenServer[CalcReq, CalcResp](t.Context(), srvJS, "/ends")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	entered := make(chan struct{})
	h := func(ctx context.Context, r CalcReq) (CalcResp, error) {
		close(entered)
		<-ctx.Done()
		return CalcResp{}, fmt.Errorf("stopped: %w", context.Cause(ctx))
	}
	stop := errors.New("stop serving")
	ctx, cancel := context.WithCancelCause(t.Context())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, h) }()
	c := openClient[CalcReq, CalcResp](t, cliJS, "/ends")
	called := make(chan error, 1)
	go func() { _, err := c.Call(t.Context(), CalcReq{}); called <- err }()
	<-entered
	cancel(stop)
	if err := <-served; !errors.Is(err, stop) {
		t.Errorf("Serve after its ctx ended = %v, want its cause", err)
	}
	if err := <-called; err == nil || !strings.HasPrefix(err.Error(), "stopped: ") {
		t.Errorf("Call whose handler's Serve ended = %v, want the handler's error", err)
	}

	go func() { served <- srv.Serve(t.Context(), calc(1)) }()
	if resp, err := c.Call(t.Context(), CalcReq{A: 2, B: 2}); err != nil || resp.Sum != 4 {
		t.Fatalf("Call to the second Serve = %+v, %v", resp, err)
	}
	srv.Close()
	if err := <-served; err != nil {
		t.Errorf("Serve after Close = %v, want nil", err)
	}
	if err := srv.Serve(t.Context(), calc(1)); !errors.Is(err, ipcchan.ErrClosed) {
		t.Errorf("Serve of a closed server = %v, want ErrClosed", err)
	}

	js, nc := natstest.ConnectConn(t, srvJS.Conn().ConnectedUrl())
	other, err := natsq.OpenServer[CalcReq, CalcResp](t.Context(), js, "/ends")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	go func() { served <- other.Serve(t.Context(), calc(2)) }()
	if resp, err := c.Call(t.Context(), CalcReq{}); err != nil || resp.Server != 2 {
		t.Fatalf("Call to the other server = %+v, %v", resp, err)
	}
	nc.Close()
	if err := <-served; !errors.Is(err, ipcchan.ErrClosed) || !strings.Contains(err.Error(), "connection is closed") {
		t.Errorf("Serve when its connection closed = %v, want ErrClosed", err)
	}
}

// TestServiceHandsBackOnClose: a call that reached a server busy with
// MaxHandlers calls is handed back when that server closes, and another
// server answers it.
func TestServiceHandsBackOnClose(t *testing.T) {
	srvJS, cliJS := serviceJS(t)
	busy, err := natsq.OpenServer[CalcReq, CalcResp](t.Context(), srvJS, "/busy")
	if err != nil {
		t.Fatal(err)
	}
	arrived := make(chan struct{}, ipcchan.MaxHandlers+1)
	natsq.OnDispatch(busy, func() { arrived <- struct{}{} })
	served := make(chan error, 1)
	go func() { served <- busy.Serve(t.Context(), calc(1)) }()
	c := openClient[CalcReq, CalcResp](t, cliJS, "/busy")
	var wg sync.WaitGroup
	for i := range ipcchan.MaxHandlers {
		wg.Go(func() {
			if _, err := c.Call(t.Context(), CalcReq{Op: 2, Seq: uint32(i)}); err == nil {
				t.Errorf("call %d, whose handler waits for Serve to end, succeeded", i)
			}
		})
	}
	for range ipcchan.MaxHandlers {
		<-arrived
	}
	last := make(chan error, 1)
	go func() {
		resp, err := c.Call(t.Context(), CalcReq{A: 40, B: 2, Seq: 1000})
		if err == nil && (resp.Sum != 42 || resp.Server != 2) {
			err = fmt.Errorf("answer %+v, want 42 from server 2", resp)
		}
		last <- err
	}()
	<-arrived // the last call waits at the busy server for a free handler
	busy.Close()
	if err := <-served; err != nil {
		t.Errorf("Serve after Close = %v", err)
	}
	wg.Wait()
	openServer(t, natstest.Connect(t, srvJS.Conn().ConnectedUrl()), "/busy", calc(2))
	if err := <-last; err != nil {
		t.Fatalf("the call handed back: %v", err)
	}
}

// TestServiceLimits: options, names and sizes that a service refuses.
func TestServiceLimits(t *testing.T) {
	srvJS, cliJS := serviceJS(t)
	ctx := t.Context()
	for _, tc := range []struct {
		name string
		opts []ipcchan.Option
		want error
	}{
		{"/calc", []ipcchan.Option{ipcchan.Perm(0o644)}, ipcchan.ErrInvalid},
		{"/calc", []ipcchan.Option{ipcchan.Create(), ipcchan.Exclusive()}, ipcchan.ErrInvalid},
		{"calc", nil, ipcchan.ErrInvalidName},
		{"/ca.lc", nil, ipcchan.ErrInvalidName},
	} {
		if _, err := natsq.OpenClient[string, string](ctx, cliJS, tc.name, tc.opts...); !errors.Is(err, tc.want) {
			t.Errorf("OpenClient(%q, %d options) = %v, want %v", tc.name, len(tc.opts), err, tc.want)
		}
		if _, err := natsq.OpenServer[string, string](ctx, cliJS, tc.name, tc.opts...); !errors.Is(err, tc.want) {
			t.Errorf("OpenServer(%q, %d options) = %v, want %v", tc.name, len(tc.opts), err, tc.want)
		}
	}
	if _, err := natsq.OpenClient[string, string](ctx, nil, "/calc"); !errors.Is(err, ipcchan.ErrInvalid) {
		t.Errorf("OpenClient(nil JetStream) = %v", err)
	}
	// What moves from ipcchan unchanged opens.
	openClient[string, string](t, cliJS, "/calc", ipcchan.Create(), ipcchan.Capacity(256))

	openServer(t, srvJS, "/big", func(ctx context.Context, n string) (string, error) {
		return strings.Repeat("x", len(n)*100), nil
	}, ipcchan.MsgSize(64))
	c := openClient[string, string](t, cliJS, "/big", ipcchan.MsgSize(64))
	if _, err := c.Call(ctx, strings.Repeat("y", 65)); !errors.Is(err, ipcchan.ErrTooLarge) || errors.As(err, new(*ipcchan.HandlerError)) {
		t.Errorf("Call of a request too large = %v, want ErrTooLarge before sending", err)
	}
	if _, err := c.Call(ctx, "yy"); !errors.Is(err, ipcchan.ErrTooLarge) || !errors.As(err, new(*ipcchan.HandlerError)) {
		t.Errorf("Call whose response is too large = %v, want the server's ErrTooLarge", err)
	}
	if resp, err := c.Call(ctx, ""); err != nil || resp != "" {
		t.Errorf("Call of an empty request = %q, %v", resp, err)
	}
}

// BenchmarkServiceCall is a natsq Call of a 32-byte request and a
// 24-byte response, one at a time; BenchmarkRawRequest is the same round
// trip with nc.Request and a byte echo subscriber: their ratio is natsq's
// cost.
func BenchmarkServiceCall(b *testing.B) {
	srvJS, cliJS := serviceJS(b)
	openServer(b, srvJS, "/bench", func(ctx context.Context, r CalcReq) (CalcResp, error) {
		return CalcResp{Sum: r.A + r.B, Seq: r.Seq}, nil
	})
	c := openClient[CalcReq, CalcResp](b, cliJS, "/bench")
	ctx := context.Background()
	if _, err := c.Call(ctx, CalcReq{}); err != nil { // a server is there
		b.Fatal(err)
	}
	b.ReportAllocs()
	var seq uint32
	for b.Loop() {
		seq++
		resp, err := c.Call(ctx, CalcReq{Seq: seq, A: 1, B: 2})
		if err != nil || resp.Seq != seq {
			b.Fatalf("Call = %+v, %v", resp, err)
		}
	}
}

func BenchmarkRawRequest(b *testing.B) {
	srvJS, cliJS := serviceJS(b)
	const subject = "bench.raw"
	sub, err := srvJS.Conn().QueueSubscribe(subject, subject, func(m *nats.Msg) { m.Respond(m.Data[:24]) })
	if err != nil {
		b.Fatal(err)
	}
	defer sub.Unsubscribe()
	if err := srvJS.Conn().Flush(); err != nil { // the server has the subscription
		b.Fatal(err)
	}
	nc := cliJS.Conn()
	req := make([]byte, 32)
	if _, err := nc.Request(subject, req, 10*time.Second); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		m, err := nc.Request(subject, req, 10*time.Second)
		if err != nil || len(m.Data) != 24 {
			b.Fatalf("Request = %v, %v", m, err)
		}
	}
}
