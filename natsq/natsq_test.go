package natsq_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/ipcchan/ipcchan/codec"
	"github.com/ipcchan/ipcchan/internal/natstest"
	"github.com/ipcchan/ipcchan/ipcchan"
	"github.com/ipcchan/ipcchan/natsq"
)

func TestLevel(t *testing.T) {
	for prio, want := range map[uint]int{0: 0, 1: 1, 9: 1, 10: 2, 99: 2, 100: 3, 32767: 3} {
		if got := natsq.Level(prio); got != want {
			t.Errorf("Level(%d) = %d, want %d", prio, got, want)
		}
	}
}

// TestLevels: priorities of one level come in the order they were sent,
// each with its exact priority; a higher level overtakes.
func TestLevels(t *testing.T) {
	js := natstest.Connect(t, natstest.Server(t))
	tr := transport{name: "nats", js: js}
	q := mustOpen[string](t, tr, tr.newName(t), ipcchan.Create())
	for _, p := range []uint{100, 32767, 200, 3, 9, 1, 0} {
		if err := q.SendPriority(t.Context(), fmt.Sprint(p), p); err != nil {
			t.Fatal(err)
		}
	}
	settle(t, tr, q, 7)
	var got []string
	for range 7 {
		v, prio, err := q.ReceivePriority(t.Context())
		if err != nil || v != fmt.Sprint(prio) {
			t.Fatalf("ReceivePriority = %q, %d, %v", v, prio, err)
		}
		got = append(got, v)
	}
	if want := []string{"100", "32767", "200", "3", "9", "1", "0"}; !slices.Equal(got, want) {
		t.Fatalf("received %v, want %v", got, want)
	}
}

// TestRedeliveredAfterReceiverDies: a message a receiver took but never
// handed over (its connection died with it) is delivered again after the
// consumer's AckWait, to another receiver.
func TestRedeliveredAfterReceiverDies(t *testing.T) {
	url := natstest.Server(t)
	js := natstest.Connect(t, url)
	tr := transport{name: "nats", js: js}
	name := tr.newName(t)
	s := mustOpen[string](t, tr, name, ipcchan.Create())
	// A short AckWait, as an operator may set it; Open keeps it.
	ctx := t.Context()
	c, err := js.Consumer(ctx, s.(*natsq.Queue[string]).Stream(), "p0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := c.CachedInfo().Config
	cfg.AckWait = 300 * time.Millisecond
	if _, err := js.UpdateConsumer(ctx, s.(*natsq.Queue[string]).Stream(), cfg); err != nil {
		t.Fatal(err)
	}
	s.Send(ctx, "precious")

	dyingJS, dyingConn := natstest.ConnectConn(t, url)
	dying, err := natsq.Open[string](t.Context(), dyingJS, name)
	if err != nil {
		t.Fatal(err)
	}
	defer dying.Close()
	dying.Recv() // reads "precious" ahead, unacknowledged, and nobody takes it
	waitFor(t, func() bool {
		info, err := c.Info(ctx)
		return err == nil && info.NumAckPending == 1
	})
	dyingConn.Close() // dies: no Nak, no Ack

	r := mustOpen[string](t, tr, name)
	start := time.Now()
	v, err := r.Receive(ctx)
	if err != nil || v != "precious" {
		t.Fatalf("Receive = %q, %v; want the message again", v, err)
	}
	t.Logf("delivered again after %v", time.Since(start).Round(time.Millisecond))
}

// waitFor polls cond until it holds or the test's deadline nears.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for !cond() {
		select {
		case <-t.Context().Done():
			t.Fatal("condition never held")
		case <-time.After(5 * time.Millisecond):
		}
	}
}

func TestOpenErrors(t *testing.T) {
	js := natstest.Connect(t, natstest.Server(t))
	for _, c := range []struct {
		name string
		opts []ipcchan.Option
		want error
		says string
	}{
		{"/a.b", nil, ipcchan.ErrInvalidName, "'.' is not allowed"},
		{"/a b", nil, ipcchan.ErrInvalidName, "' ' is not allowed"},
		{"/ok", []ipcchan.Option{ipcchan.Create(), ipcchan.Perm(0o600)}, ipcchan.ErrInvalid, "Perm does not apply"},
		{"/ok", []ipcchan.Option{ipcchan.Create(), ipcchan.MsgSize(12)}, ipcchan.ErrInvalid, "leaves no room"},
	} {
		_, err := natsq.Open[int](t.Context(), js, c.name, c.opts...)
		if !errors.Is(err, c.want) || !contains(err, c.says) {
			t.Errorf("Open(%q) = %v, want %v saying %q", c.name, err, c.want, c.says)
		}
	}
	if _, err := natsq.Open[int](t.Context(), nil, "/x"); !errors.Is(err, ipcchan.ErrInvalid) {
		t.Errorf("Open(nil) = %v", err)
	}
	// The requests of Open and Unlink are the caller's context's.
	done, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := natsq.Open[int](done, js, "/ctx", ipcchan.Create()); !errors.Is(err, context.Canceled) {
		t.Errorf("Open with a cancelled context = %v", err)
	}
	if err := natsq.Unlink(done, js, "/ctx"); !errors.Is(err, context.Canceled) {
		t.Errorf("Unlink with a cancelled context = %v", err)
	}
	// A stream of the same name that is not an ipcchan queue is refused.
	if _, err := js.CreateStream(t.Context(), jetstream.StreamConfig{Name: "orders", Subjects: []string{"orders.>"}}); err != nil {
		t.Fatal(err)
	}
	_, err := natsq.Open[int](t.Context(), js, "/orders", ipcchan.Create())
	if !errors.Is(err, ipcchan.ErrTypeMismatch) || !contains(err, "not an ipcchan queue") {
		t.Errorf("Open over a foreign stream = %v", err)
	}
	if err := natsq.Unlink(context.Background(), js, "/nothing"); !errors.Is(err, ipcchan.ErrNotExist) {
		t.Errorf("Unlink of a missing queue = %v", err)
	}
}

// TestClosedConnection: operations on a closed connection say so.
func TestClosedConnection(t *testing.T) {
	url := natstest.Server(t)
	js, nc := natstest.ConnectConn(t, url)
	q, err := natsq.Open[string](t.Context(), js, "/closing", ipcchan.Create())
	if err != nil {
		t.Fatal(err)
	}
	defer natsq.Unlink(context.Background(), natstest.Connect(t, url), "/closing")
	nc.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if err := q.Send(ctx, "x"); err == nil || !contains(err, "NATS connection is closed") {
		t.Errorf("Send on a closed connection = %v", err)
	}
	if _, err := q.Receive(ctx); err == nil || !contains(err, "NATS connection is closed") {
		t.Errorf("Receive on a closed connection = %v", err)
	}
}

func contains(err error, s string) bool {
	return err != nil && strings.Contains(err.Error(), s)
}

// TestRawCodecOnStruct: a codec that cannot carry T is refused at Open,
// naming the queue and the reason.
func TestRawCodecOnStruct(t *testing.T) {
	js := natstest.Connect(t, natstest.Server(t))
	_, err := natsq.Open[Job](t.Context(), js, "/raw-job", ipcchan.Create(), ipcchan.WithCodec(codec.Raw))
	if !errors.Is(err, ipcchan.ErrInvalid) || !contains(err, "NATS queue /raw-job: open: codec.Raw carries only []byte and string") {
		t.Errorf("Open with codec.Raw for a struct = %v", err)
	}
}

// TestLargeRefusedBeforeSending: natsq takes LargeMessages, as a POSIX
// queue does, and a message over the server's max_payload is ErrTooLarge
// naming the limit and its value, before anything is sent.
func TestLargeRefusedBeforeSending(t *testing.T) {
	js := natstest.Connect(t, natstest.Server(t))
	tr := transport{name: "nats", js: js}
	name := tr.newName(t)
	q, err := natsq.Open[[]byte](t.Context(), js, name, ipcchan.Create(), ipcchan.LargeMessages())
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	limit := int(js.Conn().MaxPayload())
	err = q.Send(t.Context(), make([]byte, limit+1))
	if !errors.Is(err, ipcchan.ErrTooLarge) || !strings.Contains(err.Error(), "max_payload") || !strings.Contains(err.Error(), fmt.Sprint(limit-512)) {
		t.Fatalf("Send of max_payload+1 bytes = %v, want ErrTooLarge naming max_payload and its value", err)
	}
	if a, err := q.Attr(); err != nil || a.Len != 0 {
		t.Fatalf("the stream holds %d messages (%v) after a refused send", a.Len, err)
	}
}

// TestBusyWorkerKeepsNothing: a handle that took a window of messages and
// then stops receiving (a worker busy with its job) gives back what it
// holds, so that another receiver gets every other message.
func TestBusyWorkerKeepsNothing(t *testing.T) {
	js := natstest.Connect(t, natstest.Server(t))
	tr := transport{name: "nats", js: js}
	name := tr.newName(t)
	busy := mustOpen[int](t, tr, name, ipcchan.Create())
	const n = 60
	for i := range n {
		if err := busy.Send(t.Context(), i); err != nil {
			t.Fatal(err)
		}
	}
	settle(t, tr, busy, n)
	got := map[int]bool{}
	for range 8 { // receives in a row: the handle asks for more at a time
		v, err := busy.Receive(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		got[v] = true
	}
	// busy now holds up to a window it has not handed over, and goes on
	// with its job without receiving.
	idle := mustOpen[int](t, tr, name)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	for len(got) < n {
		v, err := idle.Receive(ctx)
		if err != nil {
			t.Fatalf("the idle receiver got %d of the %d messages the busy one did not take: %v", len(got)-8, n-8, err)
		}
		if got[v] {
			t.Fatalf("message %d received twice", v)
		}
		got[v] = true
	}
}
