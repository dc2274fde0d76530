package ipcchan

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/ipcchan/ipcchan/internal/ipcerr"
	"github.com/ipcchan/ipcchan/internal/objfmt"
	"github.com/ipcchan/ipcchan/internal/ring"
	"github.com/ipcchan/ipcchan/internal/typed"
	"github.com/ipcchan/ipcchan/loop"
)

// A Server answers the calls of a service's clients with a handler. Any
// number of server processes may serve one name: each call goes to one of
// them, as a ring's messages go to one of its receivers. Its methods are
// safe for concurrent use.
type Server[Req, Resp any] struct {
	*service[Req, Resp]
	slot     int                          // in the service's servers table
	handling []atomic.Pointer[handlerRun] // by record: the call its handler runs, for cancellation
}

// A Handler answers one call: ctx carries the caller's deadline, and is
// cancelled when the caller gives up (or the Serve ends).
type Handler[Req, Resp any] func(ctx context.Context, req Req) (Resp, error)

// handlerRun is a call being handled, and how to cancel its context.
type handlerRun struct {
	call   ring.Call
	cancel context.CancelCauseFunc
}

// OpenServer opens the service name ("/calc") to serve it. It takes the
// options Create, Exclusive, Perm, Capacity (calls in flight at once, from
// 1; default 256), MsgSize (the largest encoded request and response of a
// type that is not pointer-free, default 1024; a pointer-free type's is its
// size) and WithCodec. Opening an existing service checks that it carries
// Req and Resp: ErrTypeMismatch naming both the service's types and
// these otherwise.
func OpenServer[Req, Resp any](name string, opts ...Option) (*Server[Req, Resp], error) {
	s, err := openService[Req, Resp](name, opts)
	if err != nil {
		return nil, err
	}
	slot, err := s.svc.Register()
	if err != nil {
		s.close()
		return nil, s.err("open", err, "")
	}
	return &Server[Req, Resp]{service: s, slot: slot, handling: make([]atomic.Pointer[handlerRun], s.svc.Capacity())}, nil
}

// Serve answers calls with h until ctx ends or the server is closed: each
// call runs h in a goroutine of its own, at most MaxHandlers at once (a
// call beyond them waits for one, or for another server). When it ends,
// the handlers running get their context cancelled and Serve waits for
// their answers. It returns nil after Close, ctx's cause when ctx ended.
//
// A handler's error goes back to the caller as a *HandlerError: its text,
// and its sentinel if it has one of those HandlerError lists. A response
// larger than the service's response size is answered with ErrTooLarge.
// A handler that panics crashes its process, as in any goroutine; its
// callers get ErrServerDied.
func (s *Server[Req, Resp]) Serve(ctx context.Context, h Handler[Req, Resp]) error {
	if s.closed() {
		return s.closedErr("serve")
	}
	if h == nil {
		return s.obj.Err("serve", ErrInvalid, "Serve needs a handler")
	}
	ctx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	var wg sync.WaitGroup
	wg.Go(func() { s.watchCancels(ctx) })
	base := context.WithoutCancel(ctx)
	var (
		taker   sync.Mutex   // one worker at a time looks for a call
		queued  atomic.Int32 // workers waiting for taker
		workers atomic.Int32
		first   = make(chan error, 1)
	)
	var work func()
	work = func() {
		defer workers.Add(-1)
		for {
			queued.Add(1)
			taker.Lock()
			queued.Add(-1)
			var c ring.Call
			err := context.Cause(ctx)
			if err == nil {
				c, err = s.svc.Take(ctx)
			}
			taker.Unlock()
			if err != nil {
				select {
				case first <- err:
				default:
				}
				stop(err)
				return
			}
			if queued.Load() == 0 && workers.Load() < MaxHandlers { // nobody looks for the next call while this one runs
				workers.Add(1)
				wg.Go(work)
			}
			s.handle(ctx, base, c, h)
		}
	}
	workers.Add(1)
	wg.Go(work)
	<-ctx.Done()
	wg.Wait()
	err := <-first
	switch {
	case s.closed():
		return nil
	case err == ring.ErrClosed:
		return nil
	}
	return s.err("serve", err, "calls")
}

// TryServe answers one call with h on the calling goroutine, if one is
// waiting, and reports whether it did: for a loop (see Watch), which then
// serves its calls one at a time on its own goroutine.
func (s *Server[Req, Resp]) TryServe(h Handler[Req, Resp]) (bool, error) {
	if s.closed() {
		return false, s.closedErr("serve")
	}
	c, ok := s.svc.TryTake()
	if !ok {
		return false, nil
	}
	s.handle(context.Background(), context.Background(), c, h)
	return true, nil
}

// Watch runs cb on l's goroutine when a call is waiting (ev must be
// loop.Readable), level-triggered as a Ring's Watch: cb answers calls with
// TryServe until it returns false. A handler run from a loop is not
// cancelled when its caller gives up (its answer is dropped, counted
// late); its ctx carries the caller's deadline.
func (s *Server[Req, Resp]) Watch(l *loop.Loop, ev loop.Events, cb func(loop.Events)) (stop func(), err error) {
	if ev != loop.Readable {
		return nil, s.obj.Err("watch", ErrInvalid, "watch a server for loop.Readable: a call waiting")
	}
	return s.watch(l, ev, cb, func(ctx context.Context) error { return s.svc.WaitPosted(ctx) })
}

// handle runs h on the call c and answers it. The handler's context
// derives from base, ctx without its cancellation (a child of ctx would
// enter and leave ctx's set of children, under its lock, at every call):
// when ctx ends, watchCancels cancels the handlers running, and a handler
// that starts after that sees ctx ended here.
func (s *Server[Req, Resp]) handle(ctx, base context.Context, c ring.Call, h Handler[Req, Resp]) {
	data, deadline := s.svc.Requested(c)
	req, err := s.req.Decode(data, 0)
	if err != nil {
		s.answerErr(c, err)
		return
	}
	hctx, cancel := context.WithCancelCause(base)
	if !deadline.IsZero() {
		var cancelDeadline context.CancelFunc
		hctx, cancelDeadline = context.WithDeadline(hctx, deadline)
		defer cancelDeadline()
	}
	run := &handlerRun{call: c, cancel: cancel}
	s.handling[c.Index()].Store(run)
	if s.svc.Cancelled(c) { // given up before the watch could see it
		cancel(errCallerGone)
	} else if ctx.Err() != nil { // Serve ended before the watch's last look
		cancel(context.Cause(ctx))
	}
	resp, herr := h(hctx, req)
	s.handling[c.Index()].CompareAndSwap(run, nil)
	cancel(nil)
	if herr != nil {
		s.answerErr(c, herr)
		return
	}
	var buf []byte
	if s.resp.Kind() == typed.Typed {
		bp := s.bufs.Get().(*[]byte)
		defer s.bufs.Put(bp)
		buf = (*bp)[:0]
	}
	msg, err := s.resp.Encode(buf, &resp)
	if err != nil {
		s.answerErr(c, opAnswer(err))
		return
	}
	s.svc.Answer(c, copy(s.svc.Response(c), msg), objfmt.ServiceOK, 0)
}

// answerErr answers c with err: its text (as much as the record holds)
// and its sentinel's code.
func (s *Server[Req, Resp]) answerErr(c ring.Call, err error) {
	s.svc.Answer(c, copy(s.svc.Response(c), err.Error()), objfmt.ServiceError, ipcerr.Code(err))
}

// opAnswer relabels an encoding error of the wire ("send") as the
// answer's.
func opAnswer(err error) error {
	if e, ok := err.(*ipcerr.Error); ok && e.Op == "send" {
		e.Op = "answer"
	}
	return err
}

// watchCancels cancels the context of each handler whose caller gives up,
// until ctx ends, and then every handler's: a goroutine parked on the
// service's cancel word.
func (s *Server[Req, Resp]) watchCancels(ctx context.Context) {
	for {
		v := s.svc.ArmCancel()
		for i := range s.handling {
			if run := s.handling[i].Load(); run != nil && s.svc.Cancelled(run.call) {
				run.cancel(errCallerGone)
			}
		}
		if err := s.svc.WaitCancel(ctx, v); err != nil {
			if context.Cause(ctx) == nil { // closed: Serve's ctx ends next
				s.cancelHandlers(err)
				<-ctx.Done()
			}
			s.cancelHandlers(context.Cause(ctx))
			return
		}
	}
}

// cancelHandlers cancels the context of every handler running, with
// cause.
func (s *Server[Req, Resp]) cancelHandlers(cause error) {
	for i := range s.handling {
		if run := s.handling[i].Load(); run != nil {
			run.cancel(cause)
		}
	}
}

// Attr describes the service.
func (s *Server[Req, Resp]) Attr() (ServiceAttr, error) { return s.attr() }

// Name returns the service's name, as given to OpenServer.
func (s *Server[Req, Resp]) Name() string { return s.obj.Name }

// Close closes the server: Serve ends (its handlers' contexts cancelled,
// their answers sent) and the process leaves the servers table. Calls not
// yet taken wait for another server. The service stays until
// UnlinkService. Calling Close twice is harmless.
func (s *Server[Req, Resp]) Close() error {
	if s.m.closed() {
		return nil
	}
	s.close()
	s.svc.Unregister(s.slot)
	return nil
}

// String describes the server, for logs.
func (s *Server[Req, Resp]) String() string {
	return fmt.Sprintf("ipcchan server of service %s (%s -> %s)", s.obj.Name, s.req.TypeName(), s.resp.TypeName())
}
