package ipcchan

import (
	"errors"
	"fmt"
	"math/bits"
	"os"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/ipcchan/ipcchan/internal/ipcerr"
	"github.com/ipcchan/ipcchan/internal/objfmt"
	"github.com/ipcchan/ipcchan/internal/options"
	"github.com/ipcchan/ipcchan/internal/ring"
	"github.com/ipcchan/ipcchan/internal/typed"
)

// A service is the shared memory of a Server and its Clients: the file
// /dev/shm/ipcchan.service.NAME, the 192-byte ipcchan header, then a
// control block and Capacity call records, each holding one call in
// flight: its request, then its answer (see package objfmt's Service, and
// docs/FORMATS.md, for the layout and the protocol, which a C server
// follows in testdata/calcserver.c).
//
// A call takes a free record with a compare-and-swap, writes its request
// in place and posts it; a server takes it with a compare-and-swap,
// decodes the request from the record, runs its handler and writes the
// answer in the same record; the caller reads the answer and frees the
// record. A pointer-free Req or Resp (what Shm takes) is copied, with no
// encoding; any other type goes through its codec (MessagePack by
// default), up to MsgSize bytes. Both sides look again a few times, then
// sleep on a futex as a Ring's receivers do, with no thread per waiting
// call.

// Defaults of a created service.
const (
	defaultServiceCapacity = 256
	defaultServiceMsgSize  = 1024

	// MaxHandlers is how many calls one Serve runs at once, each in a
	// goroutine of its own: a call beyond them waits in its record for a
	// handler of this or another server to free.
	MaxHandlers = 64
)

// service is what Server and Client share: the mapping, the algorithm
// and the two types' wires.
type service[Req, Resp any] struct {
	core
	svc  *ring.Service
	req  *typed.Wire[Req]
	resp *typed.Wire[Resp]
	bufs sync.Pool // *[]byte, for encoded values
}

// openService opens the service name for OpenServer or OpenClient.
func openService[Req, Resp any](name string, opts []Option) (*service[Req, Resp], error) {
	obj := ipcerr.Object{Kind: "service", Name: name}
	const allowed = options.Create | options.Exclusive | options.Perm | options.Capacity | options.MsgSize | options.Codec
	cfg, err := options.Apply(obj, allowed, opts)
	if err != nil {
		return nil, err
	}
	reqW, err := serviceWire[Req](obj, cfg)
	if err != nil {
		return nil, err
	}
	respW, err := serviceWire[Resp](obj, cfg)
	if err != nil {
		return nil, err
	}
	capacity, reqMax, respMax, flags, err := serviceShape(obj, cfg, reqW, respW)
	if err != nil {
		return nil, err
	}
	stride := objfmt.ServiceStride(reqMax, respMax)
	typeName := fmt.Sprintf("func(%s) %s", reqW.TypeName(), respW.TypeName())
	spec := objSpec{kind: objfmt.Service, size: uint64(objfmt.ServiceSize(capacity, stride)), align: 64,
		fingerprint: serviceFingerprint(reqW.Fingerprint(), respW.Fingerprint()), typeName: typeName}
	mem, created, err := openObject(obj, cfg, spec, func(p []byte) {
		objfmt.ServiceInit(p, capacity, reqMax, respMax, flags)
	})
	if err != nil {
		return nil, err
	}
	payload := objfmt.Payload(mem)
	if !created {
		if err := checkService(obj, cfg, payload, capacity, reqMax); err != nil {
			unix.Munmap(mem)
			return nil, err
		}
	}
	s := &service[Req, Resp]{core: core{obj: obj}, req: reqW, resp: respW}
	s.svc = ring.NewService(payload, uint32(os.Getpid()), &s.waiters)
	hint := func() string {
		return fmt.Sprintf("make the service again with a larger MsgSize (ipcchan.UnlinkService(%q), then open it with MsgSize)", name)
	}
	reqW.SetLimit(s.svc.ReqMax(), fmt.Sprintf("the service's request size of %d", s.svc.ReqMax()), hint)
	respW.SetLimit(s.svc.RespMax(), fmt.Sprintf("the service's response size of %d", s.svc.RespMax()), hint)
	s.bufs.New = func() any { b := make([]byte, 0, max(s.svc.ReqMax(), s.svc.RespMax())); return &b }
	attach(s, &s.m, mem, addUser(mem))
	return s, nil
}

// serviceWire is the wire of a service's requests or responses of T.
func serviceWire[T any](obj ipcerr.Object, cfg *options.Config) (*typed.Wire[T], error) {
	return typed.NewCopyWire[T](obj, cfg.Codec, true) // an empty []byte is a request like any other
}

// serviceFingerprint is a service's header's fingerprint: both types'.
func serviceFingerprint(req, resp uint64) uint64 {
	return req ^ bits.RotateLeft64(resp, 29)*0x9e3779b97f4a7c15
}

// serviceShape is the capacity, largest request and response, and flags
// that the options ask of a service of the wires' types.
func serviceShape[Req, Resp any](obj ipcerr.Object, cfg *options.Config, reqW *typed.Wire[Req], respW *typed.Wire[Resp]) (capacity, reqMax, respMax, flags int, err error) {
	capacity, reqMax, respMax = defaultServiceCapacity, defaultServiceMsgSize, defaultServiceMsgSize
	if cfg.Has(options.Capacity) {
		capacity = cfg.Capacity
	}
	if capacity > objfmt.ServiceCapMax {
		return 0, 0, 0, 0, obj.Err("open", ErrInvalid, fmt.Sprintf("Capacity(%d): a service holds at most %d calls in flight", capacity, objfmt.ServiceCapMax))
	}
	if cfg.Has(options.MsgSize) {
		if cfg.MsgSize > 1<<24 {
			return 0, 0, 0, 0, obj.Err("open", ErrInvalid, fmt.Sprintf("MsgSize(%d): a service's requests and responses are at most 16 MiB", cfg.MsgSize))
		}
		if reqW.Kind() != typed.Layout {
			if err := reqW.CheckMsgSize(cfg.MsgSize, fmt.Sprintf("MsgSize(%d)", cfg.MsgSize)); err != nil {
				return 0, 0, 0, 0, err
			}
		}
		if respW.Kind() != typed.Layout {
			if err := respW.CheckMsgSize(cfg.MsgSize, fmt.Sprintf("MsgSize(%d)", cfg.MsgSize)); err != nil {
				return 0, 0, 0, 0, err
			}
		}
		reqMax, respMax = cfg.MsgSize, cfg.MsgSize
	}
	if reqW.Kind() == typed.Layout {
		reqMax, flags = reqW.Size(), flags|objfmt.ServiceFixedReq
	}
	if respW.Kind() == typed.Layout {
		respMax, flags = respW.Size(), flags|objfmt.ServiceFixedResp
	}
	return capacity, reqMax, max(respMax, objfmt.ServiceErrMin), flags, nil
}

// checkService checks the control block of a service that exists.
func checkService(obj ipcerr.Object, cfg *options.Config, payload []byte, capacity, reqMax int) error {
	g := objfmt.ReadServiceGeometry(payload)
	switch {
	case g.Layout != objfmt.ServiceLayout:
		return obj.Err("open", ErrTypeMismatch, fmt.Sprintf("its records have layout %d; this library reads layout %d", g.Layout, objfmt.ServiceLayout))
	case !g.Fits(len(payload)):
		return obj.Err("open", ErrCorrupt, fmt.Sprintf("its control block says %d records of %d bytes, which its file (%d bytes of payload) does not hold; it is damaged: remove it (ipcchan.UnlinkService(%q))",
			g.Capacity, g.Stride, len(payload), obj.Name))
	case (cfg.Has(options.Capacity) && int(g.Capacity) != capacity) || (cfg.Has(options.MsgSize) && int(g.ReqMax) != reqMax):
		e := obj.Err("open", ErrExist, fmt.Sprintf("it exists with Capacity %d and MsgSize %d, not those asked for", g.Capacity, g.ReqMax))
		e.Hint = fmt.Sprintf("open it without Capacity/MsgSize, or remove it first (ipcchan.UnlinkService(%q))", obj.Name)
		return e
	}
	return nil
}

// ServiceAttr describes a service.
type ServiceAttr struct {
	Capacity  int    // calls in flight at most (records)
	ReqSize   int    // largest request, bytes
	RespSize  int    // largest response (or error text), bytes
	Servers   int    // processes serving it now (a server handle's process, while open)
	InFlight  int    // calls posted or being handled now
	Calls     uint64 // calls answered
	Late      uint64 // answers dropped because their caller had given up
	Died      uint64 // calls whose server died handling them
	Reclaimed uint64 // records taken back from dead processes
}

// attr describes the service, after taking back what dead processes held.
func (s *service[Req, Resp]) attr() (ServiceAttr, error) {
	if s.closed() {
		return ServiceAttr{}, s.closedErr("attr")
	}
	s.svc.Reclaim()
	st := s.svc.Stats()
	return ServiceAttr{Capacity: s.svc.Capacity(), ReqSize: s.svc.ReqMax(), RespSize: s.svc.RespMax(), Servers: len(s.svc.Servers()),
		InFlight: st.InFlight, Calls: st.Calls, Late: st.Late, Died: st.Died, Reclaimed: st.Reclaimed}, nil
}

// err turns an error of the service's algorithm into the handle's.
func (s *service[Req, Resp]) err(op string, err error, waitingFor string) error {
	switch err {
	case nil:
		return nil
	case ring.ErrClosed:
		return s.closedErr(op)
	case ring.ErrServerDied:
		return s.obj.Err(op, ErrServerDied, "the server died handling the call, before it answered; the call may or may not have had its effect")
	case ring.ErrNoRoom:
		return s.obj.Err(op, ErrLimit, fmt.Sprintf("the service has %d servers already, as many as it holds", objfmt.ServiceServers))
	case ring.ErrCorrupt:
		return s.obj.Err(op, ErrCorrupt, fmt.Sprintf("its records are in states the protocol never leaves them in: something else wrote into it; remove it (ipcchan.UnlinkService(%q)) and make it again", s.obj.Name))
	}
	return s.obj.Ended(op, err, waitingFor)
}

// UnlinkService removes the service name; handles already open keep
// working.
func UnlinkService(name string) error { return unlinkObject("service", name) }

var errCallerGone = errors.New("the caller gave up the call")
