package ipcchan_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ipcchan/ipcchan/internal/ring"
	"github.com/ipcchan/ipcchan/ipcchan"
)

func init() {
	helpers["ring-batch-send"] = helperRingBatchSend
	helpers["ring-batch-recv"] = helperRingBatchRecv
	helpers["ring-batch-hold"] = helperRingBatchHold
}

// batchSizes is the sizes a batch helper draws from: single messages among
// batches, and batches larger than MaxBatchRun (several runs).
var batchSizes = []int{1, 1, 3, 8, 64, 100, 512, 700}

// helperRingBatchSend: NAME SENDER INC N SEED [ACKFILE] — sends N
// messages in batches of sizes drawn from batchSizes (a size 1 with Send,
// the others with SendBatch); after each call returns, writes the ids it
// sent to ACKFILE in one write.
func helperRingBatchSend(args []string) error {
	r, err := ipcchan.OpenRing[chaosMsg](args[0])
	if err != nil {
		return err
	}
	sender, _ := strconv.Atoi(args[1])
	inc, _ := strconv.Atoi(args[2])
	n, _ := strconv.Atoi(args[3])
	seed, _ := strconv.Atoi(args[4])
	var acks *os.File
	if len(args) > 5 {
		if acks, err = os.OpenFile(args[5], os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600); err != nil {
			return err
		}
	}
	rng := rand.New(rand.NewPCG(uint64(seed), uint64(sender)))
	ctx := context.Background()
	for seq := 0; seq < n; {
		k := min(batchSizes[rng.IntN(len(batchSizes))], n-seq)
		vs := make([]chaosMsg, k)
		for i := range vs {
			vs[i] = newChaosMsg(uint32(sender), uint32(inc), uint64(seq+i))
		}
		if k == 1 {
			err = r.Send(ctx, vs[0])
		} else if sent, e := r.SendBatch(ctx, vs); e != nil || sent != k {
			err = fmt.Errorf("SendBatch of %d: %d sent, %v", k, sent, e)
		}
		if err != nil {
			return err
		}
		if acks != nil {
			var b []byte
			for _, m := range vs {
				id := m.id()
				b = append(b, id[:]...)
			}
			if _, err := acks.Write(b); err != nil {
				return err
			}
		}
		seq += k
	}
	return nil
}

// helperRingBatchRecv: NAME OUTFILE SEED — receives until the end of the
// stream with ReceiveBatch into buffers of random sizes (1 to 100), and
// Receive now and then, writing each batch's ids to OUTFILE as it gets
// them; a torn message is an error.
func helperRingBatchRecv(args []string) error {
	r, err := ipcchan.OpenRing[chaosMsg](args[0])
	if err != nil {
		return err
	}
	out, err := os.OpenFile(args[1], os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	seed, _ := strconv.Atoi(args[2])
	rng := rand.New(rand.NewPCG(uint64(seed), 7))
	buf := make([]chaosMsg, 100)
	for {
		var got []chaosMsg
		if rng.IntN(8) == 0 {
			m, err := r.Receive(context.Background())
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return err
			}
			got = []chaosMsg{m}
		} else {
			k, err := r.ReceiveBatch(context.Background(), buf[:1+rng.IntN(len(buf))])
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return err
			}
			if k == 0 {
				return errors.New("ReceiveBatch returned no message and no error")
			}
			got = buf[:k]
		}
		var b []byte
		for _, m := range got {
			if !m.whole() {
				return fmt.Errorf("a torn message: %+v", m)
			}
			id := m.id()
			b = append(b, id[:]...)
		}
		if _, err := out.Write(b); err != nil {
			return err
		}
	}
}

// helperRingBatchHold: NAME write|read N — claims a run of N slots, to
// write N messages or to read them, says "held", and stops there for good
// (to be killed).
func helperRingBatchHold(args []string) error {
	r, err := ipcchan.OpenRing[chaosMsg](args[0])
	if err != nil {
		return err
	}
	n, _ := strconv.Atoi(args[2])
	ring.AfterClaim = func(bool) {
		fmt.Println("held")
		for {
			unix.Pause()
		}
	}
	vs := make([]chaosMsg, n)
	if args[1] == "write" {
		for i := range vs {
			vs[i] = newChaosMsg(9, 9, uint64(i))
		}
		_, err = r.SendBatch(context.Background(), vs)
		return err
	}
	_, err = r.ReceiveBatch(context.Background(), vs)
	return err
}

// checkOrder checks the records of receivers (one file each): no message
// twice, each receiver gets each sender's messages in order; it returns
// the set of messages received.
func checkOrder(t *testing.T, files []string) map[[16]byte]bool {
	t.Helper()
	seen := map[[16]byte]bool{}
	for _, f := range files {
		last := map[[8]byte]int64{}
		for _, id := range readIDs(t, f) {
			if seen[id] {
				t.Fatalf("message %x received twice", id)
			}
			seen[id] = true
			who, seq := [8]byte(id[:8]), int64(binary.LittleEndian.Uint64(id[8:]))
			if prev, ok := last[who]; ok && seq <= prev {
				t.Fatalf("%s got sender %x's %d after %d", filepath.Base(f), who, seq, prev)
			}
			last[who] = seq
		}
	}
	return seen
}

// TestRingBatchProcesses: three sender processes sending batches of mixed
// sizes (single messages, batches of up to 700) and three receiver
// processes receiving into buffers of random sizes, on a ring of 256
// slots: every message is received exactly once, whole, and each receiver
// gets each sender's messages in order.
func TestRingBatchProcesses(t *testing.T) {
	forEachWait(t, func(t *testing.T) {
		name := ringName(t)
		r := openRing[chaosMsg](t, name, ipcchan.Create(), ipcchan.Capacity(256))
		dir := t.TempDir()
		const perSender = 20000
		seed := strconv.Itoa(int(time.Now().UnixNano() % 1e9))
		t.Logf("seed %s", seed)
		var senders, receivers []*exec.Cmd
		var files []string
		for i := range 3 {
			f := filepath.Join(dir, fmt.Sprintf("recv-%d", i))
			files = append(files, f)
			rc := helperCmd(t, "ring-batch-recv", name, f, seed+strconv.Itoa(i))
			sc := helperCmd(t, "ring-batch-send", name, strconv.Itoa(i), "0", strconv.Itoa(perSender), seed)
			for _, c := range []*exec.Cmd{rc, sc} {
				if err := c.Start(); err != nil {
					t.Fatal(err)
				}
			}
			senders, receivers = append(senders, sc), append(receivers, rc)
		}
		for _, c := range senders {
			if err := c.Wait(); err != nil {
				t.Fatalf("sender: %v", err)
			}
		}
		r.CloseSend(t.Context())
		for _, c := range receivers {
			if err := c.Wait(); err != nil {
				t.Fatalf("receiver: %v", err)
			}
		}
		if seen := checkOrder(t, files); len(seen) != 3*perSender {
			t.Errorf("%d messages received, want %d", len(seen), 3*perSender)
		}
	})
}

// TestRingBatchKilledWriter: a sender killed after claiming a run of 64
// slots, before its messages are in, does not wedge the ring: the
// receiver waiting at the run passes over all of it within 100 ms of the
// kill and gets the message sent after it; none of the 64 is delivered,
// and the 64 slots count as recovered.
func TestRingBatchKilledWriter(t *testing.T) {
	forEachWait(t, func(t *testing.T) {
		name := ringName(t)
		r := openRing[chaosMsg](t, name, ipcchan.Create(), ipcchan.Capacity(100))
		holder := startHeldRun(t, name, "write", 64)
		next := newChaosMsg(1, 0, 1)
		if err := r.Send(t.Context(), next); err != nil { // behind the held run
			t.Fatal(err)
		}
		if a, _ := r.Attr(); a.Len != 65 {
			t.Errorf("the ring holds %d messages about, want 65 (the run claimed, and one)", a.Len)
		}
		goesOnAfterKill(t, holder, "a ReceiveBatch behind the sender's run (it must get the one message after the run, alone)", func(ctx context.Context) bool {
			buf := make([]chaosMsg, 100)
			k, err := r.ReceiveBatch(ctx, buf)
			return err == nil && k == 1 && buf[0] == next
		})
		if a, _ := r.Attr(); a.Recovered != 64 {
			t.Errorf("Recovered = %d, want 64", a.Recovered)
		}
		// The run's slots are free for the next lap: a batch of the whole
		// capacity goes in at once.
		vs := make([]chaosMsg, 100)
		if n, err := r.SendBatch(t.Context(), vs); n != 100 || err != nil {
			t.Errorf("SendBatch of 100 after the recovery: %d, %v", n, err)
		}
	})
}

// TestRingBatchKilledReader: a receiver killed with a run of 10 messages
// in its hands does not wedge the ring: a sender waiting for its slots
// gets them within 100 ms of the kill; the 10 messages are lost, and only
// they.
func TestRingBatchKilledReader(t *testing.T) {
	forEachWait(t, func(t *testing.T) {
		name := ringName(t)
		r := openRing[chaosMsg](t, name, ipcchan.Create(), ipcchan.Capacity(16))
		vs := make([]chaosMsg, 16)
		for i := range vs {
			vs[i] = newChaosMsg(1, 0, uint64(i))
		}
		if n, err := r.SendBatch(t.Context(), vs); n != 16 || err != nil {
			t.Fatalf("SendBatch: %d, %v", n, err)
		}
		holder := startHeldRun(t, name, "read", 10) // the first 10 of the run of 16
		goesOnAfterKill(t, holder, "a SendBatch behind the receiver's run", func(ctx context.Context) bool {
			n, err := r.SendBatch(ctx, []chaosMsg{newChaosMsg(2, 0, 0), newChaosMsg(2, 0, 1)})
			return n == 2 && err == nil
		})
		rctx, cancel := context.WithTimeout(t.Context(), 10*time.Second) // messages that never come fail the test
		defer cancel()
		buf := make([]chaosMsg, 16)
		var got []chaosMsg
		for len(got) < 8 {
			k, err := r.ReceiveBatch(rctx, buf)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, buf[:k]...)
		}
		for i, m := range got {
			want := newChaosMsg(1, 0, uint64(10+i))
			if i >= 6 {
				want = newChaosMsg(2, 0, uint64(i-6))
			}
			if m != want {
				t.Errorf("after the kill, message %d is %d/%d, want %d/%d", i, m.Sender, m.Seq, want.Sender, want.Seq)
			}
		}
		if a, _ := r.Attr(); a.Recovered != 10 || a.Len != 0 {
			t.Errorf("Attr = %+v, want 10 recovered and nothing left", a)
		}
	})
}

// startHeldRun starts a ring-batch-hold helper and returns once it holds
// its run.
func startHeldRun(t *testing.T, name, what string, n int) *exec.Cmd {
	t.Helper()
	cmd := helperCmd(t, "ring-batch-hold", name, what, strconv.Itoa(n))
	return startHolding(t, cmd)
}

// TestRingBatchAPI: the calls' edges in one process: a batch larger than
// the ring goes in runs while a receiver takes them in smaller batches,
// in order; ReceiveBatch returns what is ready without waiting for more;
// the end of the stream comes after the last batch; a send after it, a
// cancelled send, and empty arguments.
func TestRingBatchAPI(t *testing.T) {
	ctx := t.Context()
	r := openRing[int64](t, ringName(t), ipcchan.Create(), ipcchan.Capacity(8))
	if n, err := r.SendBatch(ctx, nil); n != 0 || err != nil {
		t.Errorf("SendBatch(nil) = %d, %v", n, err)
	}
	if n, err := r.ReceiveBatch(ctx, nil); n != 0 || err != nil {
		t.Errorf("ReceiveBatch(nil) = %d, %v", n, err)
	}
	const total = 1000
	vs := make([]int64, total)
	for i := range vs {
		vs[i] = int64(i)
	}
	done := make(chan error, 1)
	go func() {
		n, err := r.SendBatch(ctx, vs)
		if err == nil && n != total {
			err = fmt.Errorf("SendBatch sent %d of %d", n, total)
		}
		if err == nil {
			err = r.CloseSend(ctx)
		}
		done <- err
	}()
	var got []int64
	for batch, err := range r.Batches(ctx, 3) {
		if err != nil {
			t.Fatal(err)
		}
		if len(batch) == 0 || len(batch) > 3 {
			t.Fatalf("a batch of %d, want 1 to 3", len(batch))
		}
		got = append(got, batch...)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if len(got) != total {
		t.Fatalf("received %d, want %d", len(got), total)
	}
	for i, v := range got {
		if v != int64(i) {
			t.Fatalf("message %d is %d", i, v)
		}
	}
	if n, err := r.ReceiveBatch(ctx, make([]int64, 4)); n != 0 || err != io.EOF {
		t.Errorf("ReceiveBatch after the end = %d, %v; want 0, io.EOF", n, err)
	}
	if n, err := r.SendBatch(ctx, vs[:2]); n != 0 || !errors.Is(err, ipcchan.ErrClosed) {
		t.Errorf("SendBatch after CloseSend = %d, %v; want 0, ErrClosed", n, err)
	}

	// Ready messages only: 5 in the ring, a buffer of 8 gets 5 at once.
	r2 := openRing[int64](t, ringName(t), ipcchan.Create(), ipcchan.Capacity(8))
	r2.SendBatch(ctx, vs[:2])
	r2.Send(ctx, 2)
	r2.SendBatch(ctx, vs[3:5])
	buf := make([]int64, 8)
	if n, err := r2.ReceiveBatch(ctx, buf); n != 5 || err != nil || buf[0] != 0 || buf[4] != 4 {
		t.Errorf("ReceiveBatch of 5 ready = %d %v, %v", n, buf[:n], err)
	}
	// A full ring: SendBatch sends what fits, then waits until ctx ends.
	short, cancel := context.WithTimeout(ctx, 30*time.Millisecond)
	defer cancel()
	if n, err := r2.SendBatch(short, vs[:10]); n != 8 || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("SendBatch of 10 into 8 free slots with a deadline = %d, %v; want 8, DeadlineExceeded", n, err)
	}
	if n, err := r2.ReceiveBatch(ctx, buf); n != 8 || err != nil || buf[7] != 7 {
		t.Errorf("ReceiveBatch of the 8 = %d %v, %v", n, buf[:n], err)
	}
	r2.Close()
	if n, err := r2.SendBatch(ctx, vs[:1]); n != 0 || !errors.Is(err, ipcchan.ErrClosed) {
		t.Errorf("SendBatch on a closed handle = %d, %v", n, err)
	}
	if n, err := r2.ReceiveBatch(ctx, buf); n != 0 || !errors.Is(err, ipcchan.ErrClosed) {
		t.Errorf("ReceiveBatch on a closed handle = %d, %v", n, err)
	}
}

// TestRingBatchOfBytes: a batch of []byte messages with one too large
// sends those before it and says why; a codec's T goes one at a time and
// arrives the same.
func TestRingBatchOfBytes(t *testing.T) {
	ctx := t.Context()
	r := openRing[[]byte](t, ringName(t), ipcchan.Create(), ipcchan.Capacity(8), ipcchan.MsgSize(16))
	msgs := [][]byte{[]byte("one"), []byte("two"), make([]byte, 17), []byte("four")}
	if n, err := r.SendBatch(ctx, msgs); n != 2 || !errors.Is(err, ipcchan.ErrTooLarge) {
		t.Errorf("SendBatch with a 17-byte message at 2 = %d, %v; want 2, ErrTooLarge", n, err)
	}
	buf := make([][]byte, 4)
	if n, err := r.ReceiveBatch(ctx, buf); n != 2 || err != nil || string(buf[0]) != "one" || string(buf[1]) != "two" {
		t.Errorf("ReceiveBatch = %d %q, %v", n, buf[:n], err)
	}

	type job struct {
		ID   int
		Tags []string
	}
	j := openRing[job](t, ringName(t), ipcchan.Create(), ipcchan.Capacity(8))
	jobs := []job{{1, []string{"a"}}, {2, nil}, {3, []string{"b", "c"}}}
	if n, err := j.SendBatch(ctx, jobs); n != 3 || err != nil {
		t.Fatalf("SendBatch of jobs = %d, %v", n, err)
	}
	out := make([]job, 5)
	if n, err := j.ReceiveBatch(ctx, out); n != 3 || err != nil || out[2].ID != 3 || len(out[2].Tags) != 2 {
		t.Errorf("ReceiveBatch of jobs = %d %+v, %v", n, out[:n], err)
	}
}

// TestRingBatchChaos: TestRingChaos with batches: 1,000,000 messages from
// 3 sender processes sending batches of mixed sizes to 3 receivers
// receiving batches, while 30 times a random one is killed and started
// again. No message is
// received twice or torn; every message whose SendBatch returned is
// received, but for at most a buffer (100) per killed receiver.
func TestRingBatchChaos(t *testing.T) {
	name := ringName(t)
	r := openRing[chaosMsg](t, name, ipcchan.Create(), ipcchan.Capacity(256))
	dir := t.TempDir()
	const total = 1000000
	killedReceivers := runChaos(t, r, dir, total, 30, 5*time.Millisecond, // kills while batches fly
		func(num, inc, left int, seed string) []string {
			return []string{"ring-batch-send", name, strconv.Itoa(num), strconv.Itoa(inc), strconv.Itoa(left), seed, filepath.Join(dir, fmt.Sprintf("ack-%d-%d", num, inc))}
		},
		func(num, inc int, seed string) []string {
			return []string{"ring-batch-recv", name, filepath.Join(dir, fmt.Sprintf("recv-%d-%d", num, inc)), seed}
		})
	files, _ := filepath.Glob(filepath.Join(dir, "recv-*"))
	received := checkOrder(t, files)
	lost := 0
	acks := readIDs(t, filepath.Join(dir, "ack-*"))
	for _, id := range acks {
		if !received[id] {
			lost++
		}
	}
	a, _ := r.Attr()
	t.Logf("%d acknowledged sends, %d received, %d lost, %d receivers killed, %d slots recovered", len(acks), len(received), lost, killedReceivers, a.Recovered)
	if len(acks) < total {
		t.Errorf("only %d sends acknowledged, want %d", len(acks), total)
	}
	if lost > 100*killedReceivers {
		t.Errorf("%d acknowledged messages were never received, more than a buffer (100) for each of the %d receivers killed", lost, killedReceivers)
	}
}

// TestTopicBatches: a topic's SendBatch publishes in order to every
// subscriber, whose Batches iterators each get every message, in batches
// of at most their size, until the end of the stream.
func TestTopicBatches(t *testing.T) {
	ctx := t.Context()
	tp := openTopic[int64](t, topicName(t), ipcchan.Create(), ipcchan.Capacity(16))
	var subs []*ipcchan.Subscription[int64]
	for range 2 {
		s, err := tp.Subscribe()
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		subs = append(subs, s)
	}
	const total = 500
	vs := make([]int64, total)
	for i := range vs {
		vs[i] = int64(i)
	}
	done := make(chan error, 1)
	go func() {
		n, err := tp.SendBatch(ctx, vs)
		if err == nil && n != total {
			err = fmt.Errorf("SendBatch published %d of %d", n, total)
		}
		if err == nil {
			err = tp.CloseSend(ctx)
		}
		done <- err
	}()
	results := make(chan []int64, len(subs))
	for i, s := range subs {
		go func() {
			var got []int64
			for batch, err := range s.Batches(ctx, 7+i) {
				if err != nil || len(batch) > 7+i {
					t.Errorf("subscriber %d: a batch of %d, %v", i, len(batch), err)
					break
				}
				got = append(got, batch...)
			}
			results <- got
		}()
	}
	for range subs {
		got := <-results
		if len(got) != total {
			t.Fatalf("a subscriber got %d messages, want %d", len(got), total)
		}
		for i, v := range got {
			if v != int64(i) {
				t.Fatalf("message %d is %d", i, v)
			}
		}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n, err := subs[0].ReceiveBatch(ctx, make([]int64, 3)); n != 0 || err != io.EOF {
		t.Errorf("ReceiveBatch after the end = %d, %v", n, err)
	}
}
