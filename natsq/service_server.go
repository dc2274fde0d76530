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

// A Server answers the calls of a service's clients over NATS with an
// ipcchan.Handler, as ipcchan.Server does in shared memory. Any number of
// servers, on any machines, may serve one name: they share one queue
// group, and each call goes to one of them. Its methods are safe for
// concurrent use.
type Server[Req, Resp any] struct {
	*service[Req, Resp]
	closeOnce  sync.Once
	answers    sync.Pool // *answer[Resp]
	onDispatch func()    // tests: called as a call reaches the server
}

// answer is what a handler's run reuses: the response, whose bytes the
// answer may be (codec.Layout), and the buffer of an encoded one.
type answer[Resp any] struct {
	resp Resp
	buf  []byte
}

// retryAnswer is the header of the answer that hands a call back to its
// caller, to send again: shared by every such answer (nats.go only reads
// it).
var retryAnswer = nats.Header{retryHeader: {"closing"}}

// errServeEnded is the cause of a handler's context when its Serve ends.
var errServeEnded = errors.New("the server stopped serving")

// OpenServer opens the service name ("/calc") on the NATS connection of js
// (js.Conn(); calls are core NATS requests, not JetStream) to serve it
// with Serve. It takes the options OpenClient takes. Opening makes no
// request (ctx is not used), and calls reach the server only once Serve
// runs. The connection stays the caller's: Close does not close it.
func OpenServer[Req, Resp any](ctx context.Context, js jetstream.JetStream, name string, opts ...ipcchan.Option) (*Server[Req, Resp], error) {
	s, err := openService[Req, Resp](js, name, opts)
	if err != nil {
		return nil, err
	}
	srv := &Server[Req, Resp]{service: s}
	srv.answers.New = func() any { return new(answer[Resp]) }
	return srv, nil
}

// Serve answers calls with h until ctx ends or the server is closed: it
// subscribes to the service's subject in its queue group, and runs h on
// each call in a goroutine of its own, at most ipcchan.MaxHandlers at once
// (a call beyond them waits at this server for one to end). h's ctx
// carries the caller's deadline (sent as Unix ns, so machines' clocks
// should agree), and is cancelled when Serve ends; it is not cancelled
// when the caller gives up earlier (see Client.Call). When Serve ends it
// unsubscribes, hands the calls that reached it but did not start back to
// their callers (who send them again, to another server or when one
// comes), cancels the running handlers' contexts and waits for their
// answers. It returns nil after Close, ctx's cause when ctx ended, and
// ipcchan.ErrClosed when the NATS connection closes.
//
// A handler's error goes back to the caller as an *ipcchan.HandlerError:
// its text, and its sentinel if it has one of those HandlerError lists. A
// response larger than the service's response size is answered with
// ipcchan.ErrTooLarge, a request of other types than Req and Resp with
// ipcchan.ErrTypeMismatch. A handler that panics crashes its process, as
// in any goroutine; its callers wait until their ctx ends.
func (s *Server[Req, Resp]) Serve(ctx context.Context, h ipcchan.Handler[Req, Resp]) error {
	if s.b.closed() {
		return s.b.obj.Closed("serve")
	}
	if h == nil {
		return s.b.obj.Err("serve", ipcchan.ErrInvalid, "Serve needs a handler")
	}
	ctx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	sem := make(chan struct{}, ipcchan.MaxHandlers) // a token for each handler running
	sub, err := s.nc.QueueSubscribe(s.subject, s.subject, func(m *nats.Msg) { s.dispatch(ctx, sem, m, h) })
	if err != nil {
		return s.b.natsError("serve", err, "cannot subscribe to "+s.subject)
	}
	subEnded := make(chan struct{}) // closed when the subscription ends (the connection closed)
	var endOnce sync.Once
	ended := func(string) { endOnce.Do(func() { close(subEnded) }) }
	sub.SetClosedHandler(ended)
	if !sub.IsValid() { // perhaps closed before its handler was set
		ended("")
	}
	var cause error
	select {
	case <-ctx.Done():
		cause = context.Cause(ctx)
	case <-s.b.done:
	case <-subEnded:
	}
	stop(errServeEnded)
	// Unsubscribe, and let the calls already here be handed back
	// (dispatch, on the subscription's goroutine, sees ctx done).
	sub.Drain()
	for range cap(sem) { // every handler has answered
		sem <- struct{}{}
	}
	switch {
	case s.b.closed():
		return nil
	case cause != nil:
		return s.b.obj.Ended("serve", cause, "calls")
	case s.nc.IsClosed():
		return s.b.obj.Err("serve", ipcchan.ErrClosed, "the NATS connection is closed")
	}
	return s.b.obj.Err("serve", nil, "the subscription to "+s.subject+" ended")
}

// dispatch runs h on the call m in a goroutine of its own, once fewer
// than MaxHandlers run, or hands m back to its caller when Serve ends
// first. It runs on the subscription's goroutine, which it holds while
// MaxHandlers run: the calls behind wait in the subscription.
func (s *Server[Req, Resp]) dispatch(ctx context.Context, sem chan struct{}, m *nats.Msg, h ipcchan.Handler[Req, Resp]) {
	if m.Reply == "" { // a publication, not a request: nobody to answer
		return
	}
	if s.onDispatch != nil {
		s.onDispatch()
	}
	select {
	case sem <- struct{}{}:
		if ctx.Err() != nil { // both were ready
			<-sem
			s.nc.PublishMsg(&nats.Msg{Subject: m.Reply, Header: retryAnswer})
			return
		}
	case <-ctx.Done():
		s.nc.PublishMsg(&nats.Msg{Subject: m.Reply, Header: retryAnswer})
		return
	}
	go func() {
		defer func() { <-sem }()
		s.handle(ctx, m, h)
	}()
}

// handle runs h on the call m and answers it.
func (s *Server[Req, Resp]) handle(ctx context.Context, m *nats.Msg, h ipcchan.Handler[Req, Resp]) {
	if len(m.Header) != 0 {
		if v := m.Header.Values(typesHeader); len(v) > 0 && v[0] != s.types {
			s.answerErr(m, s.b.obj.Err("call", ipcchan.ErrTypeMismatch, fmt.Sprintf(
				"the call is a %s; this server serves %s: both sides need the same types and codec", v[0], s.types)))
			return
		}
		if v := m.Header.Values(deadlineHeader); len(v) > 0 {
			if ns, err := strconv.ParseInt(v[0], 10, 64); err == nil && ns > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithDeadline(ctx, time.Unix(0, ns))
				defer cancel()
			}
		}
	}
	req, err := s.req.DecodeOwned(m.Data, 0) // nats.go gave the message its own bytes
	if err != nil {
		s.answerErr(m, err)
		return
	}
	a := s.answers.Get().(*answer[Resp])
	defer s.putAnswer(a)
	a.resp, err = h(ctx, req)
	if err != nil {
		s.answerErr(m, err)
		return
	}
	data, err := s.resp.Encode(a.buf[:0], &a.resp)
	if err != nil {
		s.answerErr(m, relabel(err, "answer"))
		return
	}
	if s.resp.Kind() == typed.Typed {
		a.buf = data[:0]
	}
	s.nc.Publish(m.Reply, data) // copies data; lost with the connection, and the caller waits to its deadline
}

// putAnswer gives a run's answer back for the next, keeping nothing of
// the response.
func (s *Server[Req, Resp]) putAnswer(a *answer[Resp]) {
	var zero Resp
	a.resp = zero
	s.answers.Put(a)
}

// answerErr answers m with err: its text (as much as an answer holds) and
// its sentinel's code.
func (s *Server[Req, Resp]) answerErr(m *nats.Msg, err error) {
	text := err.Error()
	if n := int(s.nc.MaxPayload()) - serviceRoom; len(text) > n {
		text = text[:max(n, 0)]
	}
	s.nc.PublishMsg(&nats.Msg{Subject: m.Reply, Data: []byte(text),
		Header: nats.Header{errorHeader: {strconv.FormatUint(uint64(ipcerr.Code(err)), 10)}}})
}

// Close closes the server: its Serve calls end (see Serve) and return
// nil. The connection stays. Calling Close twice is harmless.
func (s *Server[Req, Resp]) Close() error {
	s.closeOnce.Do(func() { close(s.b.done) })
	return nil
}

// String describes the server, for logs.
func (s *Server[Req, Resp]) String() string {
	return fmt.Sprintf("natsq server of service %s on %s (%s -> %s)", s.b.obj.Name, s.subject, s.req.TypeName(), s.resp.TypeName())
}
