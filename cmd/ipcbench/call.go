package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/rpc"
	"sync"
	"time"

	"github.com/ipcchan/ipcchan/ipcchan"
)

// callScenarios are ipcchan's Server and Client (a typed call between
// processes) against a ring ping-pong, the same two one-way trips, and
// against gRPC-go and net/rpc over a Unix socket, which Go programs use
// for it.
var callScenarios = []scenario{{
	name: "call round trip, 32 B request / 16 B response, one goroutine", unit: "call",
	impls: []impl{
		{name: "ipcchan Client.Call", ipcchan: true, ops: 20000, run: calls(1)},
		{name: "ipcchan Ring[Tick] ping-pong, two one-way trips", ipcchan: true, ops: 20000, run: twoWays(ringPingPong)},
		{name: "gRPC-go unary over a Unix socket", ops: 4000, run: grpcCalls(1)},
		{name: "net/rpc (gob) over a Unix socket", ops: 4000, run: rpcCalls(1)},
	},
}, {
	name: "calls from 8 goroutines at once, per call", unit: "call",
	impls: []impl{
		{name: "ipcchan Client.Call, 8 goroutines", ipcchan: true, ops: 40000, run: calls(8)},
		{name: "gRPC-go unary over a Unix socket, 8 goroutines", ops: 8000, run: grpcCalls(8)},
		{name: "net/rpc (gob) over a Unix socket, 8 goroutines", ops: 8000, run: rpcCalls(8)},
	},
}}

// callTargets are the goals of calls.
func callTargets(ratio func(name, scenario, a, b string, limit float64, atMost bool, note string)) {
	const one, eight = "call round trip, 32 B request", "calls from 8 goroutines at once"
	ratio("call round trip vs ring ping-pong (two one-way trips)", one, "ipcchan Client.Call", "ipcchan Ring[Tick] ping-pong, two one-way trips", 1.5, true, "")
	ratio("call round trip vs gRPC-go over a Unix socket (≥ 20× faster)", one, "ipcchan Client.Call", "gRPC-go unary over a Unix socket", 0.05, true, "")
	ratio("call round trip vs net/rpc over a Unix socket (≥ 20× faster)", one, "ipcchan Client.Call", "net/rpc (gob) over a Unix socket", 0.05, true, "")
	ratio("8 goroutines calling vs gRPC-go over a Unix socket (≥ 10× the calls/s)", eight, "ipcchan Client.Call, 8 goroutines", "gRPC-go unary over a Unix socket, 8 goroutines", 0.1, true, "")
	ratio("8 goroutines calling vs net/rpc over a Unix socket (≥ 10× the calls/s)", eight, "ipcchan Client.Call, 8 goroutines", "net/rpc (gob) over a Unix socket, 8 goroutines", 0.1, true, "")
}

func init() {
	peerRoles["call-serve"] = callServe // NAME: serve CalcReq with calcSum until killed
	peerRoles["rpc-serve"] = rpcServe   // PATH: serve Calc.Sum with net/rpc on a Unix socket until it closes
}

// CalcReq and CalcResp are a pointer-free 32-byte request and 16-byte
// response.
type CalcReq struct {
	ID   uint64
	A, B int64
	_    uint64
}

type CalcResp struct {
	ID  uint64
	Sum int64
}

func calcSum(_ context.Context, r CalcReq) (CalcResp, error) {
	return CalcResp{ID: r.ID, Sum: r.A + r.B}, nil
}

// twoWays turns a one-way latency into the round trip's.
func twoWays(m measurement) measurement {
	return func(b *bench, n int) (float64, error) {
		ns, err := m(b, n)
		return 2 * ns, err
	}
}

// parallel runs n calls of call from goroutines goroutines and returns
// the time per call of them all.
func parallel(n, goroutines int, call func(id uint64) error) (float64, error) {
	for i := range 100 { // warm-up
		if err := call(uint64(i)); err != nil {
			return 0, err
		}
	}
	var wg sync.WaitGroup
	errs := make([]error, goroutines)
	start := time.Now()
	for g := range goroutines {
		wg.Go(func() {
			for i := g; i < n; i += goroutines {
				if err := call(uint64(i)); err != nil {
					errs[g] = err
					return
				}
			}
		})
	}
	wg.Wait()
	return nsPer(start, n), errors.Join(errs...)
}

// checkSum checks an answer to the request of id.
func checkSum(id uint64, got CalcResp) error {
	if got != (CalcResp{ID: id, Sum: int64(id) + 1}) {
		return fmt.Errorf("call %d got %+v", id, got)
	}
	return nil
}

// calls times calls to a server peer from goroutines goroutines.
func calls(goroutines int) measurement {
	return func(b *bench, n int) (float64, error) {
		c, done, err := create(b, "call", ipcchan.OpenClient[CalcReq, CalcResp], ipcchan.UnlinkService)
		if err != nil {
			return 0, err
		}
		defer done()
		cmd, err := b.start("call-serve", c.Name())
		if err != nil {
			return 0, err
		}
		defer func() { cmd.Process.Kill(); cmd.Wait() }()
		return parallel(n, goroutines, func(id uint64) error {
			resp, err := c.Call(ctx, CalcReq{ID: id, A: int64(id), B: 1})
			if err != nil {
				return err
			}
			return checkSum(id, resp)
		})
	}
}

// callServe is the role NAME: serve calcSum until killed.
func callServe(a peerArgs) error {
	srv, err := ipcchan.OpenServer[CalcReq, CalcResp](a[0])
	if err != nil {
		return err
	}
	return srv.Serve(ctx, calcSum)
}

// Calc is the net/rpc service of the baseline.
type Calc struct{}

// Sum answers a CalcReq.
func (Calc) Sum(r CalcReq, resp *CalcResp) error {
	*resp = CalcResp{ID: r.ID, Sum: r.A + r.B}
	return nil
}

// rpcCalls times net/rpc calls over a Unix socket from goroutines
// goroutines, on one connection (net/rpc multiplexes its calls).
func rpcCalls(goroutines int) measurement {
	return func(b *bench, n int) (float64, error) {
		conn, cmd, err := b.listen("rpc-serve")
		if err != nil {
			return 0, err
		}
		c := rpc.NewClient(conn)
		ns, err := parallel(n, goroutines, func(id uint64) error {
			var resp CalcResp
			if err := c.Call("Calc.Sum", CalcReq{ID: id, A: int64(id), B: 1}, &resp); err != nil {
				return err
			}
			return checkSum(id, resp)
		})
		c.Close()
		return ns, errors.Join(err, cmd.Wait())
	}
}

// rpcServe is the role PATH: serve Calc with net/rpc on the connection
// to PATH until it closes.
func rpcServe(a peerArgs) error {
	conn, err := net.Dial("unix", a[0])
	if err != nil {
		return err
	}
	srv := rpc.NewServer()
	if err := srv.Register(Calc{}); err != nil {
		return err
	}
	srv.ServeConn(conn)
	return nil
}
