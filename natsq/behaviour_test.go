package natsq_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/ipcchan/ipcchan/internal/natstest"
	"github.com/ipcchan/ipcchan/internal/testutil"
	"github.com/ipcchan/ipcchan/ipcchan"
	"github.com/ipcchan/ipcchan/natsq"
)

// queue is what the behavioural tests use of a queue: the Sender and
// Receiver interfaces with priorities, which both implementations have.
type queue[T any] interface {
	ipcchan.PrioritySender[T]
	ipcchan.PriorityReceiver[T]
	Attr() (ipcchan.QueueAttr, error)
}

// transport is one of the two constructors the table runs against.
type transport struct {
	name string
	js   jetstream.JetStream // nil: POSIX
}

func (tr transport) newName(t *testing.T) string {
	if tr.js == nil {
		return testutil.Name(t, ipcchan.UnlinkQueue)
	}
	return testutil.Name(t, func(n string) error { return natsq.Unlink(context.Background(), tr.js, n) })
}

// open opens a queue of T on tr, closed at the end of the test.
func open[T any](t *testing.T, tr transport, name string, opts ...ipcchan.Option) (queue[T], error) {
	t.Helper()
	var q queue[T]
	var err error
	if tr.js == nil {
		var pq *ipcchan.Queue[T]
		if pq, err = ipcchan.OpenQueue[T](name, opts...); err == nil {
			q = pq
		}
	} else {
		var nq *natsq.Queue[T]
		if nq, err = natsq.Open[T](t.Context(), tr.js, name, opts...); err == nil {
			q = nq
		}
	}
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { q.Close() })
	return q, nil
}

func mustOpen[T any](t *testing.T, tr transport, name string, opts ...ipcchan.Option) queue[T] {
	t.Helper()
	q, err := open[T](t, tr, name, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return q
}

type Job struct {
	ID   int
	Name string
	Tags []string
}

type Other struct{ X float64 }

// behaviour is the table: every case runs on a POSIX queue and on a NATS
// queue.
var behaviour = []struct {
	name string
	run  func(t *testing.T, tr transport)
}{
	{"typed round trip", func(t *testing.T, tr transport) {
		q := mustOpen[Job](t, tr, tr.newName(t), ipcchan.Create())
		want := Job{ID: 7, Name: "seven", Tags: []string{"a", "b"}}
		if err := q.Send(t.Context(), want); err != nil {
			t.Fatal(err)
		}
		got, err := q.Receive(t.Context())
		if err != nil || !slices.Equal(got.Tags, want.Tags) || got.ID != want.ID || got.Name != want.Name {
			t.Fatalf("Receive = %+v, %v; want %+v", got, err, want)
		}
	}},
	{"bytes exact", func(t *testing.T, tr transport) {
		q := mustOpen[[]byte](t, tr, tr.newName(t), ipcchan.Create())
		all := make([]byte, 256)
		for i := range all {
			all[i] = byte(i)
		}
		if err := q.Send(t.Context(), all); err != nil {
			t.Fatal(err)
		}
		got, err := q.Receive(t.Context())
		if err != nil || !slices.Equal(got, all) {
			t.Fatalf("Receive = %x, %v; want the 256 byte values", got, err)
		}
	}},
	// Each priority here is in a level of its own (natsq.Level): within a
	// level, a NATS queue keeps the order of sending (TestLevels).
	{"higher priority first, FIFO within one", func(t *testing.T, tr transport) {
		q := mustOpen[string](t, tr, tr.newName(t), ipcchan.Create())
		sends := []struct {
			v    string
			prio uint
		}{{"a", 0}, {"b", 5}, {"c", 50}, {"d", 500}, {"e", 0}}
		for _, s := range sends {
			if err := q.SendPriority(t.Context(), s.v, s.prio); err != nil {
				t.Fatal(err)
			}
		}
		settle(t, tr, q, len(sends))
		var got []string
		for range sends {
			v, prio, err := q.ReceivePriority(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, fmt.Sprintf("%s%d", v, prio))
		}
		if want := []string{"d500", "c50", "b5", "a0", "e0"}; !slices.Equal(got, want) {
			t.Fatalf("received %v, want %v", got, want)
		}
	}},
	{"TryReceive on empty", func(t *testing.T, tr transport) {
		q := mustOpen[string](t, tr, tr.newName(t), ipcchan.Create())
		if _, err := q.TryReceive(); !errors.Is(err, ipcchan.ErrEmpty) {
			t.Fatalf("TryReceive = %v, want ErrEmpty", err)
		}
		q.Send(t.Context(), "x")
		settle(t, tr, q, 1)
		if v, err := q.TryReceive(); v != "x" || err != nil {
			t.Fatalf("TryReceive = %q, %v", v, err)
		}
	}},
	{"TrySend on full", func(t *testing.T, tr transport) {
		q := mustOpen[string](t, tr, tr.newName(t), ipcchan.Create(), ipcchan.Capacity(2))
		for _, v := range []string{"1", "2"} {
			if err := q.TrySend(v); err != nil {
				t.Fatal(err)
			}
		}
		if err := q.TrySend("3"); !errors.Is(err, ipcchan.ErrFull) {
			t.Fatalf("TrySend on a full queue = %v, want ErrFull", err)
		}
		if a, err := q.Attr(); err != nil || a.Len != 2 || a.Capacity != 2 {
			t.Fatalf("Attr = %+v, %v; want Len 2, Capacity 2", a, err)
		}
		if v, err := q.Receive(t.Context()); v != "1" || err != nil {
			t.Fatalf("Receive = %q, %v", v, err)
		}
		if err := q.TrySend("3"); err != nil {
			t.Fatalf("TrySend after a receive: %v", err)
		}
	}},
	{"Send waits for room", func(t *testing.T, tr transport) {
		q := mustOpen[string](t, tr, tr.newName(t), ipcchan.Create(), ipcchan.Capacity(1))
		q.Send(t.Context(), "first")
		sent := make(chan error, 1)
		go func() { sent <- q.Send(t.Context(), "second") }()
		if v, err := q.Receive(t.Context()); v != "first" || err != nil {
			t.Fatalf("Receive = %q, %v", v, err)
		}
		if err := <-sent; err != nil {
			t.Fatalf("the waiting Send: %v", err)
		}
		if v, err := q.Receive(t.Context()); v != "second" || err != nil {
			t.Fatalf("Receive = %q, %v", v, err)
		}
	}},
	{"Send on full honours its context", func(t *testing.T, tr transport) {
		q := mustOpen[string](t, tr, tr.newName(t), ipcchan.Create(), ipcchan.Capacity(1))
		q.Send(t.Context(), "first")
		ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
		defer cancel()
		if err := q.Send(ctx, "second"); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Send = %v, want DeadlineExceeded", err)
		}
	}},
	{"Receive honours its context", func(t *testing.T, tr transport) {
		q := mustOpen[string](t, tr, tr.newName(t), ipcchan.Create())
		ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
		defer cancel()
		if _, err := q.Receive(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Receive = %v, want DeadlineExceeded", err)
		}
	}},
	{"a message sent while waiting arrives", func(t *testing.T, tr transport) {
		name := tr.newName(t)
		r := mustOpen[string](t, tr, name, ipcchan.Create())
		s := mustOpen[string](t, tr, name)
		got := make(chan string, 1)
		go func() { v, _ := r.Receive(t.Context()); got <- v }()
		if err := s.Send(t.Context(), "late"); err != nil {
			t.Fatal(err)
		}
		if v := <-got; v != "late" {
			t.Fatalf("Receive = %q", v)
		}
	}},
	{"Close wakes a waiting Receive", func(t *testing.T, tr transport) {
		q := mustOpen[string](t, tr, tr.newName(t), ipcchan.Create())
		done := make(chan error, 1)
		go func() { _, err := q.Receive(t.Context()); done <- err }()
		q.Close()
		if err := <-done; !errors.Is(err, ipcchan.ErrClosed) {
			t.Fatalf("Receive after Close = %v, want ErrClosed", err)
		}
		if err := q.Send(t.Context(), "x"); !errors.Is(err, ipcchan.ErrClosed) {
			t.Fatalf("Send after Close = %v, want ErrClosed", err)
		}
		if err := q.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
	}},
	{"end of stream ends Recv and All for everyone", func(t *testing.T, tr transport) {
		name := tr.newName(t)
		s := mustOpen[int](t, tr, name, ipcchan.Create())
		for i := range 3 {
			s.Send(t.Context(), i)
		}
		if err := s.CloseSend(t.Context()); err != nil {
			t.Fatal(err)
		}
		r := mustOpen[int](t, tr, name)
		var got []int
		for v := range r.Recv() {
			got = append(got, v)
		}
		if !slices.Equal(got, []int{0, 1, 2}) || r.Err() != nil {
			t.Fatalf("Recv gave %v, Err %v", got, r.Err())
		}
		other := mustOpen[int](t, tr, name)
		for v, err := range other.All(t.Context()) {
			t.Fatalf("All after the end yielded %v, %v", v, err)
		}
		if _, err := other.Receive(t.Context()); err != io.EOF {
			t.Fatalf("Receive after the end = %v, want io.EOF", err)
		}
	}},
	{"another type is ErrTypeMismatch with the bytes", func(t *testing.T, tr transport) {
		name := tr.newName(t)
		s := mustOpen[Job](t, tr, name, ipcchan.Create())
		r := mustOpen[Other](t, tr, name)
		s.Send(t.Context(), Job{ID: 1})
		_, err := r.Receive(t.Context())
		var me *ipcchan.MessageError
		if !errors.Is(err, ipcchan.ErrTypeMismatch) || !errors.As(err, &me) || len(me.Data) < 12 || me.Queue != name {
			t.Fatalf("Receive = %v, want a *MessageError with ErrTypeMismatch", err)
		}
		if _, err := r.TryReceive(); !errors.Is(err, ipcchan.ErrEmpty) {
			t.Fatalf("the mismatched message is still there: %v", err)
		}
	}},
	{"too large is ErrTooLarge", func(t *testing.T, tr transport) {
		q := mustOpen[[]byte](t, tr, tr.newName(t), ipcchan.Create(), ipcchan.MsgSize(64))
		if err := q.Send(t.Context(), make([]byte, 65)); !errors.Is(err, ipcchan.ErrTooLarge) {
			t.Fatalf("Send of 65 bytes = %v, want ErrTooLarge", err)
		}
		if err := q.Send(t.Context(), make([]byte, 64)); err != nil {
			t.Fatalf("Send of 64 bytes: %v", err)
		}
	}},
	{"bad priority and empty message are ErrInvalid", func(t *testing.T, tr transport) {
		q := mustOpen[string](t, tr, tr.newName(t), ipcchan.Create())
		if err := q.SendPriority(t.Context(), "x", 32768); !errors.Is(err, ipcchan.ErrInvalid) {
			t.Fatalf("priority 32768: %v", err)
		}
		if err := q.Send(t.Context(), ""); !errors.Is(err, ipcchan.ErrInvalid) {
			t.Fatalf("empty message: %v", err)
		}
	}},
	{"breaking out of Recv loses nothing", func(t *testing.T, tr transport) {
		name := tr.newName(t)
		q := mustOpen[int](t, tr, name, ipcchan.Create())
		for i := range 5 {
			q.Send(t.Context(), i)
		}
		var got []int
		for v := range q.Recv() {
			got = append(got, v)
			if len(got) == 2 {
				break
			}
		}
		if err := q.Close(); err != nil {
			t.Fatal(err)
		}
		r := mustOpen[int](t, tr, name)
		for range 3 {
			v, err := r.Receive(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, v)
		}
		slices.Sort(got)
		if !slices.Equal(got, []int{0, 1, 2, 3, 4}) {
			t.Fatalf("got %v, want each of 0..4 once", got)
		}
	}},
	{"two receivers share the work", func(t *testing.T, tr transport) {
		name := tr.newName(t)
		s := mustOpen[int](t, tr, name, ipcchan.Create())
		const n = 40
		var mu sync.Mutex
		var got []int
		var wg sync.WaitGroup
		for range 2 {
			r := mustOpen[int](t, tr, name)
			wg.Go(func() {
				for v, err := range r.All(t.Context()) {
					if err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					got = append(got, v)
					mu.Unlock()
				}
			})
		}
		for i := range n {
			if err := s.Send(t.Context(), i); err != nil {
				t.Fatal(err)
			}
		}
		s.CloseSend(t.Context())
		wg.Wait()
		slices.Sort(got)
		if len(got) != n || slices.Compact(got)[n-1] != n-1 {
			t.Fatalf("received %d messages %v, want each of 0..%d once", len(got), got, n-1)
		}
	}},
	{"open errors", func(t *testing.T, tr transport) {
		name := tr.newName(t)
		if _, err := open[int](t, tr, name); !errors.Is(err, ipcchan.ErrNotExist) {
			t.Fatalf("open without Create = %v, want ErrNotExist", err)
		}
		mustOpen[int](t, tr, name, ipcchan.Create(), ipcchan.Capacity(3))
		if _, err := open[int](t, tr, name, ipcchan.Create(), ipcchan.Exclusive()); !errors.Is(err, ipcchan.ErrExist) {
			t.Fatalf("second exclusive create = %v, want ErrExist", err)
		}
		if _, err := open[int](t, tr, name, ipcchan.Capacity(4)); !errors.Is(err, ipcchan.ErrExist) {
			t.Fatalf("open with another Capacity = %v, want ErrExist", err)
		}
		if _, err := open[int](t, tr, "jobs"); !errors.Is(err, ipcchan.ErrInvalidName) {
			t.Fatalf("name without slash = %v, want ErrInvalidName", err)
		}
		if _, err := open[int](t, tr, name, ipcchan.Value(3)); !errors.Is(err, ipcchan.ErrInvalid) {
			t.Fatalf("semaphore option = %v, want ErrInvalid", err)
		}
	}},
}

// TestBehaviour runs the one table of cases against both constructors:
// ipcchan.OpenQueue and natsq.Open.
func TestBehaviour(t *testing.T) {
	transports := []transport{{name: "posix"}, {name: "nats", js: natstest.Connect(t, natstest.Server(t))}}
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			for _, c := range behaviour {
				t.Run(c.name, func(t *testing.T) { c.run(t, tr) })
			}
		})
	}
}

// settle waits until a NATS queue's consumers have seen n messages.
// JetStream tells its consumers of a stored message asynchronously, so a
// receive in the instant after a Send may not see it yet on its level
// (and take a lower level's message first); the POSIX queue has no such
// instant.
func settle[T any](t *testing.T, tr transport, q queue[T], n int) {
	t.Helper()
	nq, ok := q.(*natsq.Queue[T])
	if !ok {
		return
	}
	for {
		pending := 0
		for l := range natsq.Levels {
			c, err := tr.js.Consumer(t.Context(), nq.Stream(), fmt.Sprintf("p%d", l))
			if err != nil {
				t.Fatal(err)
			}
			info, err := c.Info(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			pending += int(info.NumPending)
		}
		if pending == n {
			return
		}
		select {
		case <-t.Context().Done():
			t.Fatalf("the consumers see %d messages, not %d", pending, n)
		case <-time.After(time.Millisecond):
		}
	}
}
