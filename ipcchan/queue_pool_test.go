package ipcchan_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/ipcchan/ipcchan/internal/large"
	"github.com/ipcchan/ipcchan/internal/objfmt"
	"github.com/ipcchan/ipcchan/internal/posix"
	"github.com/ipcchan/ipcchan/ipcchan"
)

func init() {
	helpers["queue-pool-send"] = helperQueuePoolSend
	helpers["queue-pool-step"] = helperQueuePoolStep
}

// openPoolQueue makes a Queue[[]byte] of 1024-byte messages that carries
// large ones, with a pool of poolSize, removed after the test.
func openPoolQueue(t *testing.T, opts ...ipcchan.Option) (string, *ipcchan.Queue[[]byte]) {
	t.Helper()
	name := queueName(t)
	opts = append([]ipcchan.Option{ipcchan.Create(), ipcchan.MsgSize(1024), ipcchan.LargeMessages(), ipcchan.PoolSize(poolSize)}, opts...)
	return name, openQueue[[]byte](t, name, opts...)
}

// queuePoolPath is the file of the pool of the queue name.
func queuePoolPath(name string) string { return posix.ShmDir + objfmt.PoolName("queue", name) }

// helperQueuePoolSend: QUEUE COUNT — sends COUNT messages of
// pattern(loanMessageSize(i), i), then ends the stream.
func helperQueuePoolSend(args []string) error {
	q, err := ipcchan.OpenQueue[[]byte](args[0], ipcchan.LargeMessages())
	if err != nil {
		return err
	}
	n, _ := strconv.Atoi(args[1])
	for i := range n {
		if err := q.Send(context.Background(), pattern(loanMessageSize(i), uint64(i))); err != nil {
			return err
		}
	}
	return q.CloseSend(context.Background())
}

// TestQueuePool: large messages of a queue, from another process, travel
// in the queue's pool (no file of their own), received byte-exact by
// Receive and by ReceiveAppend into a reused buffer, the pool's blocks
// reused message after message; the pool is the queue owner's with the
// owner's bits of its mode, and goes with the queue.
func TestQueuePool(t *testing.T) {
	// The default pool: room for every message in flight (the queue's 10,
	// one being sent, one being received), however its blocks fragment.
	name, q := openPoolQueue(t, ipcchan.Perm(0o640), ipcchan.PoolSize(large.DefaultPoolSize))
	const n = 40
	sender := helperCmd(t, "queue-pool-send", name, strconv.Itoa(n))
	sender.Stderr = os.Stderr
	if err := sender.Start(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 0, poolSize)
	for i := range n {
		want := pattern(loanMessageSize(i), uint64(i))
		var got []byte
		var err error
		if i%2 == 0 {
			got, err = q.Receive(t.Context())
		} else {
			got, _, err = q.ReceiveAppend(t.Context(), buf[:0])
		}
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("message %d: %d bytes, %v; want %d bytes", i, len(got), err, len(want))
		}
		if len(want) > 1024 {
			wantLargeFiles(t, name, 0, fmt.Sprintf("message %d, of %d bytes", i, len(want)))
		}
	}
	if _, err := q.Receive(t.Context()); err != io.EOF {
		t.Fatalf("after the messages: %v, want io.EOF", err)
	}
	if err := sender.Wait(); err != nil {
		t.Fatalf("sender: %v", err)
	}
	if a, err := q.Attr(); err != nil || a.PoolSize != large.DefaultPoolSize || a.PoolInUse != 0 || a.PoolRecovered != 0 {
		t.Fatalf("Attr = %+v, %v; want a pool of %d bytes, none in use", a, err, large.DefaultPoolSize)
	}
	var st syscall.Stat_t
	if err := syscall.Stat(queuePoolPath(name), &st); err != nil || st.Mode&0o777 != 0o600 || int(st.Uid) != os.Geteuid() {
		t.Fatalf("the pool's file: mode %o, uid %d, %v; want 0600 (the owner's bits of 0640), uid %d", st.Mode&0o777, st.Uid, err, os.Geteuid())
	}
	if err := ipcchan.UnlinkQueue(name); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(queuePoolPath(name)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the pool after UnlinkQueue: %v", err)
	}
}

// TestQueuePoolTyped: a typed queue's large values travel in its pool.
func TestQueuePoolTyped(t *testing.T) {
	name := queueName(t)
	q := openQueue[Doc](t, name, ipcchan.Create(), ipcchan.MsgSize(256))
	docs := []Doc{{"large", pattern(1<<20, 1)}, {"small", nil}, {"large again", pattern(300, 2)}}
	for _, d := range docs {
		if err := q.Send(t.Context(), d); err != nil {
			t.Fatal(err)
		}
	}
	wantLargeFiles(t, name, 0, "two large values queued")
	if a, err := q.Attr(); err != nil || a.PoolInUse == 0 || a.PoolSize != large.DefaultPoolSize {
		t.Fatalf("Attr = %+v, %v; want the default pool, in use", a, err)
	}
	for i, want := range docs {
		if got, err := q.Receive(t.Context()); err != nil || got.Title != want.Title || !bytes.Equal(got.Body, want.Body) {
			t.Fatalf("receive %d: %q (%d bytes), %v; want %q", i, got.Title, len(got.Body), err, want.Title)
		}
	}
	if a, _ := q.Attr(); a.PoolInUse != 0 {
		t.Fatalf("after every value was received: %+v", a)
	}
}

// TestQueuePoolFull: a large message that finds the pool full travels in
// a file of its own, in its order among the others; one larger than the
// pool too.
func TestQueuePoolFull(t *testing.T) {
	name, q := openPoolQueue(t, ipcchan.PoolSize(2*large.BlockSize))
	msgs := [][]byte{pattern(100000, 1), pattern(100000, 2), pattern(5, 3), pattern(3*large.BlockSize, 4)}
	for _, m := range msgs {
		if err := q.Send(t.Context(), m); err != nil {
			t.Fatal(err)
		}
	}
	wantLargeFiles(t, name, 2, "the second message and the one larger than the pool")
	for i, want := range msgs {
		if got, err := q.Receive(t.Context()); err != nil || !bytes.Equal(got, want) {
			t.Fatalf("message %d: %d bytes, %v", i, len(got), err)
		}
	}
	wantLargeFiles(t, name, 0, "all received")
}

// TestQueuePoolOfEarlierQueue: a pool left over from a queue removed
// without it (here by mq_unlink alone) is not the pool of a queue made
// after it under that name: the first large message replaces it.
func TestQueuePoolOfEarlierQueue(t *testing.T) {
	name, q := openPoolQueue(t)
	if err := q.Send(t.Context(), pattern(5000, 1)); err != nil {
		t.Fatal(err)
	}
	if err := posix.MqUnlink(name); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(queuePoolPath(name)); err != nil {
		t.Fatalf("the pool left over: %v", err)
	}
	again := openQueue[[]byte](t, name, ipcchan.Create(), ipcchan.MsgSize(1024), ipcchan.LargeMessages())
	if err := again.Send(t.Context(), pattern(6000, 2)); err != nil {
		t.Fatal(err)
	}
	if a, err := again.Attr(); err != nil || a.PoolSize != large.DefaultPoolSize || a.PoolInUse != large.BlockSize {
		t.Fatalf("the new queue's pool: %+v, %v; want a pool of its own, of the default size, one block in use", a, err)
	}
	if got, err := again.Receive(t.Context()); err != nil || !bytes.Equal(got, pattern(6000, 2)) {
		t.Fatalf("the new queue's message: %d bytes, %v", len(got), err)
	}
	if got, err := q.Receive(t.Context()); err != nil || !bytes.Equal(got, pattern(5000, 1)) {
		t.Fatalf("the removed queue's message, by its open handle: %d bytes, %v", len(got), err) // its pool is still mapped
	}
}

// helperQueuePoolStep: QUEUE ROLE STEP — as ROLE (send or receive) with a
// message of pattern(300000, 9), killing itself with SIGKILL at STEP of
// its way through the queue's pool.
func helperQueuePoolStep(args []string) error {
	q, err := ipcchan.OpenQueue[[]byte](args[0], ipcchan.LargeMessages())
	if err != nil {
		return err
	}
	step, _ := strconv.Atoi(args[2])
	dieAt(large.Step(step))
	if args[1] == "send" {
		err = q.Send(context.Background(), pattern(300000, 9))
	} else {
		_, err = q.Receive(context.Background())
	}
	if err != nil {
		return err
	}
	return errors.New("the step was never reached")
}

// TestQueuePoolKillAtEachStep: a sender or a receiver SIGKILLed at each
// step of a message's way through a queue's pool leaves it delivered whole
// or not at all, and its run back in the pool: at once when a dead process
// held it, within large.Grace of the queue being seen empty when it was
// Queued and in nobody's hands. The queue goes on.
func TestQueuePoolKillAtEachStep(t *testing.T) {
	cases := []struct {
		role      string
		step      large.Step
		delivered bool
	}{
		{"send", large.PoolLoaned, false},
		{"send", large.PoolQueued, false}, // Queued, its reference never sent
		{"send", large.PoolPublished, true},
		{"receive", large.Received, false}, // the reference taken from the queue, the run still Queued
		{"receive", large.PoolViewed, false},
		{"receive", large.PoolReleased, false},
	}
	msg := pattern(300000, 9)
	for _, c := range cases {
		t.Run(fmt.Sprintf("%s-%d", c.role, c.step), func(t *testing.T) {
			name, q := openPoolQueue(t)
			if c.role == "receive" {
				if err := q.Send(t.Context(), msg); err != nil {
					t.Fatal(err)
				}
			}
			runKilled(t, helperCmd(t, "queue-pool-step", name, c.role, strconv.Itoa(int(c.step))))
			got, err := q.TryReceive()
			switch {
			case c.delivered && (err != nil || !bytes.Equal(got, msg)):
				t.Fatalf("TryReceive = %d bytes, %v; want the whole message", len(got), err)
			case !c.delivered && !errors.Is(err, ipcchan.ErrEmpty):
				t.Fatalf("TryReceive = %d bytes, %v; want ErrEmpty", len(got), err)
			}
			// Attr takes back what it may; a Queued run needs the queue seen
			// empty twice, Grace apart.
			deadline := time.Now().Add(10 * large.Grace)
			a, _ := q.Attr()
			for a.PoolInUse != 0 && time.Now().Before(deadline) {
				a, _ = q.Attr()
			}
			if want := uint64(1); c.delivered && a.PoolRecovered != 0 || !c.delivered && a.PoolRecovered != want || a.PoolInUse != 0 {
				t.Fatalf("Attr = %+v; want the pool empty, %d runs recovered", a, map[bool]uint64{true: 0, false: want}[c.delivered])
			}
			big := pattern(poolSize, 3) // the whole pool: every block came back
			if err := q.Send(t.Context(), big); err != nil {
				t.Fatal(err)
			}
			wantLargeFiles(t, name, 0, "a message of the whole pool")
			if got, err := q.Receive(t.Context()); err != nil || !bytes.Equal(got, big) {
				t.Fatalf("the queue after the crash: %d bytes, %v", len(got), err)
			}
		})
	}
}

// TestQueuePoolSendFails: a large send that the full queue refuses, or
// whose ctx ends while it waits for room, gives its run back.
func TestQueuePoolSendFails(t *testing.T) {
	_, q := openPoolQueue(t, ipcchan.Capacity(1))
	if err := q.Send(t.Context(), []byte("fills it")); err != nil {
		t.Fatal(err)
	}
	if err := q.TrySend(pattern(100000, 1)); !errors.Is(err, ipcchan.ErrFull) {
		t.Fatalf("TrySend to a full queue = %v, want ErrFull", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	if err := q.Send(ctx, pattern(100000, 2)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Send to a full queue = %v, want its deadline", err)
	}
	if a, err := q.Attr(); err != nil || a.PoolSize != poolSize || a.PoolInUse != 0 || a.Len != 1 {
		t.Fatalf("Attr = %+v, %v; want one message, none of the pool in use", a, err)
	}
}
