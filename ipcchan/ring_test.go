package ipcchan_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ipcchan/ipcchan/internal/testutil"
	"github.com/ipcchan/ipcchan/ipcchan"
	"github.com/ipcchan/ipcchan/loop"
)

func ringName(t testing.TB) string { return testutil.Name(t, ipcchan.UnlinkRing) }

func openRing[T any](t testing.TB, name string, opts ...ipcchan.Option) *ipcchan.Ring[T] {
	t.Helper()
	r, err := ipcchan.OpenRing[T](name, opts...)
	if err != nil {
		t.Fatalf("OpenRing(%s): %v", name, err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// Tick is a pointer-free struct: a ring copies it, with no codec.
type Tick struct {
	Seq   uint64
	Price float64
	Side  int32
	_     [4]byte
}

func TestRingRoundTrip(t *testing.T) {
	name := ringName(t)
	r := openRing[Tick](t, name, ipcchan.Create(), ipcchan.Capacity(3))
	other := openRing[Tick](t, name) // a second handle of the same ring
	if a, err := r.Attr(); err != nil || a.Capacity != 3 || a.MsgSize != 24 || a.Len != 0 {
		t.Fatalf("Attr = %+v, %v", a, err)
	}
	for i := range 3 {
		if err := r.TrySend(Tick{Seq: uint64(i), Price: float64(i) / 2}); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.TrySend(Tick{}); !errors.Is(err, ipcchan.ErrFull) {
		t.Errorf("TrySend on a full ring = %v, want ErrFull", err)
	}
	for i := range 3 {
		v, err := other.Receive(t.Context())
		if err != nil || v.Seq != uint64(i) || v.Price != float64(i)/2 {
			t.Errorf("Receive %d = %+v, %v", i, v, err)
		}
	}
	if _, err := r.TryReceive(); !errors.Is(err, ipcchan.ErrEmpty) {
		t.Errorf("TryReceive on an empty ring = %v, want ErrEmpty", err)
	}
	// Around the ring many times: the slots are reused lap after lap.
	for i := range 100 {
		r.Send(t.Context(), Tick{Seq: uint64(i)})
		if v, err := other.Receive(t.Context()); err != nil || v.Seq != uint64(i) {
			t.Fatalf("lap %d: %+v, %v", i, v, err)
		}
	}
	r.Send(t.Context(), Tick{Seq: 7})
	if err := r.CloseSend(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := r.Send(t.Context(), Tick{}); !errors.Is(err, ipcchan.ErrClosed) || !strings.Contains(err.Error(), "CloseSend") {
		t.Errorf("Send after CloseSend = %v", err)
	}
	if v, err := other.Receive(t.Context()); err != nil || v.Seq != 7 {
		t.Errorf("the message before the end = %+v, %v", v, err)
	}
	for range 2 { // the end is final, for every receiver
		if _, err := other.Receive(t.Context()); err != io.EOF {
			t.Errorf("Receive after the end = %v, want io.EOF", err)
		}
	}
}

func TestRingBytesAndTyped(t *testing.T) {
	b := openRing[[]byte](t, ringName(t), ipcchan.Create(), ipcchan.MsgSize(16), ipcchan.Capacity(4))
	for _, m := range []string{"", "x", "sixteen bytes!!!"} {
		if err := b.Send(t.Context(), []byte(m)); err != nil {
			t.Fatalf("Send(%q): %v", m, err)
		}
		if got, err := b.Receive(t.Context()); err != nil || string(got) != m {
			t.Errorf("Receive = %q, %v; want %q", got, err, m)
		}
	}
	if err := b.Send(t.Context(), make([]byte, 17)); !errors.Is(err, ipcchan.ErrTooLarge) || !strings.Contains(err.Error(), "MsgSize of 16") {
		t.Errorf("Send of 17 bytes = %v", err)
	}
	type Job struct {
		ID   int
		Tags []string
	}
	j := openRing[Job](t, ringName(t), ipcchan.Create())
	j.Send(t.Context(), Job{ID: 3, Tags: []string{"a", "b"}})
	if got, err := j.Receive(t.Context()); err != nil || got.ID != 3 || len(got.Tags) != 2 {
		t.Errorf("typed Receive = %+v, %v", got, err)
	}
}

func TestRingOpenChecks(t *testing.T) {
	name := ringName(t)
	openRing[Tick](t, name, ipcchan.Create(), ipcchan.Capacity(8))
	type Other struct{ A, B int64 }
	_, err := ipcchan.OpenRing[Other](name)
	if !errors.Is(err, ipcchan.ErrTypeMismatch) || !strings.Contains(err.Error(), "it is a ring of ipcchan_test.Tick, not of ipcchan_test.Other") {
		t.Errorf("OpenRing as another type = %v", err)
	}
	if _, err := ipcchan.OpenRing[Tick](name, ipcchan.Capacity(16)); !errors.Is(err, ipcchan.ErrExist) || !strings.Contains(err.Error(), "Capacity 8") {
		t.Errorf("OpenRing with another capacity = %v", err)
	}
	if _, err := ipcchan.OpenRing[Tick](ringName(t), ipcchan.Create(), ipcchan.MsgSize(100)); !errors.Is(err, ipcchan.ErrInvalid) {
		t.Errorf("MsgSize for a pointer-free T = %v", err)
	}
	if _, err := ipcchan.OpenRing[Tick](ringName(t)); !errors.Is(err, ipcchan.ErrNotExist) {
		t.Errorf("OpenRing of a missing ring = %v", err)
	}
	if _, err := ipcchan.OpenRing[Tick](name, ipcchan.Create(), ipcchan.Exclusive()); !errors.Is(err, ipcchan.ErrExist) {
		t.Errorf("Exclusive on an existing ring = %v", err)
	}
}

// TestRingWaitsEnd: a Receive blocked on an empty ring and a Send blocked
// on a full one end at once when their context is cancelled, and with
// ErrClosed on Close.
func TestRingWaitsEnd(t *testing.T) {
	empty := openRing[Tick](t, ringName(t), ipcchan.Create())
	full := openRing[Tick](t, ringName(t), ipcchan.Create(), ipcchan.Capacity(1))
	full.Send(t.Context(), Tick{})
	for _, op := range []struct {
		name string
		call func(context.Context) error
	}{
		{"Receive", func(ctx context.Context) error { _, err := empty.Receive(ctx); return err }},
		{"Send", func(ctx context.Context) error { return full.Send(ctx, Tick{}) }},
	} {
		ctx, cancel := context.WithCancel(t.Context())
		errc := make(chan error, 1)
		go func() { errc <- op.call(ctx) }()
		testutil.WaitBlocked(t, "TestRingWaitsEnd", 1)
		start := time.Now()
		cancel()
		if err := <-errc; !errors.Is(err, context.Canceled) {
			t.Errorf("%s after cancel = %v", op.name, err)
		}
		if took := time.Since(start); took > 100*time.Millisecond {
			t.Errorf("%s took %v to end after cancel", op.name, took)
		}
	}
	errc := make(chan error, 2)
	go func() { _, err := empty.Receive(t.Context()); errc <- err }()
	go func() { errc <- full.Send(t.Context(), Tick{}) }()
	testutil.WaitBlocked(t, "TestRingWaitsEnd", 2)
	empty.Close()
	full.Close()
	for range 2 {
		if err := <-errc; !errors.Is(err, ipcchan.ErrClosed) {
			t.Errorf("a wait after Close = %v, want ErrClosed", err)
		}
	}
}

// TestRingWatch: an event-driven program gets a callback on its loop when
// a ring has messages, and takes them with TryReceive.
func TestRingWatch(t *testing.T) {
	r := openRing[Tick](t, ringName(t), ipcchan.Create())
	l, err := loop.New()
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var got []uint64
	stop, err := r.Watch(l, loop.Readable, func(loop.Events) {
		for {
			v, err := r.TryReceive()
			if err != nil {
				break
			}
			if got = append(got, v.Seq); len(got) == 5 {
				l.Stop()
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	go func() {
		for i := range 5 {
			r.Send(context.Background(), Tick{Seq: uint64(i)})
		}
	}()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	l.Run(ctx)
	if len(got) != 5 || got[0] != 0 || got[4] != 4 {
		t.Errorf("the loop took %v", got)
	}
}

// TestRingWithC: a C program (testdata/ringpeer.c, C11 atomics and
// futexes) joins a ring made by Go: it receives the structs Go sends, and
// sends structs that Go receives with equal fields, with either side
// waiting for the other (a ring of 4 slots for 200 messages).
func TestRingWithC(t *testing.T) {
	peer := testutil.BuildC(t, "ringpeer")
	const n = 200
	want := func(i int) Tick { return Tick{Seq: uint64(i), Price: float64(i) / 2, Side: int32(-i)} }

	r := openRing[Tick](t, ringName(t), ipcchan.Create(), ipcchan.Capacity(4))
	recv := exec.CommandContext(t.Context(), peer, "recv", r.Name(), strconv.Itoa(n))
	var out strings.Builder
	recv.Stdout, recv.Stderr = &out, os.Stderr
	if err := recv.Start(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute) // a peer that died fails the test
	defer cancel()
	for i := 0; i < n; {
		if i < n/2 { // single messages, then batches of 3 and 7 (larger than the ring: several runs), which C takes one at a time
			if err := r.Send(ctx, want(i)); err != nil {
				t.Fatal(err)
			}
			i++
			continue
		}
		var vs []Tick
		for j := i; j < min(i+3+4*(i%2), n); j++ {
			vs = append(vs, want(j))
		}
		if k, err := r.SendBatch(ctx, vs); err != nil || k != len(vs) {
			t.Fatalf("SendBatch of %d: %d, %v", len(vs), k, err)
		}
		i += len(vs)
	}
	if err := recv.Wait(); err != nil {
		t.Fatalf("ringpeer recv: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	for i := range n {
		w := want(i)
		if i >= len(lines) || lines[i] != fmt.Sprintf("%d %s %d", w.Seq, strconv.FormatFloat(w.Price, 'g', 17, 64), w.Side) {
			t.Fatalf("C received line %d %q, want %+v", i, lines[min(i, len(lines)-1)], w)
		}
	}

	send := exec.CommandContext(t.Context(), peer, "send", r.Name(), strconv.Itoa(n))
	send.Stderr = os.Stderr
	if err := send.Start(); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; { // the C sender's messages, in batches
		buf := make([]Tick, 5)
		k, err := r.ReceiveBatch(ctx, buf)
		if err != nil {
			t.Fatalf("from C: %v", err)
		}
		for _, v := range buf[:k] {
			if v != want(i) {
				t.Fatalf("from C: %+v; want %+v", v, want(i))
			}
			i++
		}
	}
	if err := send.Wait(); err != nil {
		t.Fatalf("ringpeer send: %v", err)
	}
}
