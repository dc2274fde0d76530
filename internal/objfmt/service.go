package objfmt

import (
	"encoding/binary"
	"unsafe"
)

// Service is the kind of a service's file, /dev/shm/ipcchan.service.NAME:
// the calls of ipcchan.Client to ipcchan.Server.
const Service Kind = 8

// A Service's payload, after the object header, is a control block, the
// table of its servers, the posted bitmap and its call records (offsets
// from the start of the payload, file offset 192; little endian):
//
//	offset   0  layout     uint32, ServiceLayout
//	offset   4  capacity   uint32, records: calls in flight at most
//	offset   8  reqMax     uint32, the largest request in bytes
//	offset  12  respMax    uint32, the largest response (or error text) in bytes, at least ServiceErrMin
//	offset  16  stride     uint32, bytes from one record to the next (a multiple of 64)
//	offset  20  flags      uint32, ServiceFixedReq: every request is reqMax bytes; ServiceFixedResp: every response is the pointer-free Resp's size (not respMax, which is at least ServiceErrMin)
//	offset  24  calls      uint64, calls answered
//	offset  32  late       uint64, answers that came after their caller gave up (dropped)
//	offset  40  died       uint64, calls whose server died handling them
//	offset  48  reclaimed  uint64, records taken back from dead clients and servers
//	offset  64  postedWord uint32, futex: servers waiting for a call sleep on it, ServiceSleepers set while one does
//	offset 128  cancelWord uint32, futex: a client that gives up on a call being handled wakes its servers on it
//	offset 192  freeWord   uint32, futex: clients waiting for a free record sleep on it
//	offset 256  servers    ServiceServers x uint32: pids of the serving handles, 0 for a free entry
//	offset 384  posted     ceil(capacity/64) x uint64: bit i (of word i/64, bit i%64) set when record i may be Posted
//	then        the records: record i at ServiceRecords(capacity) + i*stride
//
// A record is
//
//	offset  0  word      uint64: state (bits 0-3), sequence (bits 4-31), pid (bits 32-63)
//	offset  8  bell      uint32, futex: its client sleeps on it, ServiceSleepers set while it does
//	offset 16  deadline  int64, the caller's deadline in Unix nanoseconds; 0: none
//	offset 24  client    uint32, the pid of the calling process
//	offset 28  reqLen    uint32
//	offset 32  respLen   uint32
//	offset 36  status    uint32, ServiceOK or ServiceError
//	offset 40  code      uint32, the error's sentinel (ServiceStatus codes: see ipcerr.Code); 0: none
//	offset 64  the request, reqMax bytes (rounded up to 8)
//	then       the response, or the error's text, respMax bytes
//
// The states, and who moves a record between them (pid is the client's
// while Owned and Posted, the server's while Taken, Answered and
// Cancelled):
//
//	Free      -> Owned      a client, compare-and-swap, sequence + 1: it writes deadline, client, request
//	Owned     -> Posted     the client (a store), then sets the record's bit in posted and wakes postedWord
//	Posted    -> Taken      a server, compare-and-swap, after it cleared the bit; it reads the request
//	Taken     -> Answered   the server, compare-and-swap, after it wrote respLen, status, code, response; it wakes bell
//	Answered  -> Free       the client, once it read the response; it wakes freeWord
//	Posted    -> Free       a client that gives up before a server took the call
//	Taken     -> Cancelled  a client that gives up while a server handles the call; it wakes cancelWord
//	Cancelled -> Free       the server, whose answer finds it so (late + 1); it wakes freeWord
//	Taken     -> Free       a client whose server died, or anyone who finds it so (died + 1; its
//	                        client, seeing Free or a later sequence, knows its server died)
//
// A server looks for calls in posted: it clears a bit it finds set (an
// atomic and), then reads the record's word, and takes it if Posted. A
// bit may be set for a record that is no longer Posted (it is cleared and
// passed over). A client sets it after it stores Posted, and again
// every 20 ms while its call stays Posted (a server killed between
// clearing a bit and taking the call would otherwise leave it unseen). Records of dead processes are taken back (Free,
// reclaimed + 1) by whoever finds them: Owned or Posted by a dead client;
// Answered whose client is dead; Cancelled whose server is dead (and Taken
// whose server is dead: died + 1, its bell woken). A server
// registers in servers (a compare-and-swap of a free or dead entry to its
// pid) while it serves.
const (
	ServiceLayout  = 1
	ServiceServers = 32
	ServiceErrMin  = 256 // bytes of error text a record holds at least
	ServiceCapMax  = 1 << 16

	ServiceFixedReq  = 1
	ServiceFixedResp = 2

	ServiceSleepers = 1 << 31

	ServiceOK    = 0
	ServiceError = 1
)

// The states of a service's record.
const (
	CallFree      = 0
	CallOwned     = 1
	CallPosted    = 2
	CallTaken     = 3
	CallAnswered  = 4
	CallCancelled = 5
)

// CallStateName names a record's state, for ipcchan stat and errors.
func CallStateName(st uint64) string {
	if st > CallCancelled {
		return "?"
	}
	return [...]string{"free", "owned", "posted", "taken", "answered", "cancelled"}[st]
}

const (
	offSvcLayout    = 0
	offSvcCapacity  = 4
	offSvcReqMax    = 8
	offSvcRespMax   = 12
	offSvcStride    = 16
	offSvcFlags     = 20
	offSvcCalls     = 24
	offSvcLate      = 32
	offSvcDied      = 40
	offSvcReclaimed = 48
	offSvcPosted    = 64
	offSvcCancel    = 128
	offSvcFree      = 192
	offSvcServers   = 256
	offSvcBitmap    = 384

	// Offsets in a record.
	OffCallWord     = 0
	OffCallBell     = 8
	OffCallDeadline = 16
	OffCallClient   = 24
	OffCallReqLen   = 28
	OffCallRespLen  = 32
	OffCallStatus   = 36
	OffCallCode     = 40
	OffCallReq      = 64
)

// ServiceRecords is the offset of the first record of a service of
// capacity records.
func ServiceRecords(capacity int) int {
	return align64(offSvcBitmap + 8*((capacity+63)/64))
}

// ServiceRespOffset is the offset of the response in a record of requests
// of reqMax bytes.
func ServiceRespOffset(reqMax int) int { return OffCallReq + (reqMax+7)&^7 }

// ServiceStride is the size of a record of those maxima.
func ServiceStride(reqMax, respMax int) int {
	return align64(ServiceRespOffset(reqMax) + respMax)
}

// ServiceSize is the payload size of a service.
func ServiceSize(capacity, stride int) int { return ServiceRecords(capacity) + capacity*stride }

func align64(n int) int { return (n + 63) &^ 63 }

// ServiceInit writes the control block of a new service's payload (the
// rest is zero: every record Free).
func ServiceInit(p []byte, capacity, reqMax, respMax, flags int) {
	le := binary.LittleEndian
	le.PutUint32(p[offSvcLayout:], ServiceLayout)
	le.PutUint32(p[offSvcCapacity:], uint32(capacity))
	le.PutUint32(p[offSvcReqMax:], uint32(reqMax))
	le.PutUint32(p[offSvcRespMax:], uint32(respMax))
	le.PutUint32(p[offSvcStride:], uint32(ServiceStride(reqMax, respMax)))
	le.PutUint32(p[offSvcFlags:], uint32(flags))
}

// ServiceGeometry is a service's control block's shape.
type ServiceGeometry struct {
	Layout, Capacity, ReqMax, RespMax, Stride, Flags uint32
}

// ReadServiceGeometry reads the shape of the service whose payload starts p
// (at least 24 bytes).
func ReadServiceGeometry(p []byte) ServiceGeometry {
	le := binary.LittleEndian
	return ServiceGeometry{Layout: le.Uint32(p[offSvcLayout:]), Capacity: le.Uint32(p[offSvcCapacity:]), ReqMax: le.Uint32(p[offSvcReqMax:]),
		RespMax: le.Uint32(p[offSvcRespMax:]), Stride: le.Uint32(p[offSvcStride:]), Flags: le.Uint32(p[offSvcFlags:])}
}

// Fits reports whether the geometry is one this library made, and fits
// in a payload of n bytes.
func (g ServiceGeometry) Fits(n int) bool {
	return g.Layout == ServiceLayout && g.Capacity > 0 && g.Capacity <= ServiceCapMax && g.RespMax >= ServiceErrMin &&
		g.Stride%64 == 0 && int(g.Stride) >= ServiceStride(int(g.ReqMax), int(g.RespMax)) && ServiceSize(int(g.Capacity), int(g.Stride)) <= n
}

// ServiceWords are the shared words of a mapped service.
type ServiceWords struct {
	Calls, Late, Died, Reclaimed *uint64
	Posted, Cancel, Free         *uint32
	Servers                      *[ServiceServers]uint32
	Bitmap                       []uint64
}

// ServiceWordsOf returns the shared words of the service whose payload
// starts p (its geometry checked).
func ServiceWordsOf(p []byte) ServiceWords {
	g := ReadServiceGeometry(p)
	return ServiceWords{
		Calls:     (*uint64)(unsafe.Pointer(&p[offSvcCalls])),
		Late:      (*uint64)(unsafe.Pointer(&p[offSvcLate])),
		Died:      (*uint64)(unsafe.Pointer(&p[offSvcDied])),
		Reclaimed: (*uint64)(unsafe.Pointer(&p[offSvcReclaimed])),
		Posted:    (*uint32)(unsafe.Pointer(&p[offSvcPosted])),
		Cancel:    (*uint32)(unsafe.Pointer(&p[offSvcCancel])),
		Free:      (*uint32)(unsafe.Pointer(&p[offSvcFree])),
		Servers:   (*[ServiceServers]uint32)(unsafe.Pointer(&p[offSvcServers])),
		Bitmap:    unsafe.Slice((*uint64)(unsafe.Pointer(&p[offSvcBitmap])), (g.Capacity+63)/64),
	}
}

// CallWord packs a record's state word.
func CallWord(state, seq uint64, pid uint32) uint64 {
	return state | (seq&CallSeqMask)<<4 | uint64(pid)<<32
}

// CallSeqMask bounds a record's sequence number.
const CallSeqMask = 1<<28 - 1

// ParseCallWord unpacks a record's state word.
func ParseCallWord(w uint64) (state, seq uint64, pid uint32) {
	return w & 15, (w >> 4) & CallSeqMask, uint32(w >> 32)
}

// ServiceStats are what a service's words say of its use, for ipcchan ls.
type ServiceStats struct {
	Servers                          []uint32 // pids in the servers table
	InFlight                         int      // records Posted or Taken
	Calls, Late, Died, Reclaimed     uint64
	Capacity, ReqMax, RespMax, Flags uint32
}

// ReadServiceStats reads the counters and records of the service payload p;
// ok is false when its control block is not one this library reads.
func ReadServiceStats(p []byte) (s ServiceStats, ok bool) {
	if len(p) < offSvcBitmap {
		return s, false
	}
	g := ReadServiceGeometry(p)
	if !g.Fits(len(p)) {
		return s, false
	}
	le := binary.LittleEndian
	s.Capacity, s.ReqMax, s.RespMax, s.Flags = g.Capacity, g.ReqMax, g.RespMax, g.Flags
	s.Calls, s.Late, s.Died, s.Reclaimed = le.Uint64(p[offSvcCalls:]), le.Uint64(p[offSvcLate:]), le.Uint64(p[offSvcDied:]), le.Uint64(p[offSvcReclaimed:])
	for i := range ServiceServers {
		if pid := le.Uint32(p[offSvcServers+4*i:]); pid != 0 {
			s.Servers = append(s.Servers, pid)
		}
	}
	base := ServiceRecords(int(g.Capacity))
	for i := range int(g.Capacity) {
		st, _, _ := ParseCallWord(le.Uint64(p[base+i*int(g.Stride):]))
		if st == CallPosted || st == CallTaken {
			s.InFlight++
		}
	}
	return s, true
}
