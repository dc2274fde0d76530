package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// The gRPC baseline: a unary call over a Unix socket, as a Go program
// calls another process with gRPC-go. There is no protoc here, so the
// messages are protobuf's own compiled BytesValue carrying the 32-byte
// request and the 16-byte response, and the service is the
// grpc.ServiceDesc that protoc-gen-go-grpc would write.

func init() {
	peerRoles["grpc-serve"] = grpcServe // PATH: serve Calc/Sum with gRPC on the connection to PATH
}

// grpcSumMethod is the full name of the method.
const grpcSumMethod = "/ipcbench.Calc/Sum"

// grpcCalc is the service's handler type, as protoc-gen-go-grpc names one.
type grpcCalc interface {
	Sum(context.Context, *wrapperspb.BytesValue) (*wrapperspb.BytesValue, error)
}

type grpcCalcServer struct{}

// Sum answers a request encoded by encodeCalcReq.
func (grpcCalcServer) Sum(_ context.Context, in *wrapperspb.BytesValue) (*wrapperspb.BytesValue, error) {
	r, err := decodeCalcReq(in.Value)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 16)
	binary.LittleEndian.PutUint64(out, r.ID)
	binary.LittleEndian.PutUint64(out[8:], uint64(r.A+r.B))
	return wrapperspb.Bytes(out), nil
}

var grpcCalcDesc = grpc.ServiceDesc{
	ServiceName: "ipcbench.Calc",
	HandlerType: (*grpcCalc)(nil),
	Methods: []grpc.MethodDesc{{
		MethodName: "Sum",
		Handler: func(srv any, ctx context.Context, dec func(any) error, interceptor grpc.UnaryServerInterceptor) (any, error) {
			in := new(wrapperspb.BytesValue)
			if err := dec(in); err != nil {
				return nil, err
			}
			if interceptor == nil {
				return srv.(grpcCalc).Sum(ctx, in)
			}
			info := &grpc.UnaryServerInfo{Server: srv, FullMethod: grpcSumMethod}
			return interceptor(ctx, in, info, func(ctx context.Context, req any) (any, error) {
				return srv.(grpcCalc).Sum(ctx, req.(*wrapperspb.BytesValue))
			})
		},
	}},
	Metadata: "ipcbench/calc.proto",
}

func encodeCalcReq(r CalcReq) []byte {
	p := make([]byte, 32)
	binary.LittleEndian.PutUint64(p, r.ID)
	binary.LittleEndian.PutUint64(p[8:], uint64(r.A))
	binary.LittleEndian.PutUint64(p[16:], uint64(r.B))
	return p
}

func decodeCalcReq(p []byte) (CalcReq, error) {
	if len(p) != 32 {
		return CalcReq{}, fmt.Errorf("a request of %d bytes, want 32", len(p))
	}
	return CalcReq{ID: binary.LittleEndian.Uint64(p), A: int64(binary.LittleEndian.Uint64(p[8:])),
		B: int64(binary.LittleEndian.Uint64(p[16:]))}, nil
}

// grpcCalls times gRPC unary calls over a Unix socket from goroutines
// goroutines, on one client connection (HTTP/2 multiplexes its calls).
func grpcCalls(goroutines int) measurement {
	return func(b *bench, n int) (float64, error) {
		conn, cmd, err := b.listen("grpc-serve")
		if err != nil {
			return 0, err
		}
		defer func() { cmd.Process.Kill(); cmd.Wait() }()
		cc, err := grpc.NewClient("passthrough:///ipcbench-calc",
			grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithContextDialer(onceDialer(conn)))
		if err != nil {
			conn.Close()
			return 0, err
		}
		defer cc.Close()
		return parallel(n, goroutines, func(id uint64) error {
			var resp wrapperspb.BytesValue
			if err := cc.Invoke(ctx, grpcSumMethod, wrapperspb.Bytes(encodeCalcReq(CalcReq{ID: id, A: int64(id), B: 1})), &resp); err != nil {
				return err
			}
			if len(resp.Value) != 16 {
				return fmt.Errorf("call %d: an answer of %d bytes", id, len(resp.Value))
			}
			return checkSum(id, CalcResp{ID: binary.LittleEndian.Uint64(resp.Value), Sum: int64(binary.LittleEndian.Uint64(resp.Value[8:]))})
		})
	}
}

// onceDialer hands gRPC the connection the bench accepted, once: a second
// dial means the connection broke, which ends the measurement.
func onceDialer(c net.Conn) func(context.Context, string) (net.Conn, error) {
	var once sync.Once
	return func(context.Context, string) (net.Conn, error) {
		var got net.Conn
		once.Do(func() { got = c })
		if got == nil {
			return nil, errors.New("the gRPC connection to the peer broke")
		}
		return got, nil
	}
}

// grpcServe is the role PATH: serve Calc with gRPC on the connection to
// PATH until killed.
func grpcServe(a peerArgs) error {
	conn, err := net.Dial("unix", a[0])
	if err != nil {
		return err
	}
	srv := grpc.NewServer()
	srv.RegisterService(&grpcCalcDesc, grpcCalcServer{})
	return srv.Serve(newOneConnListener(conn))
}

// oneConnListener is a net.Listener that accepts one connection it was
// given, then blocks until closed.
type oneConnListener struct {
	conns  chan net.Conn
	closed chan struct{}
	once   sync.Once
	addr   net.Addr
}

func newOneConnListener(c net.Conn) *oneConnListener {
	l := &oneConnListener{conns: make(chan net.Conn, 1), closed: make(chan struct{}), addr: c.LocalAddr()}
	l.conns <- c
	return l
}

func (l *oneConnListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

func (l *oneConnListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return nil
}

func (l *oneConnListener) Addr() net.Addr { return l.addr }
