package natsq

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ipcchan/ipcchan/internal/ipcerr"
	"github.com/ipcchan/ipcchan/internal/typed"
	"github.com/ipcchan/ipcchan/ipcchan"
)

// A Client calls the servers of a service over NATS, as ipcchan.Client
// does in shared memory: Call sends a request and returns its answer,
// which is always the answer to that request. Its methods are safe for
// concurrent use.
type Client[Req, Resp any] struct {
	*service[Req, Resp]
	life      context.Context // cancelled by Close, with the closed handle's error as cause
	end       context.CancelCauseFunc
	closeOnce sync.Once
	typesVal  []string  // the types header's value, shared by every request (nats.go only reads it)
	calls     sync.Pool // *callState[Req]
	onRetry   func()    // tests: called when a call waits for a server
}

// callState is what a call reuses from one to the next: the request
// message and its header map, and the buffer of an encoded request.
type callState[Req any] struct {
	msg nats.Msg
	req Req       // the request, whose bytes msg.Data may be (codec.Layout)
	dl  [1]string // the deadline header's value
	buf []byte
}

// Backoff of a call that finds no server.
const (
	minRetryWait = time.Millisecond
	maxRetryWait = 50 * time.Millisecond
)

// OpenClient opens the service name ("/calc") on the NATS connection of js
// (js.Conn(); calls are core NATS requests, not JetStream) to call it. It
// takes the options of ipcchan.OpenClient that apply: WithCodec, and
// MsgSize (the largest encoded request and response of a type that is not
// pointer-free; at most, and by default, what the server's max_payload
// leaves beside the headers); Create and Capacity are accepted, so that
// code moves between transports unchanged, and change nothing: there is
// nothing to create, and NATS holds the calls in flight. Opening makes no
// request (ctx is not used): it does not check that a server exists, nor
// that it serves Req and Resp, which the first call does (see the package
// documentation, Services). The connection stays the caller's: Close does
// not close it.
func OpenClient[Req, Resp any](ctx context.Context, js jetstream.JetStream, name string, opts ...ipcchan.Option) (*Client[Req, Resp], error) {
	s, err := openService[Req, Resp](js, name, opts)
	if err != nil {
		return nil, err
	}
	c := &Client[Req, Resp]{service: s, typesVal: []string{s.types}}
	c.life, c.end = context.WithCancelCause(context.Background())
	c.calls.New = func() any {
		st := &callState[Req]{msg: nats.Msg{Subject: c.subject, Header: nats.Header{typesHeader: c.typesVal}}}
		return st
	}
	return c, nil
}

// Call sends req to one of the service's servers and returns its answer:
// the handler's response, or its error (an *ipcchan.HandlerError with Kind
// "NATS service", whose errors.Is matches the sentinel the handler's error
// was, as over shared memory). While no server serves the name, it waits
// for one (asking again after 1 ms, then up to every 50 ms) until ctx is
// done; ctx's deadline goes with the request to the handler. When ctx ends
// before the answer, Call returns ctx's error at once, but the handler is
// not cancelled: NATS request/reply has no way to tell it, so it runs on
// to its own deadline and its answer is dropped. A server that dies
// handling the call (or loses its connection) is not noticed either: Call
// waits for its answer until ctx ends, so calls to a service should have
// a deadline. Close makes it return ipcchan.ErrClosed. A request of
// another type than the server's is answered with ipcchan.ErrTypeMismatch,
// naming both.
func (c *Client[Req, Resp]) Call(ctx context.Context, req Req) (Resp, error) {
	var zero Resp
	if c.b.closed() {
		return zero, c.b.obj.Closed("call")
	}
	st := c.calls.Get().(*callState[Req])
	defer c.putCall(st)
	st.req = req
	data, err := c.req.Encode(st.buf[:0], &st.req)
	if err != nil {
		return zero, relabel(err, "call")
	}
	if c.req.Kind() == typed.Typed {
		st.buf = data[:0] // keep what it grew to
	}
	st.msg.Data = data
	var deadline int64
	if dl, ok := ctx.Deadline(); ok {
		deadline = max(dl.UnixNano(), 1)
		st.dl[0] = strconv.FormatInt(deadline, 10)
		st.msg.Header[deadlineHeader] = st.dl[:]
	} else {
		delete(st.msg.Header, deadlineHeader)
	}

	// rctx ends at ctx's end or at Close: a caller's context that never
	// ends (Background) needs no context of its own.
	rctx := c.life
	if ctx.Done() != nil {
		var cancel context.CancelCauseFunc
		rctx, cancel = context.WithCancelCause(ctx)
		stop := context.AfterFunc(c.life, func() { cancel(context.Cause(c.life)) })
		defer stop()
		defer cancel(nil)
	}
	wait := minRetryWait
	for {
		m, err := c.nc.RequestMsgWithContext(rctx, &st.msg)
		if err == nil && (len(m.Header) == 0 || m.Header.Get(retryHeader) == "") {
			return c.answer(ctx, m)
		}
		if err != nil && !errors.Is(err, nats.ErrNoResponders) {
			return zero, c.callErr(ctx, err, "the answer")
		}
		// No server (or one closing, that handed the call back): wait for
		// one, and ask again.
		if c.onRetry != nil {
			c.onRetry()
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-rctx.Done():
			t.Stop()
			return zero, c.callErr(ctx, rctx.Err(), fmt.Sprintf("a server (none serves %s)", c.subject))
		}
		wait = min(2*wait, maxRetryWait)
	}
}

// putCall gives a call's state back for the next call, keeping nothing of
// the request.
func (c *Client[Req, Resp]) putCall(st *callState[Req]) {
	var zero Req
	st.req, st.msg.Data = zero, nil
	c.calls.Put(st)
}

// answer returns the response or the handler's error that m carries.
func (c *Client[Req, Resp]) answer(ctx context.Context, m *nats.Msg) (Resp, error) {
	var zero Resp
	if err := ipcerr.PastDeadline(ctx); err != nil { // answered as the deadline passed (the handler's ctx had ended): late
		return zero, c.b.obj.Ended("call", err, "the answer")
	}
	if len(m.Header) != 0 {
		if v := m.Header.Values(errorHeader); len(v) > 0 {
			code, _ := strconv.ParseUint(v[0], 10, 32)
			return zero, &ipcchan.HandlerError{Kind: serviceKind, Service: c.b.obj.Name, Msg: string(m.Data), Err: ipcerr.Sentinel(uint32(code))}
		}
	}
	return c.resp.DecodeOwned(m.Data, 0) // nats.go gave the message its own bytes
}

// callErr is the error of a call whose request failed with err: Close, the
// end of ctx (its cause) while waiting for waitingFor, or NATS's.
func (c *Client[Req, Resp]) callErr(ctx context.Context, err error, waitingFor string) error {
	switch {
	case c.b.closed():
		return c.b.obj.Closed("call")
	case ctx.Err() != nil:
		return c.b.obj.Ended("call", context.Cause(ctx), waitingFor)
	}
	return c.b.natsError("call", err, "the request to "+c.subject+" failed")
}

// Close closes the client: its calls in flight return ipcchan.ErrClosed
// (the answers that come later are dropped) and later ones fail with it.
// The connection stays. Calling Close twice is harmless.
func (c *Client[Req, Resp]) Close() error {
	c.closeOnce.Do(func() {
		close(c.b.done)
		c.end(c.b.obj.Closed("call"))
	})
	return nil
}

// String describes the client, for logs.
func (c *Client[Req, Resp]) String() string {
	return fmt.Sprintf("natsq client of service %s on %s (%s -> %s)", c.b.obj.Name, c.subject, c.req.TypeName(), c.resp.TypeName())
}
