package ipcchan_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ipcchan/ipcchan/internal/objfmt"
	"github.com/ipcchan/ipcchan/internal/testutil"
	"github.com/ipcchan/ipcchan/ipcchan"
	"github.com/ipcchan/ipcchan/loop"
)

func topicName(t testing.TB) string { return testutil.Name(t, ipcchan.UnlinkTopic) }

func openTopic[T any](t testing.TB, name string, opts ...ipcchan.Option) *ipcchan.Topic[T] {
	t.Helper()
	tp, err := ipcchan.OpenTopic[T](name, opts...)
	if err != nil {
		t.Fatalf("OpenTopic(%s): %v", name, err)
	}
	t.Cleanup(func() { tp.Close() })
	return tp
}

func subscribe[T any](t testing.TB, tp *ipcchan.Topic[T]) *ipcchan.Subscription[T] {
	t.Helper()
	s, err := tp.Subscribe()
	if err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// receiveN receives n messages from s and fails the test on an error.
func receiveN[T any](t testing.TB, s *ipcchan.Subscription[T], n int) []T {
	t.Helper()
	var got []T
	for range n {
		v, err := s.Receive(t.Context())
		if err != nil {
			t.Fatalf("Receive after %d: %v", len(got), err)
		}
		got = append(got, v)
	}
	return got
}

func TestTopicEverySubscriberEveryMessage(t *testing.T) {
	forEachWait(t, func(t *testing.T) {
		name := topicName(t)
		pub := openTopic[Tick](t, name, ipcchan.Create(), ipcchan.Capacity(4))
		other := openTopic[Tick](t, name) // subscribers on another handle of the same topic
		subs := []*ipcchan.Subscription[Tick]{subscribe(t, pub), subscribe(t, other), subscribe(t, other)}
		const n = 1000 // many laps of 4 slots: the publisher waits for each subscriber again and again
		errs := make(chan error, len(subs))
		for i, s := range subs {
			go func() {
				for want := range uint64(n) {
					v, err := s.Receive(t.Context())
					if err != nil || v.Seq != want || v.Price != float64(want)/4 {
						errs <- fmt.Errorf("subscriber %d: Receive = %+v, %v; want Seq %d", i, v, err, want)
						return
					}
				}
				errs <- nil
			}()
		}
		for i := range uint64(n) {
			if err := pub.Send(t.Context(), Tick{Seq: i, Price: float64(i) / 4}); err != nil {
				t.Fatal(err)
			}
		}
		for range subs {
			if err := <-errs; err != nil {
				t.Error(err)
			}
		}
		for i, s := range subs {
			if m := s.Missed(); m != 0 {
				t.Errorf("subscriber %d Missed = %d under Block", i, m)
			}
		}
		if a, err := pub.Attr(); err != nil || a.Subscriptions != 3 || a.Published != n || a.Overflow != ipcchan.Block || a.Capacity != 4 {
			t.Errorf("Attr = %+v, %v", a, err)
		}
	})
}

func TestTopicBlockWaitsForTheSlowest(t *testing.T) {
	name := topicName(t)
	pub := openTopic[string](t, name, ipcchan.Create(), ipcchan.Capacity(2), ipcchan.MsgSize(64))
	fast, slow := subscribe(t, pub), subscribe(t, pub)
	for _, m := range []string{"a", "b"} {
		if err := pub.TrySend(m); err != nil {
			t.Fatal(err)
		}
	}
	receiveN(t, fast, 2)
	if err := pub.TrySend("c"); !errors.Is(err, ipcchan.ErrFull) {
		t.Fatalf("TrySend with a subscriber 2 behind = %v, want ErrFull", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	if err := pub.Send(ctx, "c"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Send with a subscriber 2 behind = %v, want the deadline", err)
	}
	sent := make(chan error, 1)
	go func() { sent <- pub.Send(t.Context(), "c") }()
	if got := receiveN(t, slow, 1); got[0] != "a" {
		t.Fatalf("slow got %q", got)
	}
	if err := <-sent; err != nil { // the slow subscriber's read made room
		t.Fatal(err)
	}
	if got := receiveN(t, fast, 1); got[0] != "c" {
		t.Errorf("fast got %q, want c", got)
	}
	// A closed subscription holds nothing back.
	slow.Close()
	for _, m := range []string{"d", "e"} {
		if err := pub.TrySend(m); err != nil {
			t.Fatalf("TrySend after the slow subscriber closed: %v", err)
		}
	}
	if _, err := slow.TryReceive(); !errors.Is(err, ipcchan.ErrClosed) {
		t.Errorf("TryReceive on a closed subscription = %v, want ErrClosed", err)
	}
}

func TestTopicDropOldestCountsMissed(t *testing.T) {
	name := topicName(t)
	pub := openTopic[Tick](t, name, ipcchan.Create(), ipcchan.Capacity(8), ipcchan.Overflow(ipcchan.DropOldest))
	stalled, keeping := subscribe(t, pub), subscribe(t, pub)
	const n = 100
	for i := range uint64(n) {
		if err := pub.TrySend(Tick{Seq: i}); err != nil { // never ErrFull under DropOldest
			t.Fatal(err)
		}
		if i%4 == 3 {
			receiveN(t, keeping, 4)
		}
	}
	got := 0
	last := int64(-1)
	for {
		v, err := stalled.TryReceive()
		if errors.Is(err, ipcchan.ErrEmpty) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if int64(v.Seq) <= last {
			t.Fatalf("Seq %d after %d", v.Seq, last)
		}
		last = int64(v.Seq)
		got++
	}
	if got != 8 || last != n-1 {
		t.Errorf("the stalled subscriber got %d messages, the last %d; want the last 8", got, last)
	}
	if m := stalled.Missed(); m != n-8 {
		t.Errorf("Missed = %d, want %d", m, n-8)
	}
	if m := keeping.Missed(); m != 0 {
		t.Errorf("a subscriber that kept up Missed %d", m)
	}
}

func TestTopicHistory(t *testing.T) {
	for _, policy := range []ipcchan.OverflowPolicy{ipcchan.Block, ipcchan.DropOldest} {
		t.Run(policy.String(), func(t *testing.T) {
			name := topicName(t)
			pub := openTopic[int](t, name, ipcchan.Create(), ipcchan.Capacity(8), ipcchan.History(3), ipcchan.Overflow(policy))
			early := subscribe(t, pub) // fewer than History sent: it gets what there is
			for i := range 10 {
				if policy == ipcchan.Block && i == 8 {
					receiveN(t, early, 8)
				}
				if err := pub.Send(t.Context(), i); err != nil {
					t.Fatal(err)
				}
			}
			late := subscribe(t, pub)
			if err := pub.Send(t.Context(), 10); err != nil {
				t.Fatal(err)
			}
			if got := fmt.Sprint(receiveN(t, late, 4)); got != "[7 8 9 10]" {
				t.Errorf("late joiner with History(3) got %s", got)
			}
			if _, err := late.TryReceive(); !errors.Is(err, ipcchan.ErrEmpty) {
				t.Errorf("after the history and the new message: %v, want ErrEmpty", err)
			}
			empty := topicName(t)
			fresh := openTopic[int](t, empty, ipcchan.Create(), ipcchan.History(3), ipcchan.Overflow(policy))
			s := subscribe(t, fresh)
			fresh.Send(t.Context(), 1)
			if got := fmt.Sprint(receiveN(t, s, 1)); got != "[1]" {
				t.Errorf("a new topic's first subscriber got %s", got)
			}
		})
	}
}

func TestTopicCloseSendEndsEverySubscription(t *testing.T) {
	name := topicName(t)
	pub := openTopic[[]byte](t, name, ipcchan.Create(), ipcchan.Capacity(4), ipcchan.MsgSize(16))
	a, b := subscribe(t, pub), subscribe(t, pub)
	pub.Send(t.Context(), []byte("x"))
	pub.Send(t.Context(), []byte{}) // an empty message is a message
	if err := pub.CloseSend(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := pub.Send(t.Context(), []byte("late")); !errors.Is(err, ipcchan.ErrClosed) {
		t.Errorf("Send after CloseSend = %v, want ErrClosed", err)
	}
	var got []string
	for v := range a.Recv() {
		got = append(got, string(v))
	}
	if fmt.Sprintf("%q", got) != `["x" ""]` || a.Err() != nil {
		t.Errorf("Recv gave %q, Err %v", got, a.Err())
	}
	n := 0
	for _, err := range b.All(t.Context()) {
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n != 2 {
		t.Errorf("All gave %d messages, want 2", n)
	}
	if _, err := b.Receive(t.Context()); err != io.EOF {
		t.Errorf("Receive at the end = %v, want io.EOF", err)
	}
	late := subscribe(t, pub)
	if _, err := late.TryReceive(); err != io.EOF {
		t.Errorf("a subscription after the end: %v, want io.EOF", err)
	}
}

func TestTopicSubscriptionLimit(t *testing.T) {
	name := topicName(t)
	pub := openTopic[int](t, name, ipcchan.Create(), ipcchan.Subscribers(2))
	s1 := subscribe(t, pub)
	subscribe(t, pub)
	_, err := pub.Subscribe()
	var e *ipcchan.Error
	if !errors.Is(err, ipcchan.ErrLimit) || !errors.As(err, &e) || e.Hint == "" {
		t.Fatalf("a third Subscribe of Subscribers(2) = %v, want ErrLimit with a hint", err)
	}
	s1.Close()
	subscribe(t, pub) // the closed one's entry is free again
}

func TestTopicConcurrentReceiversShareASubscription(t *testing.T) {
	name := topicName(t)
	pub := openTopic[int](t, name, ipcchan.Create(), ipcchan.Capacity(16))
	s := subscribe(t, pub)
	const n, workers = 5000, 4
	var mu sync.Mutex
	seen := map[int]int{}
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				v, err := s.Receive(t.Context())
				if err == io.EOF {
					return
				}
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				seen[v]++
				mu.Unlock()
			}
		})
	}
	for i := range n {
		if err := pub.Send(t.Context(), i); err != nil {
			t.Fatal(err)
		}
	}
	pub.CloseSend(t.Context())
	wg.Wait()
	if len(seen) != n {
		t.Errorf("%d distinct messages of %d", len(seen), n)
	}
	for v, c := range seen {
		if c != 1 {
			t.Errorf("message %d received %d times", v, c)
		}
	}
}

func TestTopicOpenChecks(t *testing.T) {
	name := topicName(t)
	openTopic[Tick](t, name, ipcchan.Create(), ipcchan.Capacity(8), ipcchan.History(2))
	if _, err := ipcchan.OpenTopic[Tick](name, ipcchan.Capacity(16)); !errors.Is(err, ipcchan.ErrExist) {
		t.Errorf("another Capacity: %v, want ErrExist", err)
	}
	if _, err := ipcchan.OpenTopic[Tick](name, ipcchan.Overflow(ipcchan.DropOldest)); !errors.Is(err, ipcchan.ErrExist) {
		t.Errorf("another policy: %v, want ErrExist", err)
	}
	if _, err := ipcchan.OpenTopic[int](name); !errors.Is(err, ipcchan.ErrTypeMismatch) {
		t.Errorf("another type: %v, want ErrTypeMismatch", err)
	}
	if _, err := ipcchan.OpenTopic[Tick](topicName(t), ipcchan.Create(), ipcchan.Capacity(4), ipcchan.History(5)); !errors.Is(err, ipcchan.ErrInvalid) {
		t.Errorf("History above Capacity: %v, want ErrInvalid", err)
	}
	if _, err := ipcchan.OpenTopic[Tick](topicName(t), ipcchan.Create(), ipcchan.LargeMessages()); !errors.Is(err, ipcchan.ErrInvalid) {
		t.Errorf("LargeMessages: %v, want ErrInvalid", err)
	}
	if _, err := ipcchan.OpenTopic[Tick](topicName(t)); !errors.Is(err, ipcchan.ErrNotExist) {
		t.Errorf("without Create: %v, want ErrNotExist", err)
	}
	tp := openTopic[string](t, topicName(t), ipcchan.Create(), ipcchan.MsgSize(8))
	if err := tp.Send(t.Context(), "more than eight"); !errors.Is(err, ipcchan.ErrTooLarge) {
		t.Errorf("a message beyond MsgSize: %v, want ErrTooLarge", err)
	}
}

func TestTopicWatch(t *testing.T) {
	name := topicName(t)
	pub := openTopic[int](t, name, ipcchan.Create())
	s := subscribe(t, pub)
	l, err := loop.New()
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var got []int
	stop, err := s.Watch(l, loop.Readable, func(loop.Events) {
		for {
			v, err := s.TryReceive()
			if err != nil {
				if errors.Is(err, io.EOF) {
					l.Stop()
				}
				return
			}
			got = append(got, v)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	go func() {
		for i := range 3 {
			pub.Send(context.Background(), i)
		}
		pub.CloseSend(context.Background())
	}()
	if err := l.Run(t.Context()); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != "[0 1 2]" {
		t.Errorf("the watch received %v", got)
	}
	if _, err := s.Watch(l, loop.Writable, func(loop.Events) {}); !errors.Is(err, ipcchan.ErrInvalid) {
		t.Errorf("Watch for Writable: %v, want ErrInvalid", err)
	}
}

// TestTopicLayoutOfAnotherSize: a topic of a pointer-free type whose slots
// (a foreign creator's) are not the type's size hands over no bytes as a
// value: Receive and TryReceive return a *MessageError of
// ErrTypeMismatch holding the message, and a zero value.
func TestTopicLayoutOfAnotherSize(t *testing.T) {
	name := topicName(t)
	type Pair struct{ A, B uint64 }
	top := openTopic[Pair](t, name, ipcchan.Create(), ipcchan.Capacity(4), ipcchan.History(4))
	for i := range uint64(3) {
		if err := top.Send(t.Context(), Pair{i, i}); err != nil {
			t.Fatal(err)
		}
	}
	f, err := os.OpenFile("/dev/shm/ipcchan.topic."+strings.TrimPrefix(name, "/"), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	var b [4]byte
	binary.LittleEndian.PutUint32(b[:], 8) // the control block's maxLen: slots of 8 bytes
	if _, err := f.WriteAt(b[:], objfmt.HeaderSize+12); err != nil {
		t.Fatal(err)
	}
	f.Close()
	sub, err := openTopic[Pair](t, name).Subscribe()
	if err != nil {
		t.Fatal(err)
	}
	for _, how := range []string{"Receive", "TryReceive"} {
		var v Pair
		if how == "Receive" {
			v, err = sub.Receive(t.Context())
		} else {
			v, err = sub.TryReceive()
		}
		var me *ipcchan.MessageError
		if !errors.As(err, &me) || !errors.Is(err, ipcchan.ErrTypeMismatch) || len(me.Data) != 8 || v != (Pair{}) {
			t.Errorf("%s of an 8-byte slot as a 16-byte Pair: %+v, %v; want a zero Pair and a MessageError of 8 bytes", how, v, err)
		}
	}
}
