package ipcchan_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ipcchan/ipcchan/internal/ring"
	"github.com/ipcchan/ipcchan/internal/testutil"
	"github.com/ipcchan/ipcchan/ipcchan"
)

// The tests of a C peer on a Go topic: testdata/topicpeer.c follows the
// protocol of docs/FORMATS.md ("Topic") with the layout of its C header,
// as a publisher and as a subscriber, under both policies, and takes back
// what dead Go processes held.

func init() { helpers["topic-tick-hold"] = helperTopicTickHold }

// helperTopicTickHold: NAME sub|pub — on a Topic[Tick], subscribes and
// reads nothing, or claims a slot and writes nothing in it; says "held"
// and stays there until killed.
func helperTopicTickHold(args []string) error {
	t, err := ipcchan.OpenTopic[Tick](args[0])
	if err != nil {
		return err
	}
	hold := func(bool) {
		fmt.Println("held")
		for {
			unix.Pause()
		}
	}
	if args[1] == "pub" {
		ring.AfterClaim = hold
		return t.Send(context.Background(), Tick{Seq: 99})
	}
	if _, err := t.Subscribe(); err != nil {
		return err
	}
	hold(false)
	return nil
}

// interopDeadline bounds a test with a C peer: a peer that sleeps for
// ever (a wake-up lost) fails the test instead of hanging it.
const interopDeadline = 30 * time.Second

func interopContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), interopDeadline)
	t.Cleanup(cancel)
	return ctx
}

// tickOf is message i of topicpeer on a Tick topic, and tickLine the line
// it prints for it.
func tickOf(i int) Tick { return Tick{Seq: uint64(i), Price: float64(i) / 2, Side: int32(-i)} }

func tickLine(i int) string {
	w := tickOf(i)
	return fmt.Sprintf("%d %s %d", w.Seq, strconv.FormatFloat(w.Price, 'g', 17, 64), w.Side)
}

// A topicPeer is a running topicpeer.
type topicPeer struct {
	cmd    *exec.Cmd
	out    *bufio.Reader
	stdin  io.WriteCloser
	stderr strings.Builder
	done   bool
}

// startTopicPeer starts topicpeer with args; it is killed at the end of the
// test if it still runs, and when ctx ends.
func startTopicPeer(t *testing.T, ctx context.Context, args ...string) *topicPeer {
	t.Helper()
	p := &topicPeer{cmd: exec.CommandContext(ctx, testutil.BuildC(t, "topicpeer"), args...)}
	p.cmd.Stderr = &p.stderr
	out, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if p.stdin, err = p.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	p.out = bufio.NewReader(out)
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if !p.done {
			p.cmd.Process.Kill()
			p.cmd.Wait()
		}
	})
	return p
}

// startTopicSub starts "topicpeer sub NAME n" and returns once it has
// subscribed; it takes messages once go is called.
func startTopicSub(t *testing.T, ctx context.Context, name string, n int) *topicPeer {
	t.Helper()
	p := startTopicPeer(t, ctx, "sub", name, strconv.Itoa(n))
	if l, err := p.out.ReadString('\n'); l != "ready\n" {
		t.Fatalf("topicpeer sub said %q, %v, want ready\n%s", l, err, p.stderr.String())
	}
	return p
}

// start lets a subscribing peer take messages.
func (p *topicPeer) start(t *testing.T) {
	t.Helper()
	if _, err := io.WriteString(p.stdin, "\n"); err != nil {
		t.Fatal(err)
	}
	p.stdin.Close()
}

// wait waits for the peer to exit, successfully, and returns the lines it
// printed (for a subscriber: the messages, without its last line
// "missed M", and M).
func (p *topicPeer) wait(t *testing.T) (lines []string, missed uint64) {
	t.Helper()
	p.stdin.Close()
	rest, _ := io.ReadAll(p.out)
	err := p.cmd.Wait()
	p.done = true
	if err != nil {
		t.Fatalf("topicpeer %v: %v\n%s", p.cmd.Args[1:], err, p.stderr.String())
	}
	if len(rest) == 0 {
		return nil, 0
	}
	lines = strings.Split(strings.TrimSuffix(string(rest), "\n"), "\n")
	if last := lines[len(lines)-1]; p.cmd.Args[1] == "sub" {
		m, err := strconv.ParseUint(strings.TrimPrefix(last, "missed "), 10, 64)
		if err != nil || !strings.HasPrefix(last, "missed ") {
			t.Fatalf("topicpeer sub ended with %q, not \"missed M\"", last)
		}
		return lines[:len(lines)-1], m
	}
	return lines, 0
}

// checkTicks checks that lines are ticks in increasing order, each printed
// right, and returns their numbers.
func checkTicks(t *testing.T, lines []string) []int {
	t.Helper()
	var seqs []int
	for i, l := range lines {
		seq, err := strconv.Atoi(strings.Fields(l + " x")[0])
		if err != nil || l != tickLine(seq) || (i > 0 && seq <= seqs[i-1]) {
			t.Fatalf("C's message %d is %q (after %v), not the next tick", i, l, seqs[max(0, i-3):])
		}
		seqs = append(seqs, seq)
	}
	return seqs
}

func policyName(p ipcchan.OverflowPolicy) string {
	if p == ipcchan.DropOldest {
		return "DropOldest"
	}
	return "Block"
}

// TestTopicGoToC: a C subscriber gets what a Go publisher publishes to a
// topic of 4 slots: under Block, all 200 messages in order, the publisher
// waiting for C again and again; under DropOldest, messages in order and
// as many missed as it did not get, the last one among them; then the end
// of the stream (CloseSend) ends it.
func TestTopicGoToC(t *testing.T) {
	for _, policy := range []ipcchan.OverflowPolicy{ipcchan.Block, ipcchan.DropOldest} {
		t.Run(policyName(policy), func(t *testing.T) {
			forEachWait(t, func(t *testing.T) {
				const n = 200
				ctx := interopContext(t)
				tp := openTopic[Tick](t, topicName(t), ipcchan.Create(), ipcchan.Capacity(4), ipcchan.Overflow(policy))
				peer := startTopicSub(t, ctx, tp.Name(), n+1) // more than there is: it stops at the end of the stream
				if a, err := tp.Attr(); err != nil || a.Subscriptions != 1 {
					t.Fatalf("with C subscribed, Attr = %+v, %v; want 1 subscription", a, err)
				}
				peer.start(t)
				for i := range n {
					if err := tp.Send(ctx, tickOf(i)); err != nil {
						t.Fatal(err)
					}
				}
				if err := tp.CloseSend(ctx); err != nil {
					t.Fatal(err)
				}
				lines, missed := peer.wait(t)
				seqs := checkTicks(t, lines)
				switch {
				case policy == ipcchan.Block && (len(seqs) != n || missed != 0):
					t.Errorf("C got %d messages and missed %d, want all %d", len(seqs), missed, n)
				case len(seqs) == 0 || seqs[len(seqs)-1] != n-1 || uint64(len(seqs))+missed != n:
					t.Errorf("C got %d messages (the last %v) and missed %d; want %d in all, the last %d", len(seqs), seqs[max(0, len(seqs)-1):], missed, n, n-1)
				}
				t.Logf("C got %d, missed %d", len(seqs), missed)
				if a, _ := tp.Attr(); a.Subscriptions != 0 {
					t.Errorf("after C closed its subscription, Attr says %d subscriptions", a.Subscriptions)
				}
			})
		})
	}
}

// TestTopicGoToCLapped: a C subscriber that is lapped (DropOldest; it reads
// only once 20 messages are in 4 slots) jumps to the oldest message there
// and counts exactly the 16 it lost.
func TestTopicGoToCLapped(t *testing.T) {
	ctx := interopContext(t)
	tp := openTopic[Tick](t, topicName(t), ipcchan.Create(), ipcchan.Capacity(4), ipcchan.Overflow(ipcchan.DropOldest))
	peer := startTopicSub(t, ctx, tp.Name(), 100)
	for i := range 20 {
		if err := tp.Send(ctx, tickOf(i)); err != nil {
			t.Fatal(err)
		}
	}
	tp.CloseSend(ctx)
	peer.start(t)
	lines, missed := peer.wait(t)
	if seqs := checkTicks(t, lines); fmt.Sprint(seqs) != "[16 17 18 19]" || missed != 16 {
		t.Errorf("the lapped C subscriber got %v and missed %d, want [16 17 18 19] and 16", seqs, missed)
	}
}

// TestTopicCToGo: a Go subscriber gets every message a C publisher
// publishes, in order, then the end of the stream that C ends: under Block
// in 4 slots (C waits for Go, Go for C), under DropOldest in slots enough.
func TestTopicCToGo(t *testing.T) {
	for _, c := range []struct {
		policy   ipcchan.OverflowPolicy
		capacity int
	}{{ipcchan.Block, 4}, {ipcchan.DropOldest, 256}} {
		t.Run(policyName(c.policy), func(t *testing.T) {
			forEachWait(t, func(t *testing.T) {
				const n = 200
				ctx := interopContext(t)
				tp := openTopic[Tick](t, topicName(t), ipcchan.Create(), ipcchan.Capacity(c.capacity), ipcchan.Overflow(c.policy))
				sub := subscribe(t, tp)
				peer := startTopicPeer(t, ctx, "pub", tp.Name(), strconv.Itoa(n), "end")
				for i := range n {
					if v, err := sub.Receive(ctx); err != nil || v != tickOf(i) {
						t.Fatalf("from C: %+v, %v; want %+v\n%s", v, err, tickOf(i), peer.stderr.String())
					}
				}
				if v, err := sub.Receive(ctx); !errors.Is(err, io.EOF) {
					t.Errorf("after C's %d messages: %+v, %v; want the end of the stream", n, v, err)
				}
				peer.wait(t)
				if a, _ := tp.Attr(); a.Published != n || !a.Ended || sub.Missed() != 0 {
					t.Errorf("Attr = %+v, Missed %d; want %d published, ended, none missed", a, sub.Missed(), n)
				}
			})
		})
	}
}

// TestTopicCToGoLapped: a C publisher laps the slots (DropOldest: 40
// messages in 8 slots before Go reads); the Go subscriber gets the last 8
// and counts the 32 it lost.
func TestTopicCToGoLapped(t *testing.T) {
	ctx := interopContext(t)
	tp := openTopic[Tick](t, topicName(t), ipcchan.Create(), ipcchan.Capacity(8), ipcchan.Overflow(ipcchan.DropOldest))
	sub := subscribe(t, tp)
	startTopicPeer(t, ctx, "pub", tp.Name(), "40", "end").wait(t)
	for i := 32; i < 40; i++ {
		if v, err := sub.Receive(ctx); err != nil || v != tickOf(i) {
			t.Fatalf("from C: %+v, %v; want %+v", v, err, tickOf(i))
		}
	}
	if _, err := sub.Receive(ctx); !errors.Is(err, io.EOF) || sub.Missed() != 32 {
		t.Errorf("then %v, with %d missed; want the end, 32 missed", err, sub.Missed())
	}
}

// TestTopicBytesWithC: messages of many lengths (a Topic[[]byte]: the
// slot's length word) go from C to Go and from Go to C.
func TestTopicBytesWithC(t *testing.T) {
	const n = 100
	ctx := interopContext(t)
	tp := openTopic[[]byte](t, topicName(t), ipcchan.Create(), ipcchan.Capacity(4), ipcchan.MsgSize(64))
	sub := subscribe(t, tp)
	pub := startTopicPeer(t, ctx, "pub", tp.Name(), strconv.Itoa(n))
	for i := range n {
		if b, err := sub.Receive(ctx); err != nil || string(b) != "tick "+strconv.Itoa(i) {
			t.Fatalf("from C: %q, %v; want %q", b, err, "tick "+strconv.Itoa(i))
		}
	}
	pub.wait(t)
	sub.Close()

	peer := startTopicSub(t, ctx, tp.Name(), n)
	peer.start(t)
	var want []string
	for i := range n {
		msg := strings.Repeat("é", i%30) + strconv.Itoa(i) // 1 to 62 bytes
		want = append(want, msg)
		if err := tp.Send(ctx, []byte(msg)); err != nil {
			t.Fatal(err)
		}
	}
	lines, missed := peer.wait(t)
	if strings.Join(lines, "\n") != strings.Join(want, "\n") || missed != 0 {
		t.Errorf("C got %d messages, missed %d; want %d: %q...", len(lines), missed, n, lines[:min(3, len(lines))])
	}
}

// TestTopicGoAndCSubscribers: a Go subscriber and a C subscriber both get
// every message of a Go publisher (Block, 4 slots: it waits for the slower
// of the two, whichever it is at the time).
func TestTopicGoAndCSubscribers(t *testing.T) {
	forEachWait(t, func(t *testing.T) {
		const n = 500
		ctx := interopContext(t)
		tp := openTopic[Tick](t, topicName(t), ipcchan.Create(), ipcchan.Capacity(4))
		sub := subscribe(t, tp)
		peer := startTopicSub(t, ctx, tp.Name(), n)
		if a, _ := tp.Attr(); a.Subscriptions != 2 {
			t.Fatalf("with Go and C subscribed, Attr says %d subscriptions", a.Subscriptions)
		}
		peer.start(t)
		got := make(chan error, 1)
		go func() {
			for i := range n {
				if v, err := sub.Receive(ctx); err != nil || v != tickOf(i) {
					got <- fmt.Errorf("Go subscriber: %+v, %v; want %+v", v, err, tickOf(i))
					return
				}
			}
			got <- nil
		}()
		for i := range n {
			if err := tp.Send(ctx, tickOf(i)); err != nil {
				t.Fatal(err)
			}
		}
		if err := <-got; err != nil {
			t.Error(err)
		}
		lines, missed := peer.wait(t)
		if seqs := checkTicks(t, lines); len(seqs) != n || missed != 0 {
			t.Errorf("C got %d messages, missed %d; want all %d", len(seqs), missed, n)
		}
	})
}

// startTickHolder starts the helper topic-tick-hold NAME what and returns once
// it holds.
func startTickHolder(t *testing.T, name, what string) *exec.Cmd {
	t.Helper()
	cmd := helperCmd(t, "topic-tick-hold", name, what)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	if l, err := bufio.NewReader(out).ReadString('\n'); l != "held\n" {
		t.Fatalf("topic-tick-hold %s said %q, %v", what, l, err)
	}
	return cmd
}

// TestTopicCRecovers: the C peer takes back what dead Go processes held:
// a C publisher held up (Block) by the subscription of a killed process
// frees its entry and goes on; a C subscriber waiting at the slot of a
// publisher killed writing it passes over it to the next message.
func TestTopicCRecovers(t *testing.T) {
	t.Run("subscriber", func(t *testing.T) {
		ctx := interopContext(t)
		tp := openTopic[Tick](t, topicName(t), ipcchan.Create(), ipcchan.Capacity(4))
		holder := startTickHolder(t, tp.Name(), "sub")
		holder.Process.Kill()
		holder.Wait()
		sub := subscribe(t, tp)
		peer := startTopicPeer(t, ctx, "pub", tp.Name(), "10") // the 5th waits for the dead subscription
		for i := range 10 {
			if v, err := sub.Receive(ctx); err != nil || v != tickOf(i) {
				t.Fatalf("from C: %+v, %v; want %+v", v, err, tickOf(i))
			}
		}
		peer.wait(t)
		if a, _ := tp.Attr(); a.Recovered != 1 || a.Subscriptions != 1 {
			t.Errorf("Attr = %+v; want 1 recovered, 1 subscription", a)
		}
	})
	t.Run("publisher", func(t *testing.T) {
		ctx := interopContext(t)
		tp := openTopic[Tick](t, topicName(t), ipcchan.Create(), ipcchan.Capacity(4))
		peer := startTopicSub(t, ctx, tp.Name(), 10)
		holder := startTickHolder(t, tp.Name(), "pub") // Writing(0, holder)
		peer.start(t)                                  // C waits at position 0, on a live holder
		if err := tp.Send(ctx, tickOf(1)); err != nil {
			t.Fatal(err)
		}
		holder.Process.Kill()
		holder.Wait()
		if err := tp.Send(ctx, tickOf(2)); err != nil {
			t.Fatal(err)
		}
		tp.CloseSend(ctx)
		lines, missed := peer.wait(t)
		if seqs := checkTicks(t, lines); fmt.Sprint(seqs) != "[1 2]" || missed != 0 {
			t.Errorf("C got %v, missed %d; want [1 2] past the dead publisher's slot", seqs, missed)
		}
		if a, _ := tp.Attr(); a.Recovered != 1 {
			t.Errorf("Recovered = %d, want 1", a.Recovered)
		}
	})
}
