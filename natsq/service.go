package natsq

import (
	"fmt"
	"math/bits"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ipcchan/ipcchan/internal/ipcerr"
	"github.com/ipcchan/ipcchan/internal/options"
	"github.com/ipcchan/ipcchan/internal/typed"
	"github.com/ipcchan/ipcchan/ipcchan"
)

// serviceKind is how errors name a service.
const serviceKind = "NATS service"

// servicePrefix starts a service's subject, which is also its servers'
// queue group: "/calc" is "ipcchan.service.calc".
const servicePrefix = "ipcchan.service."

// The headers of a service's requests and answers (see the package
// documentation, Services).
const (
	typesHeader    = "Ipcchan-Types"    // request: "func(Req) Resp" and the fingerprint of both
	deadlineHeader = "Ipcchan-Deadline" // request: the caller's deadline, Unix ns
	errorHeader    = "Ipcchan-Error"    // answer: a handler's error, its code (ipcerr.Code); the body is its text
	retryHeader    = "Ipcchan-Retry"    // answer: not handled (the server is closing): send it again
)

// serviceRoom is what a request or an answer leaves of the server's
// max_payload to its headers (beyond the types header, which is counted
// as it is).
const serviceRoom = 256

// service is what a Server and a Client share: the connection, the
// subject and the two types' wires.
type service[Req, Resp any] struct {
	b       base // js, obj ("NATS service", "/calc"), done; no stream
	nc      *nats.Conn
	subject string // "ipcchan.service.calc", also the queue group
	types   string // the value of typesHeader
	req     *typed.Wire[Req]
	resp    *typed.Wire[Resp]
}

// openService checks the name and options of OpenServer or OpenClient and
// makes what both sides share.
func openService[Req, Resp any](js jetstream.JetStream, name string, opts []ipcchan.Option) (*service[Req, Resp], error) {
	obj := ipcerr.Object{Kind: serviceKind, Name: name}
	const allowed = options.Create | options.Capacity | options.MsgSize | options.Codec
	cfg, err := options.Apply(obj, allowed, opts)
	if err != nil {
		return nil, err
	}
	bn, err := streamName(serviceKind, name, "open")
	if err != nil {
		return nil, err
	}
	if js == nil {
		return nil, obj.Err("open", ipcchan.ErrInvalid, "nil JetStream")
	}
	nc := js.Conn()
	switch {
	case nc == nil:
		return nil, obj.Err("open", ipcchan.ErrInvalid, "the JetStream has no NATS connection")
	case nc.IsClosed():
		return nil, obj.Err("open", ipcchan.ErrClosed, "the NATS connection is closed")
	case !nc.HeadersSupported():
		return nil, obj.Err("open", ipcchan.ErrInvalid, "the NATS server does not take message headers (NATS 2.2 or later does), which a service's calls carry")
	}
	reqW, err := serviceWire[Req](obj, cfg)
	if err != nil {
		return nil, err
	}
	respW, err := serviceWire[Resp](obj, cfg)
	if err != nil {
		return nil, err
	}
	s := &service[Req, Resp]{b: base{js: js, obj: obj, done: make(chan struct{})}, nc: nc, subject: servicePrefix + bn,
		req: reqW, resp: respW}
	s.types = fmt.Sprintf("func(%s) %s %016x", reqW.TypeName(), respW.TypeName(), serviceFingerprint(reqW.Fingerprint(), respW.Fingerprint()))
	payload := int(nc.MaxPayload())
	reqMax, respMax := payload-serviceRoom-len(typesHeader)-len(s.types), payload-serviceRoom
	reqLimit, respLimit := "the server's max_payload", "the server's max_payload"
	if cfg.Has(options.MsgSize) { // as in ipcchan, it bounds the types that are not pointer-free (a Layout one is its size)
		what := fmt.Sprintf("MsgSize(%d)", cfg.MsgSize)
		if reqW.Kind() != typed.Layout {
			if err := reqW.CheckMsgSize(cfg.MsgSize, what); err != nil {
				return nil, err
			}
			reqMax, reqLimit = min(reqMax, cfg.MsgSize), "MsgSize"
		}
		if respW.Kind() != typed.Layout {
			if err := respW.CheckMsgSize(cfg.MsgSize, what); err != nil {
				return nil, err
			}
			respMax, respLimit = min(respMax, cfg.MsgSize), "MsgSize"
		}
	}
	hint := func() string {
		return "send smaller values, or ask for a larger MsgSize (up to the server's max_payload)"
	}
	reqW.SetLimit(reqMax, fmt.Sprintf("the service's largest request, %d bytes (%s)", reqMax, reqLimit), hint)
	respW.SetLimit(respMax, fmt.Sprintf("the service's largest response, %d bytes (%s)", respMax, respLimit), hint)
	return s, nil
}

// serviceWire is the wire of a service's requests or responses of T, as
// ipcchan's: a pointer-free T travels as its bytes (codec.Layout) unless
// WithCodec says otherwise, and an empty []byte is a value like any other.
func serviceWire[T any](obj ipcerr.Object, cfg *options.Config) (*typed.Wire[T], error) {
	return typed.NewCopyWire[T](obj, cfg.Codec, true)
}

// serviceFingerprint is both types' fingerprint, as ipcchan's service
// header records it.
func serviceFingerprint(req, resp uint64) uint64 {
	return req ^ bits.RotateLeft64(resp, 29)*0x9e3779b97f4a7c15
}

// relabel renames the operation of an encoding error of the wire ("send")
// to op ("call", "answer").
func relabel(err error, op string) error {
	if e, ok := err.(*ipcerr.Error); ok && e.Op == "send" {
		e.Op = op
	}
	return err
}

// Name returns the service's name, as given to its Open.
func (s *service[Req, Resp]) Name() string { return s.b.obj.Name }

// Subject returns the NATS subject of the service's calls,
// "ipcchan.service.calc", which is also its servers' queue group.
func (s *service[Req, Resp]) Subject() string { return s.subject }
