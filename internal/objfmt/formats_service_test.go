package objfmt_test

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/ipcchan/ipcchan/internal/futex"
	"github.com/ipcchan/ipcchan/internal/ipcerr"
	"github.com/ipcchan/ipcchan/internal/objfmt"
	"github.com/ipcchan/ipcchan/internal/ring"
	"github.com/ipcchan/ipcchan/internal/testutil"
	"github.com/ipcchan/ipcchan/ipcchan"
)

// TestFormatsService: the service's tables and C constants in FORMATS.md
// are where objfmt puts the words and where the service's algorithm
// (internal/ring) writes them: ServiceInit's geometry, a server's entry,
// a call's record through Acquire, Post, TryTake, Answer, Await and Done,
// a call given up (Cancel, late), and records of a dead server and a dead
// client taken back (Reclaim: died, reclaimed); each futex word is woken
// where the table says it is.
func TestFormatsService(t *testing.T) {
	doc := testutil.ReadFormats(t)
	le := binary.LittleEndian
	// Geometry values that differ from each other, so that each is found
	// only where it is; more records than 64, so that the bitmap has two
	// words.
	const capacity, reqMax, respMax, flags = 100, 0x0a0c, 0x0b0d, objfmt.ServiceFixedReq | objfmt.ServiceFixedResp
	stride := objfmt.ServiceStride(reqMax, respMax)
	p := make([]byte, objfmt.ServiceSize(capacity, stride))
	objfmt.ServiceInit(p, capacity, reqMax, respMax, flags)
	g := objfmt.ServiceGeometry{Layout: objfmt.ServiceLayout, Capacity: capacity, ReqMax: reqMax, RespMax: respMax, Stride: uint32(stride), Flags: flags}
	if got := objfmt.ReadServiceGeometry(p); got != g || !got.Fits(len(p)) {
		t.Errorf("ReadServiceGeometry(ServiceInit(%+v)) = %+v (fits: %v)", g, got, got.Fits(len(p)))
	}

	// The control block: the geometry where ServiceInit writes it (each
	// value found at the table's offset), the words where ServiceWordsOf
	// points.
	rows := doc.Layout(t, "service-control")
	offOf := map[string]int{}
	for _, r := range rows {
		offOf[r.Name] = r.Offset
	}
	var want []testutil.Field
	for _, f := range []struct {
		name string
		v    uint32
	}{{"layout", g.Layout}, {"capacity", g.Capacity}, {"reqMax", g.ReqMax}, {"respMax", g.RespMax}, {"stride", g.Stride}, {"flags", g.Flags}} {
		off, ok := offOf[f.name]
		if !ok {
			t.Fatalf("no %s in the service-control table", f.name)
		}
		if got := le.Uint32(p[off:]); got != f.v {
			t.Errorf("ServiceInit wrote %s = %d; at its offset %d in FORMATS.md there is %d", f.name, f.v, off, got)
		}
		want = append(want, testutil.Field{Name: f.name, Offset: off, Size: 4})
	}
	w := objfmt.ServiceWordsOf(p)
	want = append(want,
		testutil.Field{Name: "calls", Offset: offsetIn(p, w.Calls), Size: 8},
		testutil.Field{Name: "late", Offset: offsetIn(p, w.Late), Size: 8},
		testutil.Field{Name: "died", Offset: offsetIn(p, w.Died), Size: 8},
		testutil.Field{Name: "reclaimed", Offset: offsetIn(p, w.Reclaimed), Size: 8},
		testutil.Field{Name: "postedWord", Offset: offsetIn(p, w.Posted), Size: 4},
		testutil.Field{Name: "cancelWord", Offset: offsetIn(p, w.Cancel), Size: 4},
		testutil.Field{Name: "freeWord", Offset: offsetIn(p, w.Free), Size: 4},
		testutil.Field{Name: "servers", Offset: offsetIn(p, w.Servers), Size: int(unsafe.Sizeof(*w.Servers))},
		testutil.Field{Name: "posted", Offset: offsetIn(p, &w.Bitmap[0]), Size: -1},
	)
	testutil.CheckFields(t, "layout: service-control", rows, want, -1)
	codeOff := map[string]int{} // as the code has them (the geometry: where ServiceInit's values are)
	for _, f := range want {
		codeOff[f.Name] = f.Offset
	}
	words := (capacity + 63) / 64
	if len(w.Bitmap) != words {
		t.Errorf("the posted bitmap has %d words, want (capacity + 63) / 64 = %d", len(w.Bitmap), words)
	}
	testutil.CheckFields(t, "bits: service-flags", doc.Bits(t, "service-flags"), []testutil.Field{
		bitsOf(t, "fixedReq", objfmt.ServiceFixedReq),
		bitsOf(t, "fixedResp", objfmt.ServiceFixedResp),
	}, 32)
	for _, sleepers := range []uint32{objfmt.RingSleepers, futex.Sleepers} { // the waits' and the wakes' bit
		if objfmt.ServiceSleepers != sleepers {
			t.Error("a service's futex words are not a ring's: FORMATS.md says they are")
		}
	}

	// The records' offset, a response's and the stride, as FORMATS.md
	// computes them (from the offsets of its tables), and its example.
	recRows := doc.Layout(t, "service-record")
	recOff := map[string]int{}
	for _, r := range recRows {
		recOff[r.Name] = r.Offset
	}
	docRecords := func(c int) int { return (offOf["posted"] + 8*((c+63)/64) + 63) &^ 63 }
	docRespOff := func(reqMax int) int { return recOff["request"] + (reqMax+7)&^7 }
	for _, c := range []int{1, 63, 64, 65, 100, 128, 129, objfmt.ServiceCapMax} {
		if got := objfmt.ServiceRecords(c); got != docRecords(c) {
			t.Errorf("ServiceRecords(%d) = %d; FORMATS.md's records = %d", c, got, docRecords(c))
		}
	}
	for _, rq := range []int{0, 1, 7, 8, 9, 32, reqMax} {
		for _, rs := range []int{objfmt.ServiceErrMin, 257, respMax} {
			if got, want := objfmt.ServiceStride(rq, rs), (docRespOff(rq)+rs+63)&^63; got != want || objfmt.ServiceRespOffset(rq) != docRespOff(rq) {
				t.Errorf("ServiceStride(%d, %d) = %d, ServiceRespOffset = %d; FORMATS.md's %d and %d", rq, rs, got, objfmt.ServiceRespOffset(rq), want, docRespOff(rq))
			}
		}
	}
	if objfmt.ServiceRecords(100) != 448 || objfmt.ServiceRespOffset(32) != 96 || objfmt.ServiceStride(32, objfmt.ServiceErrMin) != 384 {
		t.Errorf("FORMATS.md's example: records %d, respOff %d, stride %d; it says 448, 96, 384",
			objfmt.ServiceRecords(100), objfmt.ServiceRespOffset(32), objfmt.ServiceStride(32, objfmt.ServiceErrMin))
	}
	testutil.CheckFields(t, "layout: service-record", recRows, []testutil.Field{
		{Name: "word", Offset: objfmt.OffCallWord, Size: 8},
		{Name: "bell", Offset: objfmt.OffCallBell, Size: 4},
		{Name: "deadline", Offset: objfmt.OffCallDeadline, Size: 8},
		{Name: "client", Offset: objfmt.OffCallClient, Size: 4},
		{Name: "reqLen", Offset: objfmt.OffCallReqLen, Size: 4},
		{Name: "respLen", Offset: objfmt.OffCallRespLen, Size: 4},
		{Name: "status", Offset: objfmt.OffCallStatus, Size: 4},
		{Name: "code", Offset: objfmt.OffCallCode, Size: 4},
		{Name: "request", Offset: objfmt.OffCallReq, Size: -1},
	}, -1)
	testutil.CheckFields(t, "layout: service-response", doc.Layout(t, "service-response"), []testutil.Field{
		{Name: "response", Offset: 0, Size: -1},
	}, -1)

	// The state word, its states, the status.
	allState, allSeq, allPid := objfmt.ParseCallWord(^uint64(0))
	testutil.CheckFields(t, "bits: service-call-word", doc.Bits(t, "service-call-word"), []testutil.Field{
		bitsOf(t, "state", objfmt.CallWord(allState, 0, 0)),
		bitsOf(t, "seq", objfmt.CallWord(0, ^uint64(0), 0)),
		bitsOf(t, "pid", objfmt.CallWord(0, 0, ^uint32(0))),
	}, 64)
	if allSeq != objfmt.CallSeqMask || allPid != ^uint32(0) {
		t.Errorf("ParseCallWord(all ones) = %d, %#x, %#x", allState, allSeq, allPid)
	}
	if st, seq, pid := objfmt.ParseCallWord(objfmt.CallWord(objfmt.CallCancelled, 1<<28+0x0abcdef, 0xdeadbeef)); st != objfmt.CallCancelled || seq != 0x0abcdef || pid != 0xdeadbeef {
		t.Errorf("ParseCallWord(CallWord(Cancelled, 2^28 + 0xabcdef, 0xdeadbeef)) = %d, %#x, %#x", st, seq, pid)
	}
	states := doc.Values(t, "service-call-states")
	wantStates := map[string]int{"Free": objfmt.CallFree, "Owned": objfmt.CallOwned, "Posted": objfmt.CallPosted,
		"Taken": objfmt.CallTaken, "Answered": objfmt.CallAnswered, "Cancelled": objfmt.CallCancelled}
	if !maps.Equal(states, wantStates) {
		t.Errorf("FORMATS.md's call states are %v; the code's %v", states, wantStates)
	}
	for name, v := range wantStates {
		if got := objfmt.CallStateName(uint64(v)); got != strings.ToLower(name) {
			t.Errorf("CallStateName(%d) = %q, want %q", v, got, strings.ToLower(name))
		}
	}
	status := doc.Values(t, "service-status")
	if wantStatus := map[string]int{"OK": objfmt.ServiceOK, "ERROR": objfmt.ServiceError}; !maps.Equal(status, wantStatus) {
		t.Errorf("FORMATS.md's statuses are %v; the code's %v", status, wantStatus)
	}

	// What the algorithm writes is where FORMATS.md says. A client and a
	// server of live processes (this one and its parent), and a process
	// that has exited.
	clientPid, serverPid, deadPid := uint32(os.Getpid()), uint32(os.Getppid()), deadProcess(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cli := ring.NewService(p, clientPid, new(futex.Set))
	srv := ring.NewService(p, serverPid, new(futex.Set))
	u32 := func(name string) uint32 { return le.Uint32(p[offOf[name]:]) }
	u64 := func(name string) uint64 { return le.Uint64(p[offOf[name]:]) }
	// arm sets the sleepers bit of the futex word name (a sleeper
	// announced), and returns what a wake leaves in it.
	arm := func(b []byte, off int) uint32 {
		v := le.Uint32(b[off:]) &^ objfmt.ServiceSleepers
		le.PutUint32(b[off:], v|objfmt.ServiceSleepers)
		return v + 1
	}
	woken := func(what string, b []byte, off int, want uint32) {
		t.Helper()
		if got := le.Uint32(b[off:]); got != want {
			t.Errorf("after %s, the word at %d is %#x, want %#x (woken)", what, off, got, want)
		}
	}

	// The servers table: entry i at servers + i × the entry's size, the pid
	// in it.
	entryRows := doc.Layout(t, "service-server")
	testutil.CheckFields(t, "layout: service-server", entryRows, []testutil.Field{{Name: "pid", Offset: 0, Size: 4}}, int(unsafe.Sizeof(w.Servers[0])))
	entrySize := entryRows[len(entryRows)-1].Offset + entryRows[len(entryRows)-1].Size
	if n := int(unsafe.Sizeof(*w.Servers)) / entrySize; n != objfmt.ServiceServers {
		t.Errorf("the servers table holds %d entries, want %d", n, objfmt.ServiceServers)
	}
	slot, err := srv.Register()
	if err != nil || slot != 0 || u32("servers") != serverPid {
		t.Errorf("Register: slot %d, %v; servers[0] (at %d) holds %d, want %d", slot, err, offOf["servers"], u32("servers"), serverPid)
	}
	second, err := cli.Register()
	if at := offOf["servers"] + second*entrySize; err != nil || second != 1 || le.Uint32(p[at:]) != clientPid {
		t.Errorf("a second Register: slot %d, %v; servers[1] (at %d) holds %d, want %d", second, err, at, le.Uint32(p[at:]), clientPid)
	}
	cli.Unregister(second)
	if at := offOf["servers"] + entrySize; le.Uint32(p[at:]) != 0 {
		t.Errorf("after Unregister, servers[1] holds %d", le.Uint32(p[at:]))
	}

	// A call in record 70 (the second word of the bitmap): Acquire takes
	// the records in turn.
	const i = 70
	records := docRecords(capacity)
	rec := p[records+i*stride : records+(i+1)*stride]
	word := func() uint64 { return le.Uint64(rec[recOff["word"]:]) }
	var c ring.Call
	for j := range i + 1 {
		if c, err = cli.Acquire(ctx); err != nil || c.Index() != j {
			t.Fatalf("Acquire %d: record %d, %v", j, c.Index(), err)
		}
	}
	if word() != objfmt.CallWord(objfmt.CallOwned, 1, clientPid) {
		t.Errorf("an acquired record's word (at %d of record %d, payload offset %d) is %#x, want Owned(1, %d)", recOff["word"], i, records+i*stride, word(), clientPid)
	}
	req := cli.Request(c)
	if off := offsetIn(rec, &req[0]); off != recOff["request"] || len(req) != reqMax {
		t.Errorf("the request area is %d bytes at %d of the record, want reqMax at %d", len(req), off, recOff["request"])
	}
	const deadline = 0x0102030405060708
	copy(req, "hello, service")
	postedWoken := arm(p, offOf["postedWord"])
	cli.Post(c, len("hello, service"), deadline)
	if n, who, dl := le.Uint32(rec[recOff["reqLen"]:]), le.Uint32(rec[recOff["client"]:]), le.Uint64(rec[recOff["deadline"]:]); n != 14 || who != clientPid || dl != deadline {
		t.Errorf("a posted record: reqLen %d, client %d, deadline %#x; want 14, %d, %#x", n, who, dl, clientPid, uint64(deadline))
	}
	if word() != objfmt.CallWord(objfmt.CallPosted, 1, clientPid) {
		t.Errorf("a posted record's word is %#x, want Posted(1, %d)", word(), clientPid)
	}
	bitmap := func(k int) uint64 { return le.Uint64(p[offOf["posted"]+8*k:]) }
	if bitmap(0) != 0 || bitmap(i/64) != 1<<(i%64) {
		t.Errorf("after a post of record %d, the posted bitmap is %#x %#x, want bit %d of word %d", i, bitmap(0), bitmap(1), i%64, i/64)
	}
	woken("a post", p, offOf["postedWord"], postedWoken)
	testutil.CheckFields(t, "bits: service-posted-word", doc.Bits(t, "service-posted-word"), []testutil.Field{
		{Name: "records", Offset: 0, Size: 8 * int(unsafe.Sizeof(w.Bitmap[0]))},
	}, 64)

	// The server takes it, and answers with an error.
	bellWoken := arm(rec, recOff["bell"])
	sc, ok := srv.TryTake()
	if !ok || sc.Index() != i {
		t.Fatalf("TryTake: %v, record %d; want record %d", ok, sc.Index(), i)
	}
	if bitmap(i/64) != 0 || word() != objfmt.CallWord(objfmt.CallTaken, 1, serverPid) {
		t.Errorf("a taken call: bitmap word %#x, record word %#x; want 0, Taken(1, %d)", bitmap(i/64), word(), serverPid)
	}
	woken("a take", rec, recOff["bell"], bellWoken)
	if got, dl := srv.Requested(sc); string(got) != "hello, service" || dl.UnixNano() != deadline {
		t.Errorf("Requested = %q, %v", got, dl)
	}
	resp := srv.Response(sc)
	if off := offsetIn(rec, &resp[0]); off != docRespOff(reqMax) || len(resp) != respMax {
		t.Errorf("the response area is %d bytes at %d of the record, want respMax at respOff %d", len(resp), off, docRespOff(reqMax))
	}
	copy(resp, "no such thing")
	bellWoken = arm(rec, recOff["bell"])
	if !srv.Answer(sc, 13, objfmt.ServiceError, 12) {
		t.Fatal("Answer found its caller gone")
	}
	if n, st, code := le.Uint32(rec[recOff["respLen"]:]), le.Uint32(rec[recOff["status"]:]), le.Uint32(rec[recOff["code"]:]); n != 13 || st != objfmt.ServiceError || code != 12 {
		t.Errorf("an answered record: respLen %d, status %d, code %d; want 13, %d, 12", n, st, code, objfmt.ServiceError)
	}
	if word() != objfmt.CallWord(objfmt.CallAnswered, 1, serverPid) || u64("calls") != 1 {
		t.Errorf("an answered record's word is %#x, calls (at %d) %d; want Answered(1, %d), 1", word(), offOf["calls"], u64("calls"), serverPid)
	}
	woken("an answer", rec, recOff["bell"], bellWoken)
	ans, err := cli.Await(ctx, c)
	if err != nil || string(ans.Data) != "no such thing" || ans.Status != objfmt.ServiceError || ans.Code != 12 {
		t.Errorf("Await = %q, status %d, code %d, %v", ans.Data, ans.Status, ans.Code, err)
	}
	freeWoken := arm(p, offOf["freeWord"])
	cli.Done(c)
	if word() != objfmt.CallWord(objfmt.CallFree, 1, 0) {
		t.Errorf("a record done with is %#x, want Free(1)", word())
	}
	woken("Done", p, offOf["freeWord"], freeWoken)

	// A call given up while the server handles it: Cancelled, then freed by
	// the server's answer (late).
	if c, err = cli.Acquire(ctx); err != nil || c.Index() != i || word() != objfmt.CallWord(objfmt.CallOwned, 2, clientPid) {
		t.Fatalf("Acquire again: record %d (word %#x), %v; want record %d, Owned(2, %d)", c.Index(), word(), err, i, clientPid)
	}
	cli.Post(c, 1, 0)
	if sc, ok = srv.TryTake(); !ok || sc.Index() != i {
		t.Fatalf("TryTake: %v, record %d", ok, sc.Index())
	}
	cancelWoken := arm(p, offOf["cancelWord"])
	cli.Cancel(c)
	if word() != objfmt.CallWord(objfmt.CallCancelled, 2, serverPid) || !srv.Cancelled(sc) {
		t.Errorf("a call given up while taken: %#x, want Cancelled(2, %d)", word(), serverPid)
	}
	woken("Cancel", p, offOf["cancelWord"], cancelWoken)
	freeWoken = arm(p, offOf["freeWord"])
	if srv.Answer(sc, 0, objfmt.ServiceOK, 0) {
		t.Error("Answer of a call given up says its caller got it")
	}
	if word() != objfmt.CallWord(objfmt.CallFree, 2, 0) || u64("late") != 1 || u64("calls") != 1 {
		t.Errorf("a late answer: word %#x, late (at %d) %d, calls %d; want Free(2), 1, 1", word(), offOf["late"], u64("late"), u64("calls"))
	}
	woken("a late answer", p, offOf["freeWord"], freeWoken)

	// A dead server's call, and a dead client's record, taken back.
	if c, err = cli.Acquire(ctx); err != nil || c.Index() != i {
		t.Fatalf("Acquire again: record %d, %v", c.Index(), err)
	}
	cli.Post(c, 1, 0)
	if sc, ok = ring.NewService(p, deadPid, new(futex.Set)).TryTake(); !ok || sc.Index() != i || word() != objfmt.CallWord(objfmt.CallTaken, 3, deadPid) {
		t.Fatalf("TryTake by the dead pid: %v, record %d, word %#x", ok, sc.Index(), word())
	}
	bellWoken = arm(rec, recOff["bell"])
	if n := cli.Reclaim(); n != 1 || word() != objfmt.CallWord(objfmt.CallFree, 3, 0) || u64("died") != 1 || u64("reclaimed") != 0 {
		t.Errorf("Reclaim of a dead server's call: %d freed, word %#x, died (at %d) %d, reclaimed %d; want 1, Free(3), 1, 0",
			n, word(), offOf["died"], u64("died"), u64("reclaimed"))
	}
	woken("a dead server's call taken back", rec, recOff["bell"], bellWoken)
	if c, err = ring.NewService(p, deadPid, new(futex.Set)).Acquire(ctx); err != nil || c.Index() != i || word() != objfmt.CallWord(objfmt.CallOwned, 4, deadPid) {
		t.Fatalf("Acquire by the dead pid: record %d, word %#x, %v", c.Index(), word(), err)
	}
	freeWoken = arm(p, offOf["freeWord"])
	if n := cli.Reclaim(); n != 1 || word() != objfmt.CallWord(objfmt.CallFree, 4, 0) || u64("reclaimed") != 1 || u64("died") != 1 {
		t.Errorf("Reclaim of a dead client's record: %d freed, word %#x, reclaimed (at %d) %d, died %d; want 1, Free(4), 1, 1",
			n, word(), offOf["reclaimed"], u64("reclaimed"), u64("died"))
	}
	woken("a dead client's record taken back", p, offOf["freeWord"], freeWoken)
	if st, ok := objfmt.ReadServiceStats(p); !ok || st.Calls != 1 || st.Late != 1 || st.Died != 1 || st.Reclaimed != 1 || st.InFlight != 0 ||
		len(st.Servers) != 1 || st.Servers[0] != serverPid {
		t.Errorf("ReadServiceStats = %+v, %v", st, ok)
	}

	// The C header's service constants are those checked above.
	wantC := map[string]any{
		"IPCCHAN_SERVICE_LAYOUT":      objfmt.ServiceLayout,
		"IPCCHAN_SERVICE_FIXED_REQ":   objfmt.ServiceFixedReq,
		"IPCCHAN_SERVICE_FIXED_RESP":  objfmt.ServiceFixedResp,
		"IPCCHAN_SERVICE_CAP_MAX":     objfmt.ServiceCapMax,
		"IPCCHAN_SERVICE_ERR_MIN":     objfmt.ServiceErrMin,
		"IPCCHAN_SERVICE_SERVERS":     objfmt.ServiceServers,
		"IPCCHAN_SERVICE_REPOST_MS":   int(ring.RepostEvery / time.Millisecond),
		"IPCCHAN_SERVICE_SLEEPERS":    objfmt.ServiceSleepers,
		"IPCCHAN_CALL_SEQ_SHIFT":      bitsOf(t, "seq", objfmt.CallWord(0, 1, 0)).Offset,
		"IPCCHAN_CALL_PID_SHIFT":      bitsOf(t, "pid", objfmt.CallWord(0, 0, 1)).Offset,
		"IPCCHAN_CALL_STATE_MASK":     allState,
		"IPCCHAN_CALL_SEQ_MASK":       objfmt.CallSeqMask,
		"IPCCHAN_CALL_FREE":           objfmt.CallFree,
		"IPCCHAN_CALL_OWNED":          objfmt.CallOwned,
		"IPCCHAN_CALL_POSTED":         objfmt.CallPosted,
		"IPCCHAN_CALL_TAKEN":          objfmt.CallTaken,
		"IPCCHAN_CALL_ANSWERED":       objfmt.CallAnswered,
		"IPCCHAN_CALL_CANCELLED":      objfmt.CallCancelled,
		"IPCCHAN_CALL_OK":             objfmt.ServiceOK,
		"IPCCHAN_CALL_ERROR":          objfmt.ServiceError,
		"IPCCHAN_SERVICE_OFF_POSTED":  codeOff["posted"],
		"IPCCHAN_SERVICE_OFF_SERVERS": codeOff["servers"],
	}
	for field, name := range map[string]string{"layout": "LAYOUT", "capacity": "CAPACITY", "reqMax": "REQ_MAX", "respMax": "RESP_MAX",
		"stride": "STRIDE", "flags": "FLAGS", "calls": "CALLS", "late": "LATE", "died": "DIED", "reclaimed": "RECLAIMED",
		"postedWord": "POSTED_WORD", "cancelWord": "CANCEL_WORD", "freeWord": "FREE_WORD"} {
		wantC["IPCCHAN_SERVICE_OFF_"+name] = codeOff[field]
	}
	for field, name := range map[string]string{"word": "WORD", "bell": "BELL", "deadline": "DEADLINE", "client": "CLIENT",
		"reqLen": "REQ_LEN", "respLen": "RESP_LEN", "status": "STATUS", "code": "CODE", "request": "REQUEST"} {
		wantC["IPCCHAN_CALL_OFF_"+name] = recOff[field]
	}
	testutil.CheckCConstants(t, doc.CConstants(t), wantC, func(name string) bool {
		return strings.HasPrefix(name, "IPCCHAN_SERVICE_") || strings.HasPrefix(name, "IPCCHAN_CALL_")
	})
}

// TestFormatsServiceErrorCodes: FORMATS.md's error codes are the index of
// each error in internal/ipcerr (Sentinel and Code), every code is there,
// each with its error's text and the C header's constant of its value.
func TestFormatsServiceErrorCodes(t *testing.T) {
	doc := testutil.ReadFormats(t)
	errs := map[string]error{
		"none":                      nil,
		"ipcchan.ErrNotExist":       ipcchan.ErrNotExist,
		"ipcchan.ErrExist":          ipcchan.ErrExist,
		"ipcchan.ErrPermission":     ipcchan.ErrPermission,
		"ipcchan.ErrInvalidName":    ipcchan.ErrInvalidName,
		"ipcchan.ErrInvalid":        ipcchan.ErrInvalid,
		"ipcchan.ErrTooLarge":       ipcchan.ErrTooLarge,
		"ipcchan.ErrLimit":          ipcchan.ErrLimit,
		"ipcchan.ErrFull":           ipcchan.ErrFull,
		"ipcchan.ErrEmpty":          ipcchan.ErrEmpty,
		"ipcchan.ErrClosed":         ipcchan.ErrClosed,
		"ipcchan.ErrTypeMismatch":   ipcchan.ErrTypeMismatch,
		"ipcchan.ErrCorrupt":        ipcchan.ErrCorrupt,
		"ipcchan.ErrOwnerDead":      ipcchan.ErrOwnerDead,
		"ipcchan.ErrNotRecoverable": ipcchan.ErrNotRecoverable,
		"ipcchan.ErrWrongKind":      ipcchan.ErrWrongKind,
		"ipcchan.ErrServerDied":     ipcchan.ErrServerDied,
		"fs.ErrNotExist":            fs.ErrNotExist,
		"fs.ErrExist":               fs.ErrExist,
		"fs.ErrPermission":          fs.ErrPermission,
		"fs.ErrInvalid":             fs.ErrInvalid,
		"fs.ErrClosed":              fs.ErrClosed,
		"context.Canceled":          context.Canceled,
		"context.DeadlineExceeded":  context.DeadlineExceeded,
		"io.EOF":                    io.EOF,
		"io.ErrUnexpectedEOF":       io.ErrUnexpectedEOF,
	}
	codes := doc.Values(t, "service-error-codes")
	seen := make([]bool, len(codes))
	for name, v := range codes {
		err, known := errs[name]
		switch {
		case !known:
			t.Errorf("FORMATS.md's error code %d is %s, which this test does not know", v, name)
		case v < 0 || v >= len(codes) || seen[v]:
			t.Errorf("FORMATS.md's error codes are not 0 to %d, each once: %s is %d", len(codes)-1, name, v)
			continue
		}
		seen[v] = true
		if got := ipcerr.Sentinel(uint32(v)); got != err {
			t.Errorf("FORMATS.md's error code %d is %s; the code's %d is %v", v, name, v, got)
		}
		if code := ipcerr.Code(err); err != nil && code != uint32(v) {
			t.Errorf("Code(%s) = %d; FORMATS.md says %d", name, code, v)
		}
	}
	if extra := ipcerr.Sentinel(uint32(len(codes))); extra != nil {
		t.Errorf("the code has an error code %d (%v) that FORMATS.md does not list", len(codes), extra)
	}
	if !errors.Is(ipcerr.Sentinel(uint32(codes["ipcchan.ErrWrongKind"])), ipcchan.ErrNotExist) || ipcerr.Code(ipcchan.ErrWrongKind) != uint32(codes["ipcchan.ErrWrongKind"]) {
		t.Error("ErrWrongKind is also ErrNotExist, and Code gives it its own code: FORMATS.md says so")
	}

	// The last column: the C constant, then the error's text.
	meaningRE := regexp.MustCompile("^`(IPCCHAN_CODE_[A-Z_]+)`(?:: a text only|, text \"(.*)\")$")
	wantC := map[string]any{}
	for _, r := range doc.Table(t, "values: service-error-codes")[1:] {
		v, _ := strconv.Atoi(r[0])
		m := meaningRE.FindStringSubmatch(r[2])
		if m == nil {
			t.Errorf("FORMATS.md's error code %s: %q is not \"`IPCCHAN_CODE_…`, text \\\"…\\\"\"", r[0], r[2])
			continue
		}
		wantC[m[1]] = v
		if err := errs[r[1]]; err != nil && m[2] != err.Error() {
			t.Errorf("FORMATS.md's error code %d says its text is %q; %s's is %q", v, m[2], r[1], err.Error())
		} else if err == nil && m[2] != "" {
			t.Errorf("FORMATS.md's error code %d (no error) has a text %q", v, m[2])
		}
	}
	testutil.CheckCConstants(t, doc.CConstants(t), wantC, func(name string) bool { return strings.HasPrefix(name, "IPCCHAN_CODE_") })
}

// deadProcess returns the pid of a process that has exited (and was
// reaped).
func deadProcess(t *testing.T) uint32 {
	t.Helper()
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	return uint32(cmd.Process.Pid)
}
