package ipcchan_test

import (
	"golang.org/x/sys/unix"

	"bufio"
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
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ipcchan/ipcchan/internal/ring"
	"github.com/ipcchan/ipcchan/ipcchan"
)

func init() {
	helpers["topic-pub"] = helperTopicPub
	helpers["topic-sub"] = helperTopicSub
	helpers["topic-hold"] = helperTopicHold
}

// helperTopicPub: NAME SENDER N [PAUSE] — publishes N messages of sender
// SENDER; with PAUSE (a duration), in bursts of 256 with a pause between
// (so that a publisher that never waits, under DropOldest, publishes for
// long enough to be watched).
func helperTopicPub(args []string) error {
	t, err := ipcchan.OpenTopic[chaosMsg](args[0])
	if err != nil {
		return err
	}
	sender, _ := strconv.Atoi(args[1])
	n, _ := strconv.Atoi(args[2])
	var pause time.Duration
	if len(args) > 3 {
		if pause, err = time.ParseDuration(args[3]); err != nil {
			return err
		}
	}
	for seq := range uint64(n) {
		if pause > 0 && seq%256 == 255 {
			time.Sleep(pause)
		}
		if err := t.Send(context.Background(), newChaosMsg(uint32(sender), 0, seq)); err != nil {
			return err
		}
	}
	return nil
}

// helperTopicSub: NAME OUTFILE [wait] — subscribes, says "subscribed",
// (with wait: reads a line of stdin first) and receives until the end of
// the stream, writing each message's id to OUTFILE (buffered: a kill
// loses a whole number of records); a torn message is an error. At the
// end it writes "start S missed M" to OUTFILE.end: S the subscription's
// first position, M its Missed().
func helperTopicSub(args []string) error {
	t, err := ipcchan.OpenTopic[chaosMsg](args[0])
	if err != nil {
		return err
	}
	sub, err := t.Subscribe()
	if err != nil {
		return err
	}
	f, err := os.OpenFile(args[1], os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	fmt.Println("subscribed")
	if len(args) > 2 && args[2] == "wait" {
		if _, err := bufio.NewReader(os.Stdin).ReadString('\n'); err != nil {
			return err
		}
	}
	out := bufio.NewWriterSize(f, 4096)
	err = recordAll(sub.All(context.Background()), func(id [16]byte) error {
		_, err := out.Write(id[:])
		return err
	})
	if err != nil {
		return err
	}
	if err := out.Flush(); err != nil {
		return err
	}
	end := fmt.Sprintf("start %d missed %d\n", ipcchan.SubscriptionStart(sub), sub.Missed())
	return os.WriteFile(args[1]+".end", []byte(end), 0o600)
}

// helperTopicHold: NAME sub|pub — subscribes and reads nothing, or claims
// a slot to publish and writes nothing in it; says "held" and stops there
// for good (to be killed).
func helperTopicHold(args []string) error {
	t, err := ipcchan.OpenTopic[chaosMsg](args[0])
	if err != nil {
		return err
	}
	hold := func(bool) {
		fmt.Println("held")
		for {
			unix.Pause() // in the kernel, until killed
		}
	}
	if args[1] == "pub" {
		ring.AfterClaim = hold
		return t.Send(context.Background(), newChaosMsg(9, 9, 9))
	}
	if _, err := t.Subscribe(); err != nil {
		return err
	}
	hold(false)
	return nil
}

// startSaying starts cmd and returns once it printed line.
func startSaying(t *testing.T, cmd *exec.Cmd, line string) {
	t.Helper()
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if l, err := bufio.NewReader(out).ReadString('\n'); l != line+"\n" {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("%v said %q, %v; want %q", cmd.Args[2:], l, err, line)
	}
}

// subRecord is what a topic-sub helper (or a subscription of the test)
// got: the ids in the order received, and, when it reached the end of the
// stream, its first position and Missed.
type subRecord struct {
	ids           [][16]byte
	ended         bool
	start, missed uint64
}

func readSubRecord(t *testing.T, file string) subRecord {
	t.Helper()
	r := subRecord{ids: readIDs(t, file)}
	if b, err := os.ReadFile(file + ".end"); err == nil {
		if _, err := fmt.Sscanf(string(b), "start %d missed %d", &r.start, &r.missed); err != nil {
			t.Fatalf("%s.end: %q: %v", file, b, err)
		}
		r.ended = true
	}
	return r
}

// check checks a subscription's record against the topic's stream of
// published messages from publishers senders, each of which sent
// perSender: no message twice, each publisher's in order; under Block
// (lossless), each publisher's messages without a gap from its first one
// received, the last one received (if the subscription reached the end);
// and if it reached the end, received plus missed is every position from
// its start to the end of the stream (published), with missed 0 under
// Block.
func (r subRecord) check(t *testing.T, who string, block bool, senders, perSender int, published uint64) {
	t.Helper()
	seen := map[[16]byte]bool{}
	last := map[uint32]int64{}
	for s := range senders {
		last[uint32(s)] = -1
	}
	for _, id := range r.ids {
		if seen[id] {
			t.Fatalf("%s: message %x received twice", who, id)
		}
		seen[id] = true
		s, seq := binary.LittleEndian.Uint32(id[0:]), int64(binary.LittleEndian.Uint64(id[8:]))
		prev, ok := last[s]
		switch {
		case !ok:
			t.Fatalf("%s: a message of publisher %d, which there is not", who, s)
		case seq <= prev:
			t.Fatalf("%s: publisher %d's message %d after its %d", who, s, seq, prev)
		case block && prev >= 0 && seq != prev+1:
			t.Fatalf("%s: under Block, publisher %d's message %d after its %d: %d lost", who, s, seq, prev, seq-prev-1)
		}
		last[s] = seq
	}
	if !r.ended {
		return
	}
	if block {
		for s, l := range last {
			if l >= 0 && l != int64(perSender-1) {
				t.Errorf("%s: reached the end after publisher %d's message %d, not its last (%d)", who, s, l, perSender-1)
			}
		}
		if r.missed != 0 {
			t.Errorf("%s: Missed = %d under Block", who, r.missed)
		}
	}
	if got, want := uint64(len(r.ids))+r.missed, published-r.start; got != want {
		t.Errorf("%s: received %d and missed %d, %d in all; the stream had %d messages from its start (%d) to the end (%d)",
			who, len(r.ids), r.missed, got, want, r.start, published)
	}
}

// receiveAll subscribes to top and, in the background, receives until the
// end of the stream, as topic-sub does: the record comes on the channel
// returned.
func receiveAll(t *testing.T, top *ipcchan.Topic[chaosMsg]) <-chan subRecord {
	t.Helper()
	sub, err := top.Subscribe()
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan subRecord, 1)
	go func() {
		var r subRecord
		err := recordAll(sub.All(context.Background()), func(id [16]byte) error {
			r.ids = append(r.ids, id)
			return nil
		})
		if err != nil {
			t.Error(err)
		} else {
			r.ended, r.start, r.missed = true, ipcchan.SubscriptionStart(sub), sub.Missed()
		}
		got <- r
	}()
	return got
}

// TestTopicProcesses: two publisher processes and three subscriber
// processes, with a subscriber in the test's process too, under each
// policy. Under Block every subscriber gets every message once, in each
// publisher's order; under DropOldest (a small capacity and subscribers
// that write down each message: they fall behind) each gets what it gets
// in order and whole, and counts exactly what it lost.
func TestTopicProcesses(t *testing.T) {
	for _, policy := range []ipcchan.OverflowPolicy{ipcchan.Block, ipcchan.DropOldest} {
		t.Run(policy.String(), func(t *testing.T) {
			forEachWait(t, func(t *testing.T) {
				name := topicName(t)
				top := openTopic[chaosMsg](t, name, ipcchan.Create(), ipcchan.Capacity(16), ipcchan.Overflow(policy))
				dir := t.TempDir()
				const perSender = 5000
				var subs []*exec.Cmd
				for i := range 3 {
					c := helperCmd(t, "topic-sub", name, filepath.Join(dir, fmt.Sprintf("sub-%d", i)))
					startSaying(t, c, "subscribed")
					subs = append(subs, c)
				}
				got := receiveAll(t, top)
				var pubs []*exec.Cmd
				for i := range 2 {
					c := helperCmd(t, "topic-pub", name, strconv.Itoa(i), strconv.Itoa(perSender))
					if err := c.Start(); err != nil {
						t.Fatal(err)
					}
					pubs = append(pubs, c)
				}
				for _, c := range pubs {
					if err := c.Wait(); err != nil {
						t.Fatalf("publisher: %v", err)
					}
				}
				if err := top.CloseSend(t.Context()); err != nil {
					t.Fatal(err)
				}
				for _, c := range subs {
					if err := c.Wait(); err != nil {
						t.Fatalf("subscriber: %v", err)
					}
				}
				a, _ := top.Attr()
				if a.Published != 2*perSender {
					t.Fatalf("Published = %d, want %d", a.Published, 2*perSender)
				}
				block := policy == ipcchan.Block
				records := []subRecord{<-got}
				for i := range 3 {
					records = append(records, readSubRecord(t, filepath.Join(dir, fmt.Sprintf("sub-%d", i))))
				}
				var missed uint64
				for i, r := range records {
					if !r.ended {
						t.Fatalf("subscriber %d did not reach the end", i)
					}
					r.check(t, fmt.Sprintf("subscriber %d", i), block, 2, perSender, a.Published)
					if r.start != 0 {
						t.Errorf("subscriber %d started at %d, want 0 (it subscribed before anything was published)", i, r.start)
					}
					missed += r.missed
				}
				t.Logf("%d messages, missed by the 4 subscribers: %d in all", a.Published, missed)
			})
		})
	}
}

// TestTopicLateJoinerProcess: a subscriber process that joins after 10
// messages of a topic with History(4) gets the last 4 of them, then what
// follows.
func TestTopicLateJoinerProcess(t *testing.T) {
	name := topicName(t)
	top := openTopic[chaosMsg](t, name, ipcchan.Create(), ipcchan.Capacity(8), ipcchan.History(4))
	for seq := range uint64(10) {
		if err := top.Send(t.Context(), newChaosMsg(0, 0, seq)); err != nil {
			t.Fatal(err)
		}
	}
	file := filepath.Join(t.TempDir(), "sub")
	c := helperCmd(t, "topic-sub", name, file)
	startSaying(t, c, "subscribed")
	for seq := uint64(10); seq < 12; seq++ {
		if err := top.Send(t.Context(), newChaosMsg(0, 0, seq)); err != nil {
			t.Fatal(err)
		}
	}
	top.CloseSend(t.Context())
	if err := c.Wait(); err != nil {
		t.Fatal(err)
	}
	r := readSubRecord(t, file)
	var seqs []uint64
	for _, id := range r.ids {
		seqs = append(seqs, binary.LittleEndian.Uint64(id[8:]))
	}
	if fmt.Sprint(seqs) != "[6 7 8 9 10 11]" || r.start != 6 {
		t.Errorf("the late joiner got %v from position %d, want [6 7 8 9 10 11] from 6", seqs, r.start)
	}
}

// TestTopicDropOldestLappedProcess: a subscriber process that reads
// nothing while 100 messages are published on a DropOldest topic of 8
// slots misses exactly the 92 overwritten, gets the last 8, and the
// publisher never waited (TrySend never fails).
func TestTopicDropOldestLappedProcess(t *testing.T) {
	name := topicName(t)
	top := openTopic[chaosMsg](t, name, ipcchan.Create(), ipcchan.Capacity(8), ipcchan.Overflow(ipcchan.DropOldest))
	file := filepath.Join(t.TempDir(), "sub")
	c := helperCmd(t, "topic-sub", name, file, "wait")
	stdin, _ := c.StdinPipe()
	startSaying(t, c, "subscribed")
	for seq := range uint64(100) {
		if err := top.TrySend(newChaosMsg(0, 0, seq)); err != nil {
			t.Fatalf("TrySend %d: %v", seq, err)
		}
	}
	top.CloseSend(t.Context())
	io.WriteString(stdin, "go\n")
	if err := c.Wait(); err != nil {
		t.Fatal(err)
	}
	r := readSubRecord(t, file)
	r.check(t, "the lapped subscriber", false, 1, 100, 100)
	if len(r.ids) != 8 || r.missed != 92 || binary.LittleEndian.Uint64(r.ids[0][8:]) != 92 {
		t.Errorf("the lapped subscriber got %d messages (from %x), missed %d; want the last 8 and 92 missed", len(r.ids), r.ids, r.missed)
	}
}

// TestTopicKilledSubscriber: a subscriber process killed while a
// publisher waits for it (Block, the topic full of what it has not read)
// lets the publisher go on within the owner check (10 ms; the bound
// asserted is 100 ms, for a loaded machine), and its entry counts as
// recovered.
func TestTopicKilledSubscriber(t *testing.T) {
	forEachWait(t, func(t *testing.T) {
		name := topicName(t)
		top := openTopic[chaosMsg](t, name, ipcchan.Create(), ipcchan.Capacity(4))
		holder := helperCmd(t, "topic-hold", name, "sub")
		startSaying(t, holder, "held")
		for seq := range uint64(4) {
			if err := top.Send(t.Context(), newChaosMsg(0, 0, seq)); err != nil {
				t.Fatal(err)
			}
		}
		if err := top.TrySend(newChaosMsg(0, 0, 4)); err == nil {
			t.Fatal("TrySend passed a live subscriber a whole capacity behind")
		}
		sent := make(chan time.Time, 1)
		go func() {
			if err := top.Send(t.Context(), newChaosMsg(0, 0, 4)); err != nil {
				t.Error(err)
			}
			sent <- time.Now()
		}()
		killed := time.Now()
		holder.Process.Kill()
		holder.Wait()
		at := <-sent
		took := at.Sub(killed)
		t.Logf("the publisher went on %v after the kill", took)
		if took > 100*time.Millisecond {
			t.Errorf("the publisher went on %v after the kill, want within 100 ms", took)
		}
		if a, _ := top.Attr(); a.Recovered != 1 || a.Subscriptions != 0 {
			t.Errorf("Attr = %+v, want 1 recovered, no subscription", a)
		}
	})
}

// TestTopicKilledPublisher: a publisher killed after claiming a slot,
// before its message is in, is passed over: a subscriber waiting at that
// slot gets the next message (of another publisher) within 100 ms of the
// kill, never the half-written one, and the slot counts as recovered.
func TestTopicKilledPublisher(t *testing.T) {
	forEachWait(t, func(t *testing.T) {
		name := topicName(t)
		top := openTopic[chaosMsg](t, name, ipcchan.Create(), ipcchan.Capacity(4))
		sub, err := top.Subscribe()
		if err != nil {
			t.Fatal(err)
		}
		holder := helperCmd(t, "topic-hold", name, "pub")
		startSaying(t, holder, "held")
		next := newChaosMsg(1, 0, 1)
		if err := top.Send(t.Context(), next); err != nil { // behind the held slot
			t.Fatal(err)
		}
		if m, err := sub.TryReceive(); err == nil {
			t.Fatalf("TryReceive passed the slot of a live publisher: %+v", m)
		}
		killed := time.Now()
		holder.Process.Kill()
		holder.Wait()
		m, err := sub.Receive(t.Context())
		took := time.Since(killed)
		if err != nil || m != next {
			t.Fatalf("after the kill, Receive = %+v, %v; want %+v", m, err, next)
		}
		t.Logf("the subscriber went on %v after the kill", took)
		if took > 100*time.Millisecond {
			t.Errorf("the subscriber went on %v after the kill, want within 100 ms", took)
		}
		if a, _ := top.Attr(); a.Recovered != 1 {
			t.Errorf("Recovered = %d, want 1", a.Recovered)
		}
	})
}

// TestTopicChaos: 2 publisher processes publish 2 × 100,000 messages while
// 4 subscriber processes are SIGKILLed at random instants (30 times, or
// as often as fits while they publish) and started again, with a subscriber in the test's process for the whole
// run, under each policy. Publishers are never wedged by a dead
// subscriber; every subscription gets each message at most once, whole,
// in each publisher's order, without a gap under Block; those that reach
// the end got every message from their start (Block) or count exactly
// what they lost (DropOldest).
func TestTopicChaos(t *testing.T) {
	for _, policy := range []ipcchan.OverflowPolicy{ipcchan.Block, ipcchan.DropOldest} {
		t.Run(policy.String(), func(t *testing.T) {
			topicChaos(t, policy)
		})
	}
}

func topicChaos(t *testing.T, policy ipcchan.OverflowPolicy) {
	name := topicName(t)
	top := openTopic[chaosMsg](t, name, ipcchan.Create(), ipcchan.Capacity(64), ipcchan.Overflow(policy))
	dir := t.TempDir()
	const perSender, kills = 100000, 30
	type proc struct {
		cmd    *exec.Cmd
		num    int
		inc    int
		exited chan error
	}
	start := func(p *proc) {
		p.cmd = helperCmd(t, "topic-sub", name, filepath.Join(dir, fmt.Sprintf("sub-%d-%d", p.num, p.inc)))
		startSaying(t, p.cmd, "subscribed")
		p.exited = make(chan error, 1)
		go func(c *exec.Cmd, ch chan error) { ch <- c.Wait() }(p.cmd, p.exited)
	}
	var subs []*proc
	for i := range 4 {
		p := &proc{num: i}
		start(p)
		subs = append(subs, p)
	}
	got := receiveAll(t, top)
	pubsDone := make(chan error, 2)
	pause := "0s" // under Block, the subscribers (which write down each message) pace the publishers
	if policy == ipcchan.DropOldest {
		pause = "1ms" // about a second of publishing
	}
	for i := range 2 {
		c := helperCmd(t, "topic-pub", name, strconv.Itoa(i), strconv.Itoa(perSender), pause)
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		go func() { pubsDone <- c.Wait() }()
	}
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 2))
	killed, publishing := 0, 2
	for killed < kills && publishing > 0 {
		// A random instant: the processes run meanwhile, this only picks
		// when the next kill falls.
		select {
		case err := <-pubsDone:
			if err != nil {
				t.Fatalf("publisher: %v", err)
			}
			publishing--
			continue
		case <-time.After(time.Duration(rng.IntN(10000)) * time.Microsecond):
		}
		p := subs[rng.IntN(len(subs))]
		p.cmd.Process.Signal(syscall.SIGKILL)
		if err := <-p.exited; err == nil {
			t.Fatal("a subscriber ended before the end of the stream")
		}
		killed++
		p.inc++
		start(p)
	}
	if killed < 5 {
		t.Errorf("only %d subscribers killed while the publishers ran, want 5 at least", killed)
	}
	for range publishing {
		if err := <-pubsDone; err != nil {
			t.Fatalf("publisher: %v", err)
		}
	}
	if err := top.CloseSend(t.Context()); err != nil {
		t.Fatal(err)
	}
	for _, p := range subs {
		if err := <-p.exited; err != nil {
			t.Fatalf("subscriber %d: %v", p.num, err)
		}
	}
	a, _ := top.Attr()
	if a.Published != 2*perSender {
		t.Fatalf("Published = %d, want %d", a.Published, 2*perSender)
	}
	block := policy == ipcchan.Block
	r := <-got
	r.check(t, "the test's subscriber", block, 2, perSender, a.Published)
	var received, missed, ended int
	files, _ := filepath.Glob(filepath.Join(dir, "sub-*"))
	for _, f := range files {
		if strings.HasSuffix(f, ".end") {
			continue
		}
		r := readSubRecord(t, f)
		r.check(t, filepath.Base(f), block, 2, perSender, a.Published)
		received += len(r.ids)
		missed += int(r.missed)
		if r.ended {
			ended++
		}
	}
	if ended != len(subs) {
		t.Errorf("%d subscriber processes reached the end, want %d", ended, len(subs))
	}
	t.Logf("%s: %d published; %d subscriber processes killed; they received %d and missed %d in all incarnations; the test's missed %d; %d recovered",
		policy, a.Published, killed, received, missed, r.missed, a.Recovered)
}

// TestTopicTrySendPastDeadSubscriber: a subscriber process killed with
// the topic full of what it had not read stops counting at once: the next
// TrySend (which never waits, so never looks again later) succeeds, and
// the entry counts as recovered.
func TestTopicTrySendPastDeadSubscriber(t *testing.T) {
	name := topicName(t)
	top := openTopic[chaosMsg](t, name, ipcchan.Create(), ipcchan.Capacity(2))
	holder := helperCmd(t, "topic-hold", name, "sub")
	startSaying(t, holder, "held")
	for seq := range uint64(2) {
		if err := top.TrySend(newChaosMsg(0, 0, seq)); err != nil {
			t.Fatal(err)
		}
	}
	if err := top.TrySend(newChaosMsg(0, 0, 2)); !errors.Is(err, ipcchan.ErrFull) {
		t.Fatalf("TrySend past a live subscriber a whole capacity behind: %v, want ErrFull", err)
	}
	holder.Process.Kill()
	holder.Wait()
	if err := top.TrySend(newChaosMsg(0, 0, 2)); err != nil {
		t.Fatalf("TrySend after the subscriber died: %v", err)
	}
	if a, _ := top.Attr(); a.Recovered != 1 || a.Subscriptions != 0 {
		t.Errorf("Attr = %+v, want 1 recovered, no subscription", a)
	}
}
