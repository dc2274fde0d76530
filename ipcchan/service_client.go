package ipcchan

import (
	"context"
	"fmt"

	"github.com/ipcchan/ipcchan/internal/ipcerr"
	"github.com/ipcchan/ipcchan/internal/objfmt"
	"github.com/ipcchan/ipcchan/internal/ring"
	"github.com/ipcchan/ipcchan/internal/typed"
)

// A Client calls the servers of a service: Call sends a request and
// returns its answer, which is always the answer to that request. Any
// number of goroutines may call at once, in any number of processes; its
// methods are safe for concurrent use.
type Client[Req, Resp any] struct {
	*service[Req, Resp]
}

// A HandlerError is the error a server's handler returned, as the caller
// of Call gets it: its Error is the handler's error's text, unchanged (up
// to the service's response size, at least 256 bytes), and errors.Is
// matches the sentinel it was, if it was one of: ipcchan's (ErrNotExist,
// ErrInvalid, ErrServerDied ...), io/fs's (fs.ErrNotExist, fs.ErrExist,
// fs.ErrPermission, fs.ErrInvalid, fs.ErrClosed), context's (Canceled,
// DeadlineExceeded), io.EOF and io.ErrUnexpectedEOF. Other error types do
// not cross processes: their text does.
type HandlerError = ipcerr.HandlerError

// OpenClient opens the service name ("/calc") to call it. It takes the
// options Create, Exclusive, Perm, Capacity, MsgSize and WithCodec, as
// OpenServer does; without Create the service must exist. Opening checks
// that the service carries Req and Resp (ErrTypeMismatch naming both
// sides' types otherwise).
func OpenClient[Req, Resp any](name string, opts ...Option) (*Client[Req, Resp], error) {
	s, err := openService[Req, Resp](name, opts)
	if err != nil {
		return nil, err
	}
	return &Client[Req, Resp]{s}, nil
}

// Call sends req to one of the service's servers and returns its answer:
// the handler's response, or its error (a *HandlerError). It waits for a
// free record while Capacity calls are in flight, and for a server while
// there is none, until ctx is done; ctx's deadline goes with the request
// to the handler, and when ctx ends before the answer the handler's
// context is cancelled and its answer dropped (counted as late). A server
// that dies handling the call makes it return ErrServerDied within about
// 10 ms; Close makes it return ErrClosed.
func (c *Client[Req, Resp]) Call(ctx context.Context, req Req) (Resp, error) {
	var zero Resp
	if c.closed() {
		return zero, c.closedErr("call")
	}
	var buf []byte
	if c.req.Kind() == typed.Typed {
		bp := c.bufs.Get().(*[]byte)
		defer c.bufs.Put(bp)
		buf = (*bp)[:0]
	}
	msg, err := c.req.Encode(buf, &req)
	if err != nil {
		return zero, opCall(err)
	}
	call, err := c.svc.Acquire(ctx)
	if err != nil {
		return zero, c.err("call", err, "a free call record (every one is in flight)")
	}
	copy(c.svc.Request(call), msg)
	var deadline int64
	if dl, ok := ctx.Deadline(); ok {
		deadline = max(dl.UnixNano(), 1)
	}
	c.svc.Post(call, len(msg), deadline)
	ans, err := c.svc.Await(ctx, call)
	if err != nil {
		return zero, c.err("call", err, "the answer")
	}
	if err := ipcerr.PastDeadline(ctx); err != nil { // answered as the deadline passed (the handler's ctx had ended): late
		c.svc.DropLate(call)
		return zero, c.err("call", err, "the answer")
	}
	defer c.svc.Done(call)
	switch ans.Status {
	case objfmt.ServiceOK:
	case objfmt.ServiceError:
		return zero, &HandlerError{Kind: c.obj.Kind, Service: c.obj.Name, Msg: string(ans.Data), Err: ipcerr.Sentinel(ans.Code)}
	default:
		return zero, c.err("call", ring.ErrCorrupt, "")
	}
	resp, err := c.resp.Decode(ans.Data, 0)
	if err != nil {
		return zero, err
	}
	return resp, nil
}

// opCall relabels an encoding error of the wire ("send") as the call's.
func opCall(err error) error {
	if e, ok := err.(*ipcerr.Error); ok && e.Op == "send" {
		e.Op = "call"
	}
	return err
}

// Attr describes the service.
func (c *Client[Req, Resp]) Attr() (ServiceAttr, error) { return c.attr() }

// Name returns the service's name, as given to OpenClient.
func (c *Client[Req, Resp]) Name() string { return c.obj.Name }

// Close closes the client: its calls in flight return ErrClosed (their
// answers are dropped) and later ones fail with it. The service stays
// until UnlinkService. Calling Close twice is harmless.
func (c *Client[Req, Resp]) Close() error {
	c.close()
	return nil
}

// String describes the client, for logs.
func (c *Client[Req, Resp]) String() string {
	return fmt.Sprintf("ipcchan client of service %s (%s -> %s)", c.obj.Name, c.req.TypeName(), c.resp.TypeName())
}
