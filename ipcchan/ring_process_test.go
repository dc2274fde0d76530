package ipcchan_test

import (
	"golang.org/x/sys/unix"

	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"iter"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/ipcchan/ipcchan/internal/ring"
	"github.com/ipcchan/ipcchan/ipcchan"
)

func init() {
	helpers["ring-send"] = helperRingSend
	helpers["ring-recv"] = helperRingRecv
	helpers["ring-hold"] = helperRingHold
}

// A chaosMsg is 64 bytes, all of them a function of its id: a torn
// message (bytes of two messages) does not check.
type chaosMsg struct {
	Sender, Inc uint32 // the sending process, and which of its incarnations
	Seq         uint64
	Fill        [6]uint64
}

func newChaosMsg(sender, inc uint32, seq uint64) chaosMsg {
	m := chaosMsg{Sender: sender, Inc: inc, Seq: seq}
	for i := range m.Fill {
		m.Fill[i] = seq*0x9e3779b97f4a7c15 ^ uint64(sender)<<48 ^ uint64(inc)<<32 ^ uint64(i)
	}
	return m
}

func (m chaosMsg) whole() bool { return m == newChaosMsg(m.Sender, m.Inc, m.Seq) }

// id is what the records hold of a message.
func (m chaosMsg) id() [16]byte {
	var b [16]byte
	binary.LittleEndian.PutUint32(b[0:], m.Sender)
	binary.LittleEndian.PutUint32(b[4:], m.Inc)
	binary.LittleEndian.PutUint64(b[8:], m.Seq)
	return b
}

// helperRingSend: NAME SENDER INC N [ACKFILE] — sends N messages; after
// each Send returns, writes its id to ACKFILE (one write each, so that a
// SIGKILL loses no record of a send that returned).
func helperRingSend(args []string) error {
	r, err := ipcchan.OpenRing[chaosMsg](args[0])
	if err != nil {
		return err
	}
	sender, _ := strconv.Atoi(args[1])
	inc, _ := strconv.Atoi(args[2])
	n, _ := strconv.Atoi(args[3])
	var acks *os.File
	if len(args) > 4 {
		if acks, err = os.OpenFile(args[4], os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600); err != nil {
			return err
		}
	}
	for seq := range uint64(n) {
		m := newChaosMsg(uint32(sender), uint32(inc), seq)
		if err := r.Send(context.Background(), m); err != nil {
			return err
		}
		if acks != nil {
			id := m.id()
			if _, err := acks.Write(id[:]); err != nil {
				return err
			}
		}
	}
	return nil
}

// helperRingRecv: NAME OUTFILE — receives until the end of the stream,
// writing each message's id to OUTFILE as it gets it; a message that is
// torn is an error.
func helperRingRecv(args []string) error {
	r, err := ipcchan.OpenRing[chaosMsg](args[0])
	if err != nil {
		return err
	}
	out, err := os.OpenFile(args[1], os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	return recordAll(r.All(context.Background()), func(id [16]byte) error {
		_, err := out.Write(id[:])
		return err
	})
}

// recordAll takes every message of all until the end of the stream and
// hands each one's id to record; a torn message is an error.
func recordAll(all iter.Seq2[chaosMsg, error], record func(id [16]byte) error) error {
	for m, err := range all {
		if err != nil {
			return err
		}
		if !m.whole() {
			return fmt.Errorf("a torn message: %+v", m)
		}
		if err := record(m.id()); err != nil {
			return err
		}
	}
	return nil
}

// helperRingHold: NAME write|read — claims a slot, to write a message or
// to read one, says "held", and stops there for good (to be killed).
func helperRingHold(args []string) error {
	r, err := ipcchan.OpenRing[chaosMsg](args[0])
	if err != nil {
		return err
	}
	ring.AfterClaim = func(bool) {
		fmt.Println("held")
		for {
			unix.Pause() // in the kernel, until killed: a select{} alone would be a deadlock the runtime ends
		}
	}
	if args[1] == "write" {
		return r.Send(context.Background(), newChaosMsg(9, 9, 9))
	}
	_, err = r.Receive(context.Background())
	return err
}

// readIDs reads the records of the files matching pattern.
func readIDs(t *testing.T, pattern string) [][16]byte {
	t.Helper()
	files, _ := filepath.Glob(pattern)
	var ids [][16]byte
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for ; len(b) >= 16; b = b[16:] {
			ids = append(ids, [16]byte(b[:16]))
		}
	}
	return ids
}

// TestRingProcesses: three sender processes and three receiver processes
// on one ring: every message is received exactly once, whole, and each
// receiver gets each sender's messages in the order they were sent.
func TestRingProcesses(t *testing.T) {
	forEachWait(t, func(t *testing.T) {
		name := ringName(t)
		r := openRing[chaosMsg](t, name, ipcchan.Create(), ipcchan.Capacity(16))
		dir := t.TempDir()
		const perSender = 5000
		var senders, receivers []*exec.Cmd
		for i := range 3 {
			rc := helperCmd(t, "ring-recv", name, filepath.Join(dir, fmt.Sprintf("recv-%d", i)))
			sc := helperCmd(t, "ring-send", name, strconv.Itoa(i), "0", strconv.Itoa(perSender))
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
		seen := map[[16]byte]bool{}
		for i := range 3 {
			last := map[uint32]int64{0: -1, 1: -1, 2: -1}
			for _, id := range readIDs(t, filepath.Join(dir, fmt.Sprintf("recv-%d", i))) {
				if seen[id] {
					t.Fatalf("message %x received twice", id)
				}
				seen[id] = true
				s, seq := binary.LittleEndian.Uint32(id[0:]), int64(binary.LittleEndian.Uint64(id[8:]))
				if seq <= last[s] {
					t.Fatalf("receiver %d got sender %d's %d after %d", i, s, seq, last[s])
				}
				last[s] = seq
			}
		}
		if len(seen) != 3*perSender {
			t.Errorf("%d messages received, want %d", len(seen), 3*perSender)
		}
	})
}

// startHeld starts a ring-hold helper and returns once it holds its slot.
func startHeld(t *testing.T, name, what string) *exec.Cmd {
	t.Helper()
	return startHolding(t, helperCmd(t, "ring-hold", name, what))
}

// startHolding starts a helper that says "held" when it holds what it is
// to hold, and returns then.
func startHolding(t *testing.T, cmd *exec.Cmd) *exec.Cmd {
	t.Helper()
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if l, err := bufio.NewReader(out).ReadString('\n'); l != "held\n" {
		t.Fatalf("%v said %q, %v", cmd.Args[1:], l, err)
	}
	return cmd
}

// TestRingKilledWriter: a sender killed after claiming a slot, before its
// message is in, does not wedge the ring: the receiver waiting at that slot
// passes over it within 100 ms of the kill, and the slot counts as
// recovered; the message of the killed send is not delivered.
func TestRingKilledWriter(t *testing.T) {
	forEachWait(t, func(t *testing.T) {
		name := ringName(t)
		r := openRing[chaosMsg](t, name, ipcchan.Create(), ipcchan.Capacity(4))
		holder := startHeld(t, name, "write")
		next := newChaosMsg(1, 0, 1)
		if err := r.Send(t.Context(), next); err != nil { // behind the held slot
			t.Fatal(err)
		}
		goesOnAfterKill(t, holder, "a Receive behind the sender's slot", func(ctx context.Context) bool {
			m, err := r.Receive(ctx)
			return err == nil && m == next
		})
		if a, _ := r.Attr(); a.Recovered != 1 {
			t.Errorf("Recovered = %d, want 1", a.Recovered)
		}
	})
}

// TestRingKilledReader: a reader killed holding the first message of a
// full ring does not wedge it: a sender waiting for room takes the slot
// back within 100 ms of the kill, and the slot counts as recovered. Of 64
// slots, the sender waits for room further on first (awaitRoom), which
// must not keep it from the dead reader's slot.
func TestRingKilledReader(t *testing.T) {
	for _, capacity := range []int{1, 64} {
		t.Run(fmt.Sprintf("capacity=%d", capacity), func(t *testing.T) {
			forEachWait(t, func(t *testing.T) {
				name := ringName(t)
				r := openRing[chaosMsg](t, name, ipcchan.Create(), ipcchan.Capacity(capacity))
				for i := range capacity {
					if err := r.Send(t.Context(), newChaosMsg(1, 0, uint64(i))); err != nil {
						t.Fatal(err)
					}
				}
				holder := startHeld(t, name, "read")
				goesOnAfterKill(t, holder, "a Send behind the receiver's slot", func(ctx context.Context) bool {
					return r.Send(ctx, newChaosMsg(1, 0, uint64(capacity))) == nil
				})
				for i := 1; i <= capacity; i++ {
					if m, err := r.Receive(t.Context()); err != nil || m.Seq != uint64(i) {
						t.Fatalf("after the kill, Receive = %+v, %v; want message %d", m, err, i)
					}
				}
				if a, _ := r.Attr(); a.Recovered != 1 || a.Len != 0 {
					t.Errorf("Attr = %+v, want 1 recovered and nothing left", a)
				}
			})
		})
	}
}

// goesOnAfterKill runs op, which needs what holder (a process) holds: op
// must not end while holder lives (50 ms), and must end, reporting true,
// within 100 ms of holder's SIGKILL. what names op in failures.
func goesOnAfterKill(t *testing.T, holder *exec.Cmd, what string, op func(ctx context.Context) bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second) // an op that never ends fails the test
	defer cancel()
	done := make(chan time.Time, 1)
	go func() {
		if op(ctx) {
			done <- time.Now()
		}
		close(done)
	}()
	select {
	case <-done:
		t.Fatalf("%s went on while its holder was alive", what)
	case <-time.After(50 * time.Millisecond): // it waits; it must not pass a live holder
	}
	killed := time.Now()
	holder.Process.Kill()
	holder.Wait()
	at, ok := <-done
	if !ok {
		t.Fatalf("%s failed after its holder was killed", what)
	}
	if took := at.Sub(killed); took > 100*time.Millisecond {
		t.Errorf("the ring went on %v after the kill, want within 100 ms", took)
	}
}

// TestRingChaos: 200,000 messages through a ring between 3 sender and 3
// receiver processes, while 50 times a random one of them is killed with
// SIGKILL at a random instant and started again. No message is received
// twice or torn; every message whose Send returned is received, but for at
// most one per killed receiver (the one in its hands).
func TestRingChaos(t *testing.T) {
	name := ringName(t)
	r := openRing[chaosMsg](t, name, ipcchan.Create(), ipcchan.Capacity(64))
	dir := t.TempDir()
	const total = 200000
	killedReceivers := runChaos(t, r, dir, total, 50, 20*time.Millisecond,
		func(num, inc, left int, _ string) []string {
			return []string{"ring-send", name, strconv.Itoa(num), strconv.Itoa(inc), strconv.Itoa(left), filepath.Join(dir, fmt.Sprintf("ack-%d-%d", num, inc))}
		},
		func(num, inc int, _ string) []string {
			return []string{"ring-recv", name, filepath.Join(dir, fmt.Sprintf("recv-%d-%d", num, inc))}
		})
	received := map[[16]byte]bool{}
	for _, id := range readIDs(t, filepath.Join(dir, "recv-*")) {
		if received[id] {
			t.Fatalf("message %x received twice", id)
		}
		received[id] = true
	}
	var lost [][16]byte
	acks := readIDs(t, filepath.Join(dir, "ack-*"))
	for _, id := range acks {
		if !received[id] {
			lost = append(lost, id)
		}
	}
	a, _ := r.Attr()
	t.Logf("%d acknowledged sends, %d received, %d lost, %d receivers killed, %d slots recovered", len(acks), len(received), len(lost), killedReceivers, a.Recovered)
	if len(acks) < total {
		t.Errorf("only %d sends acknowledged, want %d", len(acks), total)
	}
	if len(lost) > killedReceivers {
		slices.SortFunc(lost, func(a, b [16]byte) int { return slices.Compare(a[:], b[:]) })
		t.Errorf("%d acknowledged messages were never received (%x...), more than the %d receivers killed", len(lost), lost[0], killedReceivers)
	}
	if _, err := r.TryReceive(); err != io.EOF && !errors.Is(err, ipcchan.ErrEmpty) {
		t.Errorf("after the run the ring says %v", err)
	}
}

// runChaos runs 3 sender and 3 receiver processes on the ring r (their
// roles and arguments from sender and receiver, for the process num of
// each side in its incarnation inc, with a seed each), until the senders
// have sent total messages between them, acknowledged in dir's files
// ack-NUM-*; meanwhile kills times a random one of them with SIGKILL, at
// random instants up to every spacing, and starts it again. It then ends
// the stream, waits for the receivers, and returns how many of them it
// killed.
func runChaos(t *testing.T, r *ipcchan.Ring[chaosMsg], dir string, total, kills int, spacing time.Duration,
	sender func(num, inc, left int, seed string) []string, receiver func(num, inc int, seed string) []string) int {
	t.Helper()
	quota := [3]int{total / 3, total / 3, total - 2*(total/3)}
	acked := func(sender int) int { return len(readIDs(t, filepath.Join(dir, fmt.Sprintf("ack-%d-*", sender)))) }
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	type proc struct {
		cmd    *exec.Cmd
		sender bool
		num    int
		inc    int
		exited chan error
	}
	start := func(p *proc) {
		seed := strconv.Itoa(rng.IntN(1 << 30))
		var args []string
		if p.sender {
			args = sender(p.num, p.inc, max(quota[p.num]-acked(p.num), 0), seed)
		} else {
			args = receiver(p.num, p.inc, seed)
		}
		p.cmd = helperCmd(t, args[0], args[1:]...)
		if err := p.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		p.exited = make(chan error, 1)
		go func(c *exec.Cmd, ch chan error) { ch <- c.Wait() }(p.cmd, p.exited)
	}
	var procs []*proc
	for i := range 3 {
		procs = append(procs, &proc{sender: true, num: i}, &proc{num: i})
	}
	for _, p := range procs {
		start(p)
	}
	killedReceivers := 0
	for k := 0; k < kills; k++ {
		// A random instant: the processes run meanwhile, this only picks
		// when the next kill falls.
		time.Sleep(time.Duration(rng.Int64N(int64(spacing))))
		p := procs[rng.IntN(len(procs))]
		select {
		case err := <-p.exited: // a sender that had finished its quota
			if err != nil {
				t.Fatalf("a helper failed: %v", err)
			}
			p.exited <- nil
			continue
		default:
		}
		p.cmd.Process.Signal(syscall.SIGKILL)
		if err := <-p.exited; err == nil {
			p.exited <- nil // it had finished just before: not killed
			if p.sender {
				continue
			}
		}
		if !p.sender {
			killedReceivers++
		}
		p.inc++
		start(p)
	}
	for _, p := range procs {
		if p.sender {
			if err := <-p.exited; err != nil {
				t.Fatalf("sender %d: %v", p.num, err)
			}
		}
	}
	for i := range 3 { // a sender killed before its last send finishes the quota in a last incarnation
		if quota[i]-acked(i) > 0 {
			p := &proc{sender: true, num: i, inc: 1000}
			start(p)
			if err := <-p.exited; err != nil {
				t.Fatal(err)
			}
		}
	}
	r.CloseSend(t.Context())
	for _, p := range procs {
		if !p.sender {
			if err := <-p.exited; err != nil {
				t.Fatalf("receiver %d: %v", p.num, err)
			}
		}
	}
	return killedReceivers
}
