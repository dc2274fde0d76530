package ring

import (
	"context"
	"errors"
	"math/bits"
	"slices"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/ipcchan/ipcchan/internal/futex"
	"github.com/ipcchan/ipcchan/internal/objfmt"
	"github.com/ipcchan/ipcchan/internal/posix"
)

// The service's errors, beside ErrClosed and ctx's cause.
var (
	ErrServerDied = errors.New("the server died handling the call")
	ErrNoRoom     = errors.New("the service's servers table is full")
)

// A Service is one process's view of a mapped service (objfmt.Service: its
// layout and protocol): the call records that clients fill and servers
// answer. It knows nothing of Go types. Its methods are safe for
// concurrent use.
type Service struct {
	p        []byte
	w        objfmt.ServiceWords
	cap      int
	stride   int
	base     int // offset of record 0
	respOff  int // of the response in a record
	reqMax   int
	respMax  int
	next     atomic.Uint32 // where the next record search starts: the record taken last
	nextScan atomic.Uint32 // the bitmap word a server's search starts at
	waiting
}

// A Call is a record that a client or a server holds, at a sequence.
type Call struct {
	i   int
	seq uint64
}

// Index is the call's record.
func (c Call) Index() int { return c.i }

// NewService returns the view of the service whose payload (checked:
// objfmt.ServiceGeometry.Fits) starts payload, for the process pid, whose
// waits are waiters'.
func NewService(payload []byte, pid uint32, waiters *futex.Set) *Service {
	g := objfmt.ReadServiceGeometry(payload)
	s := &Service{p: payload, w: objfmt.ServiceWordsOf(payload), cap: int(g.Capacity), stride: int(g.Stride),
		base: objfmt.ServiceRecords(int(g.Capacity)), respOff: objfmt.ServiceRespOffset(int(g.ReqMax)),
		reqMax: int(g.ReqMax), respMax: int(g.RespMax)}
	s.waiting.init(pid, waiters)
	return s
}

// Capacity is the number of records; ReqMax and RespMax the largest
// request and response.
func (s *Service) Capacity() int { return s.cap }

// ReqMax is the largest request.
func (s *Service) ReqMax() int { return s.reqMax }

// RespMax is the largest response (or error text).
func (s *Service) RespMax() int { return s.respMax }

func (s *Service) rec(i int) []byte { return s.p[s.base+i*s.stride : s.base+(i+1)*s.stride] }

func (s *Service) word(i int) *uint64 {
	return (*uint64)(unsafe.Pointer(&s.p[s.base+i*s.stride+objfmt.OffCallWord]))
}

func (s *Service) u32(i, off int) *uint32 {
	return (*uint32)(unsafe.Pointer(&s.p[s.base+i*s.stride+off]))
}

func (s *Service) deadline(i int) *int64 {
	return (*int64)(unsafe.Pointer(&s.p[s.base+i*s.stride+objfmt.OffCallDeadline]))
}

// ---- the client's side ----

// Acquire takes a free record for a call, waiting while every record is
// in use until one frees, ctx is done or the handle is closed. Records of
// dead processes are taken back while it waits.
func (s *Service) Acquire(ctx context.Context) (Call, error) {
	for {
		if c, ok := s.tryAcquire(); ok {
			return c, nil
		}
		if s.Reclaim() > 0 {
			continue
		}
		v := atomic.LoadUint32(s.w.Free)
		if v&futex.Sleepers == 0 && !atomic.CompareAndSwapUint32(s.w.Free, v, v|futex.Sleepers) {
			continue
		}
		v |= futex.Sleepers
		if c, ok := s.tryAcquire(); ok {
			return c, nil
		}
		switch s.waiters.Wait(ctx, s.w.Free, v, -1, 10*OwnerCheck) { // then a look for dead holders
		case futex.ByContext:
			return Call{}, context.Cause(ctx)
		case futex.ByClose:
			return Call{}, ErrClosed
		}
	}
}

func (s *Service) tryAcquire() (Call, bool) {
	start := int(s.next.Load()) // the record this handle used last: its lines are warm on both sides
	for j := range s.cap {
		i := (start + j) % s.cap
		sw := s.word(i)
		w := atomic.LoadUint64(sw)
		st, seq, _ := objfmt.ParseCallWord(w)
		if st != objfmt.CallFree {
			continue
		}
		seq = (seq + 1) & objfmt.CallSeqMask
		if atomic.CompareAndSwapUint64(sw, w, objfmt.CallWord(objfmt.CallOwned, seq, s.pid)) {
			if j > 0 {
				s.next.Store(uint32(i))
			}
			return Call{i: i, seq: seq}, true
		}
	}
	return Call{}, false
}

// Request is the request area of c's record, ReqMax bytes.
func (s *Service) Request(c Call) []byte {
	return s.rec(c.i)[objfmt.OffCallReq : objfmt.OffCallReq+s.reqMax]
}

// Post hands c, whose request of n bytes is written, to the servers, with
// the caller's deadline (Unix nanoseconds, 0 for none).
func (s *Service) Post(c Call, n int, deadline int64) {
	// The word's store publishes these (storeBefore: an XCHG each would
	// fence three times over).
	storeBefore32(s.u32(c.i, objfmt.OffCallReqLen), uint32(n))
	storeBefore32(s.u32(c.i, objfmt.OffCallClient), s.pid)
	storeBefore((*uint64)(unsafe.Pointer(s.deadline(c.i))), uint64(deadline))
	atomic.StoreUint64(s.word(c.i), objfmt.CallWord(objfmt.CallPosted, c.seq, s.pid))
	atomic.OrUint64(&s.w.Bitmap[c.i/64], 1<<(c.i%64))
	wake(s.w.Posted)
}

// An Answer is what a server wrote in a record: the response (or error
// text) and its status and code.
type Answer struct {
	Data   []byte // in the record: valid until Done
	Status uint32
	Code   uint32
}

// Await waits for c's answer, until ctx is done or the handle is closed
// (then it gives the call up: see Cancel, and returns ctx's cause or
// ErrClosed), or the server handling it dies (ErrServerDied: the record is
// freed). With its answer, the record stays c's until Done.
func (s *Service) Await(ctx context.Context, c Call) (Answer, error) {
	sw := s.word(c.i)
	bell := s.u32(c.i, objfmt.OffCallBell)
	spins, spun := 0, uint64(objfmt.CallPosted)
	for {
		w := atomic.LoadUint64(sw)
		st, seq, pid := objfmt.ParseCallWord(w)
		if seq != c.seq || st == objfmt.CallFree {
			return Answer{}, ErrServerDied // taken back (Reclaim) from its dead server
		}
		switch st {
		case objfmt.CallAnswered:
			n := int(atomic.LoadUint32(s.u32(c.i, objfmt.OffCallRespLen)))
			return Answer{Data: s.rec(c.i)[s.respOff : s.respOff+min(n, s.respMax)], Status: atomic.LoadUint32(s.u32(c.i, objfmt.OffCallStatus)),
				Code: atomic.LoadUint32(s.u32(c.i, objfmt.OffCallCode))}, nil
		case objfmt.CallPosted, objfmt.CallTaken:
		default:
			return Answer{}, ErrCorrupt
		}
		var holder uint32
		if st == objfmt.CallTaken {
			holder = pid
			if spun == objfmt.CallPosted {
				spins = 0 // taken: the answer comes next, which is worth a spin of its own
			}
		}
		spun = st
		var err error
		if st == objfmt.CallPosted { // a spin, once, then asleep and posted again now and then
			if spins == 0 {
				spins = 1
				if caught, _ := s.spinWait(func() bool { return atomic.LoadUint64(sw) == w }); caught {
					continue
				}
			}
			err = s.sleepPosted(ctx, c, sw, w, bell)
		} else {
			err = s.wait(ctx, bell, func() bool { return atomic.LoadUint64(sw) == w }, &spins, holder, false)
		}
		switch err {
		case nil:
			continue
		case errOwnerCheck: // its server is dead
			if atomic.CompareAndSwapUint64(sw, w, objfmt.CallWord(objfmt.CallFree, c.seq, 0)) {
				atomic.AddUint64(s.w.Died, 1)
				wake(s.w.Free)
				return Answer{}, ErrServerDied
			}
			continue
		}
		s.Cancel(c)
		return Answer{}, err
	}
}

// RepostEvery is how long a call sleeps Posted before it posts itself
// again: a server killed between clearing its bit in posted and taking it
// (or between taking it and waking its caller) would leave it unseen.
const RepostEvery = 20 * time.Millisecond

// sleepPosted sleeps on the bell of c, found Posted as w, until the record
// changes, ctx ends or the handle closes; every RepostEvery it sets c's
// bit in posted again and wakes the servers.
func (s *Service) sleepPosted(ctx context.Context, c Call, sw *uint64, w uint64, bell *uint32) error {
	for {
		v := atomic.LoadUint32(bell)
		if atomic.LoadUint64(sw) != w {
			return nil
		}
		if v&futex.Sleepers == 0 {
			if !atomic.CompareAndSwapUint32(bell, v, v|futex.Sleepers) {
				continue
			}
			v |= futex.Sleepers
		}
		if atomic.LoadUint64(sw) != w {
			return nil
		}
		switch s.waiters.Wait(ctx, bell, v, -1, RepostEvery) {
		case futex.ByContext:
			return context.Cause(ctx)
		case futex.ByClose:
			return ErrClosed
		case futex.ByTimeout:
			atomic.OrUint64(&s.w.Bitmap[c.i/64], 1<<(c.i%64))
			wake(s.w.Posted)
			continue
		}
		return nil
	}
}

// Cancel gives c up: a call no server took is freed; one being handled is
// marked Cancelled for its server (which frees it, counting its answer
// late); one already answered is freed, its answer dropped.
func (s *Service) Cancel(c Call) {
	sw := s.word(c.i)
	for {
		w := atomic.LoadUint64(sw)
		st, seq, pid := objfmt.ParseCallWord(w)
		if seq != c.seq {
			return
		}
		switch st {
		case objfmt.CallOwned, objfmt.CallPosted, objfmt.CallAnswered:
			if atomic.CompareAndSwapUint64(sw, w, objfmt.CallWord(objfmt.CallFree, seq, 0)) {
				wake(s.w.Free)
				return
			}
		case objfmt.CallTaken:
			if atomic.CompareAndSwapUint64(sw, w, objfmt.CallWord(objfmt.CallCancelled, seq, pid)) {
				wake(s.w.Cancel)
				return
			}
		default:
			return
		}
	}
}

// DropLate frees c's record, answered after its caller's ctx ended (the
// answer is late: counted, and dropped).
func (s *Service) DropLate(c Call) {
	atomic.AddUint64(s.w.Late, 1)
	s.Cancel(c)
}

// Done frees c's record after its answer was read.
func (s *Service) Done(c Call) { s.Cancel(c) }

// ---- the server's side ----

// Register enters this process in the servers table; Unregister(slot)
// leaves it.
func (s *Service) Register() (int, error) {
	for i := range s.w.Servers {
		p := &s.w.Servers[i]
		v := atomic.LoadUint32(p)
		if (v == 0 || !posix.Alive(int(v))) && atomic.CompareAndSwapUint32(p, v, s.pid) {
			return i, nil
		}
	}
	return -1, ErrNoRoom
}

// Unregister frees the servers-table entry Register returned.
func (s *Service) Unregister(slot int) {
	if slot >= 0 {
		atomic.CompareAndSwapUint32(&s.w.Servers[slot], s.pid, 0)
	}
}

// Servers returns the pids of the live server processes, each once.
func (s *Service) Servers() []uint32 {
	var pids []uint32
	for i := range s.w.Servers {
		if v := atomic.LoadUint32(&s.w.Servers[i]); v != 0 && !slices.Contains(pids, v) && posix.Alive(int(v)) {
			pids = append(pids, v)
		}
	}
	return pids
}

// TryTake takes a posted call, if there is one.
func (s *Service) TryTake() (Call, bool) {
	n := len(s.w.Bitmap)
	start := int(s.nextScan.Add(1))
	for j := range n {
		k := (start + j) % n
		bm := &s.w.Bitmap[k]
		for v := atomic.LoadUint64(bm); v != 0; {
			b := bits.TrailingZeros64(v)
			v &^= 1 << b
			if atomic.AndUint64(bm, ^(uint64(1)<<b))&(1<<b) == 0 {
				continue // another server's
			}
			if c, ok := s.take(k*64 + b); ok {
				return c, true
			}
		}
	}
	return Call{}, false
}

func (s *Service) take(i int) (Call, bool) {
	if i >= s.cap {
		return Call{}, false
	}
	sw := s.word(i)
	for {
		w := atomic.LoadUint64(sw)
		st, seq, _ := objfmt.ParseCallWord(w)
		if st != objfmt.CallPosted {
			return Call{}, false
		}
		if atomic.CompareAndSwapUint64(sw, w, objfmt.CallWord(objfmt.CallTaken, seq, s.pid)) {
			wake(s.u32(i, objfmt.OffCallBell)) // a client asleep now watches this server's life
			return Call{i: i, seq: seq}, true
		}
	}
}

// posted reports whether a call may be posted.
func (s *Service) posted() bool {
	for k := range s.w.Bitmap {
		if atomic.LoadUint64(&s.w.Bitmap[k]) != 0 {
			return true
		}
	}
	return false
}

// Take takes the next posted call, waiting until one is posted, ctx is
// done or the handle is closed.
func (s *Service) Take(ctx context.Context) (Call, error) {
	spins := 0
	for {
		if c, ok := s.TryTake(); ok {
			return c, nil
		}
		if err := s.wait(ctx, s.w.Posted, func() bool { return !s.posted() }, &spins, 0, false); err != nil {
			return Call{}, err
		}
	}
}

// WaitPosted waits, parked, until a call may be posted (for a loop's
// watch).
func (s *Service) WaitPosted(ctx context.Context) error {
	spins := 1 // no spin
	return s.wait(ctx, s.w.Posted, func() bool { return !s.posted() }, &spins, 0, true)
}

// Requested returns c's request and the caller's deadline (zero for
// none).
func (s *Service) Requested(c Call) ([]byte, time.Time) {
	n := int(atomic.LoadUint32(s.u32(c.i, objfmt.OffCallReqLen)))
	var dl time.Time
	if d := atomic.LoadInt64(s.deadline(c.i)); d != 0 {
		dl = time.Unix(0, d)
	}
	return s.Request(c)[:min(n, s.reqMax)], dl
}

// Response is the response area of c's record, RespMax bytes.
func (s *Service) Response(c Call) []byte { return s.rec(c.i)[s.respOff : s.respOff+s.respMax] }

// Answer answers c with the n bytes written in its response area, of
// status and code; it reports whether the caller was still waiting (a
// call its caller gave up is freed and counted late).
func (s *Service) Answer(c Call, n int, status, code uint32) bool {
	// The compare-and-swap below publishes these (storeBefore: as fences,
	// each would take back the line the caller polls).
	storeBefore32(s.u32(c.i, objfmt.OffCallRespLen), uint32(n))
	storeBefore32(s.u32(c.i, objfmt.OffCallStatus), status)
	storeBefore32(s.u32(c.i, objfmt.OffCallCode), code)
	sw := s.word(c.i)
	if atomic.CompareAndSwapUint64(sw, objfmt.CallWord(objfmt.CallTaken, c.seq, s.pid), objfmt.CallWord(objfmt.CallAnswered, c.seq, s.pid)) {
		atomic.AddUint64(s.w.Calls, 1)
		wake(s.u32(c.i, objfmt.OffCallBell))
		return true
	}
	w := atomic.LoadUint64(sw)
	if st, seq, _ := objfmt.ParseCallWord(w); st == objfmt.CallCancelled && seq == c.seq &&
		atomic.CompareAndSwapUint64(sw, w, objfmt.CallWord(objfmt.CallFree, seq, 0)) {
		atomic.AddUint64(s.w.Late, 1)
		wake(s.w.Free)
	}
	return false
}

// Cancelled reports whether c's caller gave it up.
func (s *Service) Cancelled(c Call) bool {
	st, seq, _ := objfmt.ParseCallWord(atomic.LoadUint64(s.word(c.i)))
	return seq != c.seq || st != objfmt.CallTaken
}

// WaitCancel waits, parked, until a client may have given up a call
// since the value of the cancel word that ArmCancel returned.
func (s *Service) WaitCancel(ctx context.Context, v uint32) error {
	switch s.waiters.Park(ctx, s.w.Cancel, v, -1, 0) {
	case futex.ByContext:
		return context.Cause(ctx)
	case futex.ByClose:
		return ErrClosed
	}
	return nil
}

// ArmCancel announces a sleeper on the cancel word and returns its value:
// look for cancelled calls after it, then WaitCancel.
func (s *Service) ArmCancel() uint32 {
	for {
		v := atomic.LoadUint32(s.w.Cancel)
		if v&futex.Sleepers != 0 || atomic.CompareAndSwapUint32(s.w.Cancel, v, v|futex.Sleepers) {
			return v | futex.Sleepers
		}
	}
}

// ---- both ----

// Reclaim frees the records of dead processes (see objfmt.Service), and
// returns how many it freed.
func (s *Service) Reclaim() int {
	alive := map[uint32]bool{}
	isAlive := func(pid uint32) bool {
		if pid == s.pid {
			return true
		}
		a, ok := alive[pid]
		if !ok {
			a = posix.Alive(int(pid))
			alive[pid] = a
		}
		return a
	}
	freed := 0
	for i := range s.cap {
		sw := s.word(i)
		w := atomic.LoadUint64(sw)
		st, seq, pid := objfmt.ParseCallWord(w)
		var dead bool
		switch st {
		case objfmt.CallOwned, objfmt.CallPosted, objfmt.CallCancelled, objfmt.CallTaken:
			dead = !isAlive(pid)
		case objfmt.CallAnswered:
			dead = !isAlive(atomic.LoadUint32(s.u32(i, objfmt.OffCallClient)))
		}
		if dead && atomic.CompareAndSwapUint64(sw, w, objfmt.CallWord(objfmt.CallFree, seq, 0)) {
			if st == objfmt.CallTaken { // its caller, if it waits, gets ErrServerDied
				atomic.AddUint64(s.w.Died, 1)
				wake(s.u32(i, objfmt.OffCallBell))
			} else {
				atomic.AddUint64(s.w.Reclaimed, 1)
			}
			freed++
		}
	}
	if freed > 0 {
		wake(s.w.Free)
	}
	return freed
}

// Stats are the service's counters, and its calls in flight (posted or
// taken).
type Stats struct {
	Calls, Late, Died, Reclaimed uint64
	InFlight                     int
}

// Stats reads the counters.
func (s *Service) Stats() Stats {
	st := Stats{Calls: atomic.LoadUint64(s.w.Calls), Late: atomic.LoadUint64(s.w.Late), Died: atomic.LoadUint64(s.w.Died),
		Reclaimed: atomic.LoadUint64(s.w.Reclaimed)}
	for i := range s.cap {
		if c, _, _ := objfmt.ParseCallWord(atomic.LoadUint64(s.word(i))); c == objfmt.CallPosted || c == objfmt.CallTaken {
			st.InFlight++
		}
	}
	return st
}
