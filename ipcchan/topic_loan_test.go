package ipcchan_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/ipcchan/ipcchan/internal/large"
	"github.com/ipcchan/ipcchan/internal/objfmt"
	"github.com/ipcchan/ipcchan/ipcchan"
)

func init() {
	helpers["topic-views"] = helperTopicViews
}

// openPoolTopic makes a Topic[[]byte] of 4 slots of 64 bytes with a pool
// of poolSize, removed after the test.
func openPoolTopic(t *testing.T, opts ...ipcchan.Option) (string, *ipcchan.Topic[[]byte]) {
	t.Helper()
	name := topicName(t)
	opts = append([]ipcchan.Option{ipcchan.Create(), ipcchan.Capacity(4), ipcchan.MsgSize(64), ipcchan.LargeMessages(), ipcchan.PoolSize(poolSize)}, opts...)
	return name, openTopic[[]byte](t, name, opts...)
}

// helperTopicViews: TOPIC COUNT [hold] — subscribes, says "ready", views
// COUNT messages and checks each is pattern(loanMessageSize(i), i), then
// expects the end of the stream; with hold, it says "holding" once it
// holds the first view, and waits to be killed.
func helperTopicViews(args []string) error {
	tp, err := ipcchan.OpenTopic[[]byte](args[0])
	if err != nil {
		return err
	}
	sub, err := tp.Subscribe()
	if err != nil {
		return err
	}
	fmt.Println("ready")
	n, _ := strconv.Atoi(args[1])
	ctx := context.Background()
	for i := range n {
		v, err := sub.ReceiveView(ctx)
		if err != nil {
			return err
		}
		if want := pattern(loanMessageSize(i), uint64(i)); !bytes.Equal(v.Bytes(), want) {
			return fmt.Errorf("message %d: %d bytes, not the %d sent", i, len(v.Bytes()), len(want))
		}
		if len(args) > 2 {
			fmt.Println("holding")
			select {}
		}
		v.Release()
	}
	if _, err := sub.ReceiveView(ctx); err != io.EOF {
		return fmt.Errorf("after the messages: %v, want io.EOF", err)
	}
	return nil
}

// startTopicViews starts the helper topic-views and waits until it has
// subscribed.
func startTopicViews(t *testing.T, args ...string) (*bufio.Reader, *exec.Cmd) {
	t.Helper()
	h := helperCmd(t, "topic-views", args...)
	out, _ := h.StdoutPipe()
	h.Stderr = os.Stderr
	if err := h.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Process.Kill(); h.Wait() })
	r := bufio.NewReader(out)
	if l, _ := r.ReadString('\n'); l != "ready\n" {
		t.Fatalf("the helper said %q", l)
	}
	return r, h
}

// TestTopicLoans: loaned messages and large copied ones, of every size up
// to half the pool, reach every subscription byte-exact: two processes
// viewing them in place and one copying them out here; a small message is
// viewed in its slot. Each run goes back to the pool once every
// subscription has read it and the pool needs the room, or when its slot
// is published over.
func TestTopicLoans(t *testing.T) {
	name, tp := openPoolTopic(t)
	sub := subscribe(t, tp)
	const n = 40
	var waits []func() error
	for range 2 {
		_, h := startTopicViews(t, name, strconv.Itoa(n))
		waits = append(waits, h.Wait)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		for i := range n {
			want := pattern(loanMessageSize(i), uint64(i))
			got, err := sub.Receive(ctx)
			if err != nil || !bytes.Equal(got, want) {
				done <- fmt.Errorf("message %d: %d bytes, %v; want %d bytes", i, len(got), err, len(want))
				return
			}
		}
		done <- nil
	}()
	for i := range n {
		msg := pattern(loanMessageSize(i), uint64(i))
		if i%2 == 1 || len(msg) <= 64 {
			if err := tp.Send(ctx, msg); err != nil {
				t.Fatalf("message %d: %v", i, err)
			}
			continue
		}
		l, err := tp.Loan(ctx, len(msg))
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		copy(l.Bytes(), msg)
		if err := l.Send(ctx); err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := tp.CloseSend(ctx); err != nil {
		t.Fatal(err)
	}
	for _, wait := range waits {
		if err := wait(); err != nil {
			t.Fatalf("a viewing subscriber: %v", err)
		}
	}
	// Every subscription read them all: Attr's recovery takes their runs
	// back, though their slots still hold them.
	if a, err := tp.Attr(); err != nil || a.PoolSize != poolSize || a.PoolInUse != 0 {
		t.Fatalf("Attr = %+v, %v; want a pool of %d, none in use", a, err, poolSize)
	}
}

// TestTopicViewHolds: under Block a view holds its subscription at the
// message: publishers wait for its Release as for a subscriber behind, its
// bytes stay whole, and the subscription's other receives are refused
// meanwhile; under DropOldest the view is a copy, which holds nothing.
func TestTopicViewHolds(t *testing.T) {
	_, tp := openPoolTopic(t)
	sub := subscribe(t, tp)
	big := pattern(200000, 1)
	if err := tp.Send(t.Context(), big); err != nil {
		t.Fatal(err)
	}
	v, err := sub.ReceiveView(t.Context())
	if err != nil || !bytes.Equal(v.Bytes(), big) {
		t.Fatalf("ReceiveView: %v", err)
	}
	if _, err := sub.TryReceive(); !errors.Is(err, ipcchan.ErrInvalid) {
		t.Fatalf("TryReceive while a view is held: %v, want ErrInvalid", err)
	}
	for i := range 3 { // the topic's other 3 slots
		if err := tp.TrySend(pattern(100000, uint64(i+2))); err != nil {
			t.Fatal(err)
		}
	}
	if err := tp.TrySend([]byte("one more")); !errors.Is(err, ipcchan.ErrFull) {
		t.Fatalf("TrySend with the view held a Capacity behind: %v, want ErrFull", err)
	}
	if !bytes.Equal(v.Bytes(), big) {
		t.Fatal("the view's bytes changed while it was held")
	}
	v.Release()
	v.Release() // harmless
	if err := tp.TrySend([]byte("one more")); err != nil {
		t.Fatalf("TrySend after Release: %v", err)
	}
	for i := range 3 {
		if got, err := sub.TryReceive(); err != nil || !bytes.Equal(got, pattern(100000, uint64(i+2))) {
			t.Fatalf("message %d after the view: %d bytes, %v", i, len(got), err)
		}
	}
	if got, err := sub.TryReceive(); err != nil || string(got) != "one more" {
		t.Fatalf("the last message: %q, %v", got, err)
	}

	_, drop := openPoolTopic(t, ipcchan.Overflow(ipcchan.DropOldest))
	dsub := subscribe(t, drop)
	if err := drop.Send(t.Context(), big); err != nil {
		t.Fatal(err)
	}
	dv, err := dsub.ReceiveView(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for i := range 8 { // twice round the slots, over the viewed message
		if err := drop.TrySend(pattern(100000, uint64(i))); err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(dv.Bytes(), big) {
		t.Fatal("a DropOldest view changed when its message was published over")
	}
	dv.Release()
	// The publishers gave back the runs of the messages they published
	// over (none needed recovering); the slots hold the last 4, which the
	// subscription has not read.
	if a, err := drop.Attr(); err != nil || a.PoolInUse != 4*2*large.BlockSize || a.PoolRecovered != 0 {
		t.Fatalf("Attr = %+v, %v; want the 4 messages in the slots in the pool, 2 blocks each, none recovered", a, err)
	}
}

// TestTopicViewerKilled: a subscriber process killed while it holds a
// view holds publishers up no longer than a dead subscriber does, and the
// runs come back to the pool.
func TestTopicViewerKilled(t *testing.T) {
	name, tp := openPoolTopic(t)
	out, h := startTopicViews(t, name, "1", "hold")
	big := pattern(loanMessageSize(0), 0)
	if err := tp.Send(t.Context(), big); err != nil {
		t.Fatal(err)
	}
	if l, _ := out.ReadString('\n'); l != "holding\n" {
		t.Fatalf("the helper said %q", l)
	}
	for i := range 3 {
		if err := tp.Send(t.Context(), pattern(100000, uint64(i))); err != nil {
			t.Fatal(err)
		}
	}
	if err := tp.TrySend([]byte("held up")); !errors.Is(err, ipcchan.ErrFull) {
		t.Fatalf("TrySend while a live subscriber holds a view: %v, want ErrFull", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	h.Process.Kill()
	h.Wait()
	for i := range 8 { // a dead subscriber holds nothing up: each Send gets through
		if err := tp.Send(ctx, pattern(100000, uint64(10+i))); err != nil {
			t.Fatalf("Send %d after the viewer died: %v", i, err)
		}
	}
	if a, err := tp.Attr(); err != nil || a.PoolInUse != 0 {
		t.Fatalf("Attr = %+v, %v; want none of the pool in use: nobody is left to read", a, err)
	}
}

// TestTopicPoolOptions: loans and views need a Topic[[]byte] made with
// LargeMessages; a pointer-free T refuses LargeMessages; a message beyond
// the pool is ErrTooLarge; UnlinkTopic removes the pool.
func TestTopicPoolOptions(t *testing.T) {
	plain := openTopic[[]byte](t, topicName(t), ipcchan.Create())
	if _, err := plain.TryLoan(10); !errors.Is(err, ipcchan.ErrInvalid) {
		t.Errorf("TryLoan without a pool: %v, want ErrInvalid", err)
	}
	if _, err := subscribe(t, plain).TryReceiveView(); !errors.Is(err, ipcchan.ErrInvalid) {
		t.Errorf("TryReceiveView without a pool: %v, want ErrInvalid", err)
	}
	if _, err := ipcchan.OpenTopic[Tick](topicName(t), ipcchan.Create(), ipcchan.LargeMessages()); !errors.Is(err, ipcchan.ErrInvalid) {
		t.Errorf("a Topic[Tick] with LargeMessages: %v, want ErrInvalid", err)
	}
	name, tp := openPoolTopic(t)
	if err := tp.TrySend(make([]byte, poolSize+1)); !errors.Is(err, ipcchan.ErrTooLarge) {
		t.Errorf("TrySend beyond the pool: %v, want ErrTooLarge", err)
	}
	if _, err := tp.TryLoan(poolSize + 1); !errors.Is(err, ipcchan.ErrTooLarge) {
		t.Errorf("TryLoan beyond the pool: %v, want ErrTooLarge", err)
	}
	if err := ipcchan.UnlinkTopic(name); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat("/dev/shm/" + objfmt.PoolName("topic", name)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the pool after UnlinkTopic: %v", err)
	}
}

func init() { helpers["topic-loan-step"] = helperTopicLoanStep }

// helperTopicLoanStep: TOPIC STEP — loans a message of pattern(300000, 9)
// on the topic and publishes it, killing itself with SIGKILL at STEP.
func helperTopicLoanStep(args []string) error {
	tp, err := ipcchan.OpenTopic[[]byte](args[0])
	if err != nil {
		return err
	}
	step, _ := strconv.Atoi(args[1])
	dieAt(large.Step(step))
	msg := pattern(300000, 9)
	l, err := tp.Loan(context.Background(), len(msg))
	if err != nil {
		return err
	}
	copy(l.Bytes(), msg)
	if err := l.Send(context.Background()); err != nil {
		return err
	}
	return errors.New("the step was never reached")
}

// TestTopicPublisherKilled: a publisher killed at each step of a loan
// leaves its message delivered whole or not at all, and the run back in
// the pool; the topic goes on.
func TestTopicPublisherKilled(t *testing.T) {
	for _, c := range []struct {
		step      large.Step
		delivered bool
	}{{large.PoolLoaned, false}, {large.PoolQueued, false}, {large.PoolPublished, true}} {
		t.Run(strconv.Itoa(int(c.step)), func(t *testing.T) {
			name, tp := openPoolTopic(t)
			sub := subscribe(t, tp)
			runKilled(t, helperCmd(t, "topic-loan-step", name, strconv.Itoa(int(c.step))))
			a, _ := tp.Attr() // takes back what the dead publisher held
			got, err := sub.TryReceive()
			switch {
			case c.delivered && (err != nil || !bytes.Equal(got, pattern(300000, 9))):
				t.Fatalf("TryReceive = %d bytes, %v; want the whole message", len(got), err)
			case !c.delivered && !errors.Is(err, ipcchan.ErrEmpty):
				t.Fatalf("TryReceive = %d bytes, %v; want ErrEmpty", len(got), err)
			}
			if a, _ = tp.Attr(); a.PoolInUse != 0 || c.delivered == (a.PoolRecovered != 0) {
				t.Fatalf("Attr = %+v; want the pool empty, the run recovered if it was not delivered", a)
			}
			whole := pattern(poolSize, 3)
			if err := tp.Send(t.Context(), whole); err != nil {
				t.Fatal(err)
			}
			if got, err := sub.Receive(t.Context()); err != nil || !bytes.Equal(got, whole) {
				t.Fatalf("the topic after the crash: %d bytes, %v", len(got), err)
			}
		})
	}
}
