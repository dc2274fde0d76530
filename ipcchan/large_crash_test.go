package ipcchan_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/ipcchan/ipcchan/internal/large"
	"github.com/ipcchan/ipcchan/internal/objfmt"
	"github.com/ipcchan/ipcchan/ipcchan"
)

func init() {
	helpers["large-step"] = helperLargeStep
	helpers["large-intrude"] = helperLargeIntrude
	helpers["large-shm-full"] = helperLargeShmFull
}

// crashMessage is what the crash tests send: 200 KB, many pages.
var crashMessage = pattern(200000, 42)

// helperLargeStep: QUEUE ROLE STEP [ring] — sends crashMessage (ROLE send)
// or receives a message (ROLE receive) on the queue (or the ring) QUEUE,
// killing itself with SIGKILL at STEP of the large message's journey.
func helperLargeStep(args []string) error {
	step, err := strconv.Atoi(args[2])
	if err != nil {
		return err
	}
	var q interface {
		ipcchan.Sender[[]byte]
		ipcchan.Receiver[[]byte]
	}
	if len(args) > 3 && args[3] == "ring" {
		q, err = ipcchan.OpenRing[[]byte](args[0], ipcchan.LargeMessages())
	} else {
		q, err = ipcchan.OpenQueue[[]byte](args[0], ipcchan.LargeMessages(), inFiles)
	}
	if err != nil {
		return err
	}
	dieAt(large.Step(step))
	if args[1] == "send" {
		err = q.Send(context.Background(), crashMessage)
	} else {
		_, err = q.Receive(context.Background())
	}
	if err != nil {
		return err
	}
	return errors.New("the step was never reached")
}

// checkLargeLeft checks the large messages' files of the queue or ring
// name that a kill left: each holds the whole crashMessage, sent by the
// process sender, and is in state (objfmt.LargePending or LargeQueued),
// which with its queue or ring is what ipcchan rm --stale judges them by
// (cmd/ipcchan/internal/inventory's TestStaleLargeMessages). It returns
// their paths.
func checkLargeLeft(t *testing.T, name string, sender int, state uint8) []string {
	t.Helper()
	files := largeFiles(t, name)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		li, err := objfmt.ParseLarge(b)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if li.Size != int64(len(crashMessage)) || li.Sender != sender || li.State != state {
			t.Errorf("%s: %d bytes, sent by %d, %s; want %d bytes, sent by %d, %s", f, li.Size, li.Sender, objfmt.LargeStateName(li.State),
				len(crashMessage), sender, objfmt.LargeStateName(state))
		}
		if len(b) != objfmt.LargeDataOff+len(crashMessage) || !bytes.Equal(b[objfmt.LargeDataOff:], crashMessage) {
			t.Errorf("%s: %d bytes of file, not the header and the whole message", f, len(b))
		}
	}
	return files
}

// removeFiles removes the files, as ipcchan rm --stale would.
func removeFiles(t *testing.T, files []string) {
	t.Helper()
	for _, f := range files {
		if err := os.Remove(f); err != nil {
			t.Fatal(err)
		}
	}
}

// dieAt makes this process (a helper) kill itself with SIGKILL when it
// reaches step of a large message's way.
func dieAt(step large.Step) {
	large.At = func(s large.Step) {
		if s == step {
			syscall.Kill(os.Getpid(), syscall.SIGKILL)
		}
	}
}

// runKilled runs the helper h, which must die of a SIGKILL (its own, at
// the step it was told).
func runKilled(t *testing.T, h *exec.Cmd) {
	t.Helper()
	err := h.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("helper %v: %v, want it killed", h.Args[1:], err)
	}
}

// TestLargeKillAtEachStep: a sender or a receiver SIGKILLed at each step of
// a large message's journey leaves the message delivered whole or not at
// all, and nothing that rm --stale does not remove; the queue goes on.
func TestLargeKillAtEachStep(t *testing.T) {
	cases := []struct {
		role      string
		step      large.Step
		files     int   // left by the dead process
		state     uint8 // theirs
		delivered bool  // the message is still in the queue
	}{
		{"send", large.Built, 0, 0, false},                        // unnamed: went with the process
		{"send", large.Linked, 1, objfmt.LargePending, false},     // named, never queued: stale
		{"send", large.Sent, 1, objfmt.LargePending, true},        // queued, not marked: delivered, not stale
		{"receive", large.Received, 1, objfmt.LargeQueued, false}, // its reference died with the receiver: stale
		{"receive", large.Taken, 0, 0, false},                     // the name was removed before reading
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%s-%d", c.role, c.step), func(t *testing.T) {
			name := queueName(t)
			q := openQueue[[]byte](t, name, ipcchan.Create(), ipcchan.Capacity(4), ipcchan.MsgSize(1024), ipcchan.LargeMessages(), inFiles)
			sender := os.Getpid()
			if c.role == "receive" {
				if err := q.Send(t.Context(), crashMessage); err != nil {
					t.Fatal(err)
				}
			}
			helper := helperCmd(t, "large-step", name, c.role, strconv.Itoa(int(c.step)))
			runKilled(t, helper)
			if c.role == "send" {
				sender = helper.Process.Pid
			}
			wantLargeFiles(t, name, c.files, "after the kill")
			if left := checkLargeLeft(t, name, sender, c.state); !c.delivered {
				removeFiles(t, left) // nothing refers to them
			}
			got, err := q.TryReceive()
			switch {
			case c.delivered && (err != nil || !bytes.Equal(got, crashMessage)):
				t.Fatalf("TryReceive = %d bytes, %v; want the whole message", len(got), err)
			case !c.delivered && !errors.Is(err, ipcchan.ErrEmpty):
				t.Fatalf("TryReceive = %d bytes, %v; want ErrEmpty", len(got), err)
			}
			wantLargeFiles(t, name, 0, "at the end")
			if err := q.Send(t.Context(), crashMessage); err != nil {
				t.Fatal(err)
			}
			if got, err := q.Receive(t.Context()); err != nil || !bytes.Equal(got, crashMessage) {
				t.Fatalf("the queue after the crash: %d bytes, %v", len(got), err)
			}
		})
	}
}

// TestLargeRingKilled: a ring's large message whose receiver died with its
// reference, or whose sender died before publishing it, is stale once the
// ring is empty; the ring goes on.
func TestLargeRingKilled(t *testing.T) {
	for _, c := range []struct {
		role  string
		step  large.Step
		state uint8
	}{{"send", large.Linked, objfmt.LargePending}, {"receive", large.Received, objfmt.LargeQueued}} {
		name := ringName(t)
		// A pool smaller than the message: it travels in a file.
		r := openRing[[]byte](t, name, ipcchan.Create(), ipcchan.Capacity(4), ipcchan.MsgSize(256), ipcchan.LargeMessages(), ipcchan.PoolSize(large.BlockSize))
		sender := os.Getpid()
		if c.role == "receive" {
			if err := r.Send(t.Context(), crashMessage); err != nil {
				t.Fatal(err)
			}
		}
		helper := helperCmd(t, "large-step", name, c.role, strconv.Itoa(int(c.step)), "ring")
		runKilled(t, helper)
		if c.role == "send" {
			sender = helper.Process.Pid
		}
		wantLargeFiles(t, name, 1, c.role+" killed")
		removeFiles(t, checkLargeLeft(t, name, sender, c.state)) // nothing refers to it
		if _, err := r.TryReceive(); !errors.Is(err, ipcchan.ErrEmpty) {
			t.Fatalf("%s killed: TryReceive = %v, want ErrEmpty", c.role, err)
		}
		if err := r.Send(t.Context(), crashMessage); err != nil {
			t.Fatal(err)
		}
		if got, err := r.Receive(t.Context()); err != nil || !bytes.Equal(got, crashMessage) {
			t.Fatalf("the ring after the crash: %d bytes, %v", len(got), err)
		}
	}
}

// helperLargeIntrude: FILE PLANT — as another user, tries to read, write,
// remove and replace FILE, a large message's file, and plants a file of
// its own at PLANT. It prints one line per attempt.
func helperLargeIntrude(args []string) error {
	try := func(what string, err error) {
		if err == nil {
			fmt.Printf("%s: allowed\n", what)
			return
		}
		fmt.Printf("%s: %v\n", what, err)
	}
	_, err := unix.Open(args[0], unix.O_RDONLY, 0)
	try("read", err)
	_, err = unix.Open(args[0], unix.O_WRONLY, 0)
	try("write", err)
	try("remove", unix.Unlink(args[0]))
	mine := args[1]
	if err := os.WriteFile(mine, []byte("planted"), 0o666); err != nil {
		return err
	}
	try("replace", unix.Rename(mine, args[0]))
	try("plant", nil)
	return nil
}

// TestLargeOtherUserLocked: another user can neither read, write, remove
// nor replace a large message of a 0600 queue; a file planted under the
// name a sender would use is refused, not used; and a receiver refuses a
// file that is not the queue owner's.
func TestLargeOtherUserLocked(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("this test runs a helper as nobody, which needs root")
	}
	name := queueName(t)
	q := openQueue[[]byte](t, name, ipcchan.Create(), ipcchan.Perm(0o600), ipcchan.MsgSize(64), ipcchan.LargeMessages(), inFiles)
	first := pattern(5000, 1)
	if err := q.Send(t.Context(), first); err != nil {
		t.Fatal(err)
	}
	files := largeFiles(t, name)
	if len(files) != 1 {
		t.Fatalf("%d files", len(files))
	}
	// The next token the sender draws is known; nobody plants a file there.
	var planned [objfmt.LargeTokenSize]byte
	copy(planned[:], "planted-token-01")
	plant := "/dev/shm/" + objfmt.LargeName("queue", name, planned)
	t.Cleanup(func() { os.Remove(plant) })
	var st unix.Stat_t
	if err := unix.Stat("/dev/shm", &st); err != nil || st.Mode&unix.S_ISVTX == 0 {
		t.Fatalf("/dev/shm is not sticky (mode %o, %v): any user may remove any file in it; restore it with chmod 1777 /dev/shm", st.Mode&0o7777, err)
	}
	out := runUnprivileged(t, "large-intrude", files[0], plant)
	for _, want := range []string{"read: permission denied", "write: permission denied", "remove: operation not permitted", "replace: operation not permitted", "plant: allowed"} {
		if !strings.Contains(out, want) {
			t.Errorf("nobody's attempts lack %q:\n%s", want, out)
		}
	}
	tokens := [][objfmt.LargeTokenSize]byte{planned, {1, 2, 3}}
	defer func(orig func() [objfmt.LargeTokenSize]byte) { large.NewToken = orig }(large.NewToken)
	large.NewToken = func() [objfmt.LargeTokenSize]byte {
		tok := tokens[0]
		if len(tokens) > 1 {
			tokens = tokens[1:]
		}
		return tok
	}
	second := pattern(6000, 2)
	if err := q.Send(t.Context(), second); err != nil {
		t.Fatalf("Send with a planted file under its first name: %v", err)
	}
	if b, err := os.ReadFile(plant); err != nil || string(b) != "planted" {
		t.Fatalf("the planted file was used: it holds %d bytes, not its own 7 (%v)", len(b), err)
	}
	for i, want := range [][]byte{first, second} {
		if got, err := q.Receive(t.Context()); err != nil || !bytes.Equal(got, want) {
			t.Fatalf("message %d: %d bytes, %v", i, len(got), err)
		}
	}

	// A receiver checks the file it is sent to: here the planted one stands
	// in for a message's file (as root, the test may put it there).
	tokens = [][objfmt.LargeTokenSize]byte{{4, 5, 6}}
	if err := q.Send(t.Context(), pattern(7000, 3)); err != nil {
		t.Fatal(err)
	}
	target := "/dev/shm/" + objfmt.LargeName("queue", name, tokens[0])
	if err := os.Rename(plant, target); err != nil {
		t.Fatal(err)
	}
	_, err := q.Receive(t.Context())
	if !errors.Is(err, ipcchan.ErrCorrupt) || !strings.Contains(err.Error(), "uid 65534") {
		t.Fatalf("Receive of a planted file = %v, want ErrCorrupt naming its owner", err)
	}
	if err := os.Remove(target); err != nil {
		t.Fatalf("the refused file should stay for its owner to see: %v", err)
	}
}

// helperLargeShmFull: QUEUE — in a mount namespace of its own, with a 1 MiB
// tmpfs on /dev/shm, sends a 2 MiB message on QUEUE (made by the test),
// and says what is left.
func helperLargeShmFull(args []string) error {
	runtime.LockOSThread() // the namespace is this thread's; never unlocked
	if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
		return fmt.Errorf("unshare: %w (needs root)", err)
	}
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return err
	}
	if err := unix.Mount("tmpfs", "/dev/shm", "tmpfs", 0, "size=1m"); err != nil {
		return err
	}
	q, err := ipcchan.OpenQueue[[]byte](args[0], ipcchan.LargeMessages(), inFiles)
	if err != nil {
		return err
	}
	report(q.Send(context.Background(), make([]byte, 2<<20)))
	a, err := q.Attr()
	if err != nil {
		return err
	}
	left, _ := os.ReadDir("/dev/shm")
	fmt.Printf("len %d, left %d\n", a.Len, len(left))
	return nil
}

// TestLargeShmFull: a /dev/shm too small for a large message is ErrLimit
// naming it, what was asked and what is free, before the queue holds
// anything.
func TestLargeShmFull(t *testing.T) {
	name := queueName(t)
	openQueue[[]byte](t, name, ipcchan.Create(), ipcchan.MsgSize(1024))
	out, err := helperCmd(t, "large-shm-full", name).Output()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, want := range []string{"is ErrLimit", "/dev/shm/", "2097152 bytes (2.0 MiB)", ") free", "len 0, left 0"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("lacks %q:\n%s", want, out)
		}
	}
}
