package natsq_test

import (
	"context"
	"errors"
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

// topicName is a fresh topic name, whose stream goes at the end of the
// test.
func topicName(t *testing.T, js jetstream.JetStream) string {
	return testutil.Name(t, func(n string) error { return natsq.UnlinkTopic(context.Background(), js, n) })
}

// openTopic opens a NATS topic of T, closed at the end of the test.
func openTopic[T any](t *testing.T, js jetstream.JetStream, name string, opts ...ipcchan.Option) *natsq.Topic[T] {
	t.Helper()
	tp, err := natsq.OpenTopic[T](t.Context(), js, name, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tp.Close() })
	return tp
}

// subscribe subscribes to tp, closed at the end of the test.
func subscribe[T any](t *testing.T, tp interface {
	Subscribe() (*natsq.Subscription[T], error)
}) *natsq.Subscription[T] {
	t.Helper()
	s, err := tp.Subscribe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// A tick is what the topic tests publish: who published it, and its
// number in that publisher's order.
type tick struct {
	P, I int
}

// fanOut publishes n ticks from each of pubs at once, then ends the
// stream, and returns what each of subs received until the end, each in
// another way (Receive, Recv, All, as it cycles): the code of a topic on
// any transport.
func fanOut(t *testing.T, pubs []ipcchan.Sender[tick], subs []ipcchan.Receiver[tick], n int) [][]tick {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	got := make([][]tick, len(subs))
	errs := make([]error, len(subs))
	var wg sync.WaitGroup
	for i, r := range subs {
		wg.Go(func() {
			switch i % 3 {
			case 0:
				for {
					v, err := r.Receive(ctx)
					if err == io.EOF {
						return
					}
					if err != nil {
						errs[i] = err
						return
					}
					got[i] = append(got[i], v)
				}
			case 1:
				for v := range r.Recv() {
					got[i] = append(got[i], v)
				}
				errs[i] = r.Err()
			default:
				for v, err := range r.All(ctx) {
					if err != nil {
						errs[i] = err
						return
					}
					got[i] = append(got[i], v)
				}
			}
		})
	}
	var pw sync.WaitGroup
	for p, s := range pubs {
		pw.Go(func() {
			for i := range n {
				if err := s.Send(ctx, tick{p, i}); err != nil {
					t.Errorf("publisher %d: send %d: %v", p, i, err)
					return
				}
			}
		})
	}
	pw.Wait()
	if err := pubs[0].CloseSend(ctx); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("subscriber %d: %v", i, err)
		}
	}
	return got
}

// checkFanOut: every subscriber got every tick of every publisher, each
// once, in its publisher's order.
func checkFanOut(t *testing.T, got [][]tick, pubs, n int) {
	t.Helper()
	for i, g := range got {
		next := make([]int, pubs)
		for _, v := range g {
			if v.I != next[v.P] {
				t.Fatalf("subscriber %d: got tick %d of publisher %d, want %d", i, v.I, v.P, next[v.P])
			}
			next[v.P]++
		}
		if len(g) != pubs*n {
			t.Fatalf("subscriber %d got %d ticks, want %d", i, len(g), pubs*n)
		}
	}
}

// TestTopicFanOut: every subscription sees every message of every
// publisher, in its order; on NATS all of them in the same order (the
// stream's), none missed.
func TestTopicFanOut(t *testing.T) {
	url := natstest.Server(t)
	js := natstest.Connect(t, url)
	name := topicName(t, js)
	const n, nsubs = 150, 4
	var pubs []ipcchan.Sender[tick]
	for range 2 { // two publishers, on connections of their own
		pubs = append(pubs, openTopic[tick](t, natstest.Connect(t, url), name, ipcchan.Create()))
	}
	var subs []ipcchan.Receiver[tick]
	var nsubsList []*natsq.Subscription[tick]
	for range nsubs {
		s := subscribe[tick](t, openTopic[tick](t, natstest.Connect(t, url), name))
		subs = append(subs, s)
		nsubsList = append(nsubsList, s)
	}
	got := fanOut(t, pubs, subs, n)
	checkFanOut(t, got, len(pubs), n)
	for i := range got[1:] {
		if !slices.Equal(got[i+1], got[0]) {
			t.Errorf("subscriber %d saw another order than subscriber 0", i+1)
		}
	}
	for i, s := range nsubsList {
		if m := s.Missed(); m != 0 {
			t.Errorf("subscriber %d missed %d", i, m)
		}
	}
}

// TestTopicSameCodeInSharedMemory: the fan-out code, written against
// Sender and Receiver, runs on an ipcchan.Topic in shared memory as on a
// NATS one; only the Open differs.
func TestTopicSameCodeInSharedMemory(t *testing.T) {
	name := testutil.Name(t, ipcchan.UnlinkTopic)
	const n = 100
	var pubs []ipcchan.Sender[tick]
	var subs []ipcchan.Receiver[tick]
	for i := range 3 {
		tp, err := ipcchan.OpenTopic[tick](name, ipcchan.Create())
		if err != nil {
			t.Fatal(err)
		}
		defer tp.Close()
		if i < 2 {
			pubs = append(pubs, tp)
		}
		s, err := tp.Subscribe()
		if err != nil {
			t.Fatal(err)
		}
		subs = append(subs, s)
	}
	checkFanOut(t, fanOut(t, pubs, subs, n), len(pubs), n)
}

// receiveAll receives from s until the end of the stream.
func receiveAll[T any](t *testing.T, s *natsq.Subscription[T]) []T {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	var got []T
	for {
		v, err := s.Receive(ctx)
		if err == io.EOF {
			return got
		}
		if err != nil {
			t.Fatalf("after %v: %v", got, err)
		}
		got = append(got, v)
	}
}

func sendAll[T any](t *testing.T, tp *natsq.Topic[T], vs ...T) {
	t.Helper()
	for _, v := range vs {
		if err := tp.Send(t.Context(), v); err != nil {
			t.Fatal(err)
		}
	}
}

// TestTopicHistory: a late joiner gets the last History messages the
// stream holds, then the new ones; an early one gets everything once; a
// subscription to a topic without history starts at the next message.
func TestTopicHistory(t *testing.T) {
	js := natstest.Connect(t, natstest.Server(t))
	name := topicName(t, js)
	tp := openTopic[string](t, js, name, ipcchan.Create(), ipcchan.Capacity(10), ipcchan.History(3))
	early := subscribe[string](t, tp)
	sendAll(t, tp, "m0", "m1", "m2", "m3", "m4")
	// Another handle, opened without History: the topic's is its own.
	late := subscribe[string](t, openTopic[string](t, js, name))
	sendAll(t, tp, "m5")
	if err := tp.CloseSend(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got, want := receiveAll(t, late), []string{"m2", "m3", "m4", "m5"}; !slices.Equal(got, want) {
		t.Errorf("the late subscriber got %q, want %q", got, want)
	}
	if got, want := receiveAll(t, early), []string{"m0", "m1", "m2", "m3", "m4", "m5"}; !slices.Equal(got, want) {
		t.Errorf("the early subscriber got %q, want %q", got, want)
	}
	if late.Missed() != 0 || early.Missed() != 0 {
		t.Errorf("missed %d and %d", late.Missed(), early.Missed())
	}
	if a, err := tp.Attr(); err != nil || a.History != 3 || a.Capacity != 10 || !a.Ended {
		t.Errorf("Attr = %+v, %v", a, err)
	}

	// History larger than what the stream holds: all of it.
	short := openTopic[string](t, js, topicName(t, js), ipcchan.Create(), ipcchan.History(3))
	sendAll(t, short, "only")
	s := subscribe[string](t, short)
	short.CloseSend(t.Context())
	if got := receiveAll(t, s); !slices.Equal(got, []string{"only"}) {
		t.Errorf("a History(3) subscriber of a topic of one message got %q", got)
	}

	// No history: the message before is not received.
	none := openTopic[string](t, js, topicName(t, js), ipcchan.Create())
	sendAll(t, none, "before")
	s = subscribe[string](t, none)
	sendAll(t, none, "after")
	none.CloseSend(t.Context())
	if got := receiveAll(t, s); !slices.Equal(got, []string{"after"}) || s.Missed() != 0 {
		t.Errorf("a subscriber without history got %q, missed %d; want only what came after it", got, s.Missed())
	}
}

// TestTopicMissedExact: a subscriber that falls more than the Capacity
// behind misses the oldest messages, and Missed says exactly how many
// were lost before each message it receives.
func TestTopicMissedExact(t *testing.T) {
	js := natstest.Connect(t, natstest.Server(t))
	name := topicName(t, js)
	const capacity, n = 8, 100
	tp := openTopic[int](t, js, name, ipcchan.Create(), ipcchan.Capacity(capacity), ipcchan.Overflow(ipcchan.DropOldest))
	slow := subscribe[int](t, tp)
	for i := range n { // the subscriber reads nothing meanwhile: it falls behind
		if err := tp.Send(t.Context(), i); err != nil {
			t.Fatal(err)
		}
	}
	if err := tp.CloseSend(t.Context()); err != nil {
		t.Fatal(err)
	}
	got := receiveAll(t, slow)
	prev := -1
	for _, v := range got {
		if v <= prev {
			t.Fatalf("received %d after %d", v, prev)
		}
		prev = v
	}
	if len(got) == 0 || len(got) == n || got[len(got)-1] != n-1 {
		t.Fatalf("received %v: want fewer than %d messages (some lost), the last %d", got, n, n-1)
	}
	if m := slow.Missed(); m != uint64(n-len(got)) {
		t.Errorf("Missed = %d; %d of %d messages were received, so %d were lost", m, len(got), n, n-len(got))
	}
	// Missed counts, at each message, what was lost before it.
	again := openTopic[int](t, js, topicName(t, js), ipcchan.Create(), ipcchan.Capacity(capacity), ipcchan.Overflow(ipcchan.DropOldest))
	s := subscribe[int](t, again)
	for i := range n {
		if err := again.Send(t.Context(), i); err != nil {
			t.Fatal(err)
		}
	}
	for k := 0; ; k++ {
		v, err := s.Receive(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if m := s.Missed(); m != uint64(v-k) {
			t.Fatalf("after message %d (the %dth received), Missed = %d, want %d", v, k+1, m, v-k)
		}
		if v == n-1 {
			break
		}
	}
	t.Logf("a subscriber %d behind a topic of Capacity %d received %d of %d messages", n, capacity, len(got), n)
}

// TestTopicCloseSendEndsAll: CloseSend ends the stream for every
// subscriber, waiting or not, present and future, on every handle; sends
// after it fail with ErrClosed, from any handle.
func TestTopicCloseSendEndsAll(t *testing.T) {
	url := natstest.Server(t)
	js := natstest.Connect(t, url)
	name := topicName(t, js)
	tp := openTopic[string](t, js, name, ipcchan.Create())
	other := openTopic[string](t, natstest.Connect(t, url), name)
	var subs []*natsq.Subscription[string]
	for range 3 {
		subs = append(subs, subscribe[string](t, other))
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	errs := make(chan error, len(subs))
	for _, s := range subs[:2] {
		go func() { _, err := s.Receive(ctx); errs <- err }() // waiting
	}
	ch := subs[2].Recv()
	sendAll(t, tp, "last")
	if err := tp.CloseSend(ctx); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Errorf("a waiting Receive got %v, want the message", err)
		}
	}
	for _, s := range subs[:2] {
		for range 2 {
			if _, err := s.Receive(ctx); err != io.EOF {
				t.Errorf("Receive after the end = %v, want io.EOF", err)
			}
		}
		if _, err := s.TryReceive(); err != io.EOF {
			t.Errorf("TryReceive after the end = %v, want io.EOF", err)
		}
	}
	var fromRecv []string
	for v := range ch {
		fromRecv = append(fromRecv, v)
	}
	if !slices.Equal(fromRecv, []string{"last"}) || subs[2].Err() != nil {
		t.Errorf("Recv delivered %q and ended with %v", fromRecv, subs[2].Err())
	}
	// A subscription made after the end ends at once.
	if _, err := subscribe[string](t, tp).Receive(ctx); err != io.EOF {
		t.Errorf("a subscription after the end: Receive = %v, want io.EOF", err)
	}
	for _, h := range []*natsq.Topic[string]{tp, other} {
		if err := h.Send(ctx, "more"); !errors.Is(err, ipcchan.ErrClosed) {
			t.Errorf("Send after CloseSend = %v, want ErrClosed", err)
		}
	}
	if err := tp.CloseSend(ctx); err != nil {
		t.Errorf("CloseSend again = %v", err)
	}
	if err := other.CloseSend(ctx); err != nil {
		t.Errorf("CloseSend of the other handle = %v", err)
	}
	if a, err := other.Attr(); err != nil || !a.Ended {
		t.Errorf("Attr = %+v, %v; want Ended", a, err)
	}
	if err := natsq.UnlinkTopic(ctx, js, name); err != nil { // sealed, and removed all the same
		t.Errorf("UnlinkTopic of an ended topic = %v", err)
	}
}

// TestTopicTypeMismatch: a subscriber of another type gets each message
// as a *MessageError holding its bytes; a []byte subscriber gets the bytes
// as they were published (what the bridge forwards).
func TestTopicTypeMismatch(t *testing.T) {
	js := natstest.Connect(t, natstest.Server(t))
	name := topicName(t, js)
	jobs := openTopic[Job](t, js, name, ipcchan.Create())
	others := subscribe[Other](t, openTopic[Other](t, js, name))
	raw := subscribe[[]byte](t, openTopic[[]byte](t, js, name))
	sendAll(t, jobs, Job{ID: 7, Name: "seven"})
	jobs.CloseSend(t.Context())
	_, err := others.Receive(t.Context())
	var me *ipcchan.MessageError
	if !errors.As(err, &me) || !errors.Is(err, ipcchan.ErrTypeMismatch) || len(me.Data) == 0 {
		t.Fatalf("a subscriber of Other got %v, want a *MessageError with ErrTypeMismatch", err)
	}
	if _, err := others.Receive(t.Context()); err != io.EOF {
		t.Errorf("after the mismatch: %v, want io.EOF", err)
	}
	msgs := receiveAll(t, raw)
	if len(msgs) != 1 || string(msgs[0]) != string(me.Data) {
		t.Fatalf("the []byte subscriber got %x, want the message's bytes %x", msgs, me.Data)
	}
	// The bytes, published by a []byte handle, are the Job again.
	name2 := topicName(t, js)
	back := subscribe[Job](t, openTopic[Job](t, js, name2, ipcchan.Create()))
	fwd := openTopic[[]byte](t, js, name2)
	sendAll(t, fwd, msgs[0])
	if j, err := back.Receive(t.Context()); err != nil || j.ID != 7 || j.Name != "seven" {
		t.Errorf("a Job subscriber got %+v, %v", j, err)
	}
}

// TestTopicOpenErrors: what OpenTopic, Subscribe and UnlinkTopic refuse.
func TestTopicOpenErrors(t *testing.T) {
	js := natstest.Connect(t, natstest.Server(t))
	name := topicName(t, js)
	for _, c := range []struct {
		opts []ipcchan.Option
		want error
		says string
	}{
		{nil, ipcchan.ErrNotExist, "does not exist"},
		{[]ipcchan.Option{ipcchan.Create(), ipcchan.Perm(0o600)}, ipcchan.ErrInvalid, "Perm does not apply to a NATS topic"},
		{[]ipcchan.Option{ipcchan.Create(), natsq.Pipelined(8)}, ipcchan.ErrInvalid, "natsq.Pipelined does not apply"},
		{[]ipcchan.Option{ipcchan.Create(), ipcchan.Capacity(4), ipcchan.History(5)}, ipcchan.ErrInvalid, "more than the Capacity"},
		{[]ipcchan.Option{ipcchan.Create(), ipcchan.NoEndOfStream()}, ipcchan.ErrInvalid, "does not apply"},
	} {
		if _, err := natsq.OpenTopic[string](t.Context(), js, name, c.opts...); !errors.Is(err, c.want) || !contains(err, c.says) {
			t.Errorf("OpenTopic(%d options) = %v, want %v saying %q", len(c.opts), err, c.want, c.says)
		}
	}
	if _, err := natsq.OpenTopic[string](t.Context(), js, "/a.b", ipcchan.Create()); !errors.Is(err, ipcchan.ErrInvalidName) || !contains(err, "NATS topic /a.b") {
		t.Errorf("OpenTopic(/a.b) = %v", err)
	}
	tp := openTopic[string](t, js, name, ipcchan.Create(), ipcchan.Capacity(16), ipcchan.Subscribers(1))
	if tp.Stream() != "topic_"+name[1:] {
		t.Errorf("the stream of %s is %s", name, tp.Stream())
	}
	for _, opts := range [][]ipcchan.Option{
		{ipcchan.Create(), ipcchan.Exclusive()},
		{ipcchan.Capacity(32)},
		{ipcchan.History(2)},
		{ipcchan.Overflow(ipcchan.DropOldest)},
		{ipcchan.Subscribers(2)},
	} {
		if _, err := natsq.OpenTopic[string](t.Context(), js, name, opts...); !errors.Is(err, ipcchan.ErrExist) {
			t.Errorf("OpenTopic of the existing topic with %d options = %v, want ErrExist", len(opts), err)
		}
	}
	// The same shape: opens.
	same := openTopic[string](t, js, name, ipcchan.Capacity(16), ipcchan.Overflow(ipcchan.Block), ipcchan.History(0), ipcchan.Subscribers(1))

	// Subscribers(1): one subscription at a time.
	s, err := tp.Subscribe()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := same.Subscribe(); !errors.Is(err, ipcchan.ErrLimit) {
		t.Errorf("a second Subscribe of a Subscribers(1) topic = %v, want ErrLimit", err)
	}
	s.Close() // deletes its consumer: the place is free again
	subscribe[string](t, same)

	// A queue named like the topic's stream is not the topic.
	qname := "/topic_" + name[1:]
	if _, err := natsq.Open[string](t.Context(), js, qname, ipcchan.Create()); !errors.Is(err, ipcchan.ErrTypeMismatch) {
		t.Errorf("natsq.Open(%s), the stream of topic %s = %v, want ErrTypeMismatch", qname, name, err)
	}
	if err := natsq.Unlink(t.Context(), js, "/"+testutil.Prefix+"nothere"); !errors.Is(err, ipcchan.ErrNotExist) {
		t.Errorf("Unlink of nothing = %v", err)
	}
	qname = testutil.Name(t, func(n string) error { return natsq.Unlink(context.Background(), js, n) })
	q, err := natsq.Open[string](t.Context(), js, "/topic_"+qname[1:], ipcchan.Create())
	if err != nil {
		t.Fatal(err)
	}
	defer natsq.Unlink(context.Background(), js, q.Name())
	q.Close()
	if _, err := natsq.OpenTopic[string](t.Context(), js, qname, ipcchan.Create()); !errors.Is(err, ipcchan.ErrTypeMismatch) || !contains(err, "not an ipcchan topic") {
		t.Errorf("OpenTopic(%s), whose stream is the queue %s's = %v, want ErrTypeMismatch", qname, q.Name(), err)
	}
	if err := natsq.UnlinkTopic(t.Context(), js, qname); !errors.Is(err, ipcchan.ErrTypeMismatch) {
		t.Errorf("UnlinkTopic of the queue's stream = %v, want ErrTypeMismatch", err)
	}
	if _, err := js.Stream(t.Context(), q.Stream()); err != nil {
		t.Errorf("the queue's stream is gone: %v", err)
	}

	// Closed handles.
	tp.Close()
	if _, err := tp.Subscribe(); !errors.Is(err, ipcchan.ErrClosed) {
		t.Errorf("Subscribe on a closed topic = %v", err)
	}
	if err := tp.Send(t.Context(), "x"); !errors.Is(err, ipcchan.ErrClosed) {
		t.Errorf("Send on a closed topic = %v", err)
	}
	if err := natsq.UnlinkTopic(t.Context(), js, name); err != nil {
		t.Fatal(err)
	}
	if err := natsq.UnlinkTopic(t.Context(), js, name); !errors.Is(err, ipcchan.ErrNotExist) {
		t.Errorf("UnlinkTopic twice = %v", err)
	}
}

// TestTopicCloseWakesReceivers: Close of a subscription, or of its topic
// handle, ends a Receive that waits, with ErrClosed.
func TestTopicCloseWakesReceivers(t *testing.T) {
	js := natstest.Connect(t, natstest.Server(t))
	tp := openTopic[int](t, js, topicName(t, js), ipcchan.Create())
	a, b := subscribe[int](t, tp), subscribe[int](t, tp)
	errs := make(chan error, 2)
	for _, s := range []*natsq.Subscription[int]{a, b} {
		go func() { _, err := s.Receive(t.Context()); errs <- err }()
	}
	a.Close()
	if err := <-errs; !errors.Is(err, ipcchan.ErrClosed) {
		t.Errorf("Receive on a subscription closed meanwhile = %v", err)
	}
	tp.Close()
	if err := <-errs; !errors.Is(err, ipcchan.ErrClosed) {
		t.Errorf("Receive on a subscription whose topic closed = %v", err)
	}
	if _, err := a.TryReceive(); !errors.Is(err, ipcchan.ErrClosed) {
		t.Errorf("TryReceive after Close = %v", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	open := subscribe[int](t, openTopic[int](t, js, tp.Name()))
	if _, err := open.Receive(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Receive on an idle topic until a deadline = %v", err)
	}
	if _, err := open.TryReceive(); !errors.Is(err, ipcchan.ErrEmpty) {
		t.Errorf("TryReceive on an idle topic = %v", err)
	}
}

// TestTopicDeletedStream: a subscription whose stream is deleted fails
// with ErrNotExist instead of waiting for ever.
func TestTopicDeletedStream(t *testing.T) {
	js := natstest.Connect(t, natstest.Server(t))
	name := topicName(t, js)
	tp := openTopic[int](t, js, name, ipcchan.Create())
	s := subscribe[int](t, tp)
	if err := tp.Unlink(t.Context()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if _, err := s.Receive(ctx); !errors.Is(err, ipcchan.ErrNotExist) {
		t.Errorf("Receive after the stream was deleted = %v, want ErrNotExist", err)
	}
}

// TestTopicServerRestart: a subscription rides out a restart of its
// server, and resumes where it was: nothing missed, nothing twice.
func TestTopicServerRestart(t *testing.T) {
	srv := natstest.StartProcess(t)
	js := natstest.Connect(t, srv.URL())
	name := topicName(t, js)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	tp := openTopic[int](t, js, name, ipcchan.Create())
	s := subscribe[int](t, tp)
	for i := range 5 {
		if err := tp.Send(ctx, i); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 5 {
		if v, err := s.Receive(ctx); err != nil || v != i {
			t.Fatalf("before the restart: got %d, %v; want %d", v, err, i)
		}
	}
	srv.Stop()
	srv.Start()
	for i := 5; i < 10; {
		err := tp.Send(ctx, i)
		if err == nil {
			i++
			continue
		}
		select { // the client reconnects on its own; JetStream answers once it has read its streams back
		case <-ctx.Done():
			t.Fatalf("send %d after the restart: %v", i, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
	for i := 5; i < 10; i++ {
		if v, err := s.Receive(ctx); err != nil || v != i {
			t.Fatalf("after the restart: got %d, %v; want %d", v, err, i)
		}
	}
	if s.Missed() != 0 {
		t.Errorf("missed %d across the restart", s.Missed())
	}
}

// TestTopicClosedConnection: a topic on a closed connection says so, and
// a subscription waiting on it ends.
func TestTopicClosedConnection(t *testing.T) {
	url := natstest.Server(t)
	js, nc := natstest.ConnectConn(t, url)
	tp := openTopic[string](t, js, topicName(t, natstest.Connect(t, url)), ipcchan.Create())
	s := subscribe[string](t, tp)
	errs := make(chan error, 1)
	go func() { _, err := s.Receive(t.Context()); errs <- err }()
	nc.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := tp.Send(ctx, "x"); !errors.Is(err, ipcchan.ErrClosed) || !contains(err, "NATS connection is closed") {
		t.Errorf("Send on a closed connection = %v", err)
	}
	select {
	case err := <-errs:
		if !errors.Is(err, ipcchan.ErrClosed) || !contains(err, "NATS connection is closed") {
			t.Errorf("Receive on a closed connection = %v", err)
		}
	case <-ctx.Done():
		t.Fatal("a Receive waiting on a closed connection did not end")
	}
}
