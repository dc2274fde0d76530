package inventory_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"

	"github.com/ipcchan/ipcchan/cmd/ipcchan/internal/inventory"
	"github.com/ipcchan/ipcchan/internal/large"
	"github.com/ipcchan/ipcchan/internal/testutil"
	"github.com/ipcchan/ipcchan/ipcchan"
)

func init() {
	helpers["large-step"] = helperLargeStep
}

// crashMessage is what the crash tests send: 200 KB, many pages.
var crashMessage = bytes.Repeat([]byte("a large message\n"), 12500)

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
		q, err = ipcchan.OpenQueue[[]byte](args[0], ipcchan.LargeMessages(), ipcchan.PoolSize(0)) // in files, not the queue's pool
	}
	if err != nil {
		return err
	}
	large.At = func(s large.Step) {
		if s == large.Step(step) {
			syscall.Kill(os.Getpid(), syscall.SIGKILL)
		}
	}
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

// killAt runs the helper large-step on name, which must die of SIGKILL.
func killAt(t *testing.T, name, role string, step large.Step, ring bool) {
	t.Helper()
	args := []string{name, role, strconv.Itoa(int(step))}
	if ring {
		args = append(args, "ring")
	}
	err := helperCmd(t, "large-step", args...).Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("%s helper: %v, want it killed", role, err)
	}
}

// largeOf returns what List says of the large messages of the queue or
// ring name.
func largeOf(t *testing.T, name string) []inventory.Info {
	t.Helper()
	listing, _ := inventory.List()
	var files []inventory.Info
	for _, in := range listing.Objects {
		if in.Kind == "large" && in.Name == name {
			files = append(files, in)
		}
	}
	return files
}

// TestStaleLargeMessages: a large message's file that a sender or receiver
// SIGKILLed at a step of its journey leaves is abandoned, and removed by
// rm --stale, exactly when nothing refers to it: a message whose reference
// is in its queue is in use, and kept, even though its sender died. What
// rm --stale removes leaves the queue or ring working, with nothing more
// to remove. (ipcchan's TestLargeKillAtEachStep and TestLargeRingKilled
// check what the crash leaves, and that no message is lost.)
func TestStaleLargeMessages(t *testing.T) {
	cases := []struct {
		ring      bool
		role      string
		step      large.Step
		files     int  // left by the dead process
		delivered bool // the message is still in the queue
	}{
		{false, "send", large.Built, 0, false},       // unnamed: went with the process
		{false, "send", large.Linked, 1, false},      // named, never queued: stale
		{false, "send", large.Sent, 1, true},         // queued, not marked: delivered, not stale
		{false, "receive", large.Received, 1, false}, // its reference died with the receiver: stale
		{false, "receive", large.Taken, 0, false},    // the name was removed before reading
		{true, "send", large.Linked, 1, false},       // never published: stale once the ring is empty
		{true, "receive", large.Received, 1, false},  // its reference died with the receiver: stale
	}
	for _, c := range cases {
		kind := "queue"
		if c.ring {
			kind = "ring"
		}
		t.Run(fmt.Sprintf("%s-%s-%d", kind, c.role, c.step), func(t *testing.T) {
			var q interface {
				ipcchan.Sender[[]byte]
				ipcchan.Receiver[[]byte]
			}
			var name string
			var err error
			if c.ring {
				name = testutil.Name(t, ipcchan.UnlinkRing)
				q, err = ipcchan.OpenRing[[]byte](name, ipcchan.Create(), ipcchan.Capacity(4), ipcchan.MsgSize(256), ipcchan.LargeMessages(), ipcchan.PoolSize(64<<10)) // a pool smaller than the message: it travels in a file
			} else {
				name = testutil.Name(t, ipcchan.UnlinkQueue)
				q, err = ipcchan.OpenQueue[[]byte](name, ipcchan.Create(), ipcchan.Capacity(4), ipcchan.MsgSize(1024), ipcchan.LargeMessages(), ipcchan.PoolSize(0))
			}
			if err != nil {
				t.Fatal(err)
			}
			defer q.Close()
			if c.role == "receive" {
				if err := q.Send(t.Context(), crashMessage); err != nil {
					t.Fatal(err)
				}
			}
			killAt(t, name, c.role, c.step, c.ring)

			files := largeOf(t, name)
			if len(files) != c.files {
				t.Fatalf("List finds %d large messages of %s after the kill, want %d: %+v", len(files), name, c.files, files)
			}
			want := inventory.Abandoned
			if c.delivered {
				want = inventory.InUse
			}
			for _, f := range files {
				if f.Use != want || f.Of != kind || f.MsgBytes != int64(len(crashMessage)) {
					t.Errorf("a large message of %s %s left by the kill: %s, of %q, %d bytes; want %s, of %q, %d bytes", kind, name, f.Use, f.Of, f.MsgBytes, want, kind, len(crashMessage))
				}
			}
			removed := removeStale(t, name)
			switch {
			case c.delivered && removed != 0:
				t.Fatalf("rm --stale removed %d files of a message still in its queue", removed)
			case !c.delivered && removed != c.files:
				t.Fatalf("rm --stale removed %d files, want %d", removed, c.files)
			}
			if c.delivered {
				if n := len(largeOf(t, name)); n != c.files {
					t.Fatalf("%d large messages after rm --stale, want the %d delivered", n, c.files)
				}
			} else if got := largeOf(t, name); len(got) != 0 {
				t.Fatalf("rm --stale left %+v", got)
			}
			got, err := q.TryReceive()
			switch {
			case c.delivered && (err != nil || !bytes.Equal(got, crashMessage)):
				t.Fatalf("TryReceive = %d bytes, %v; want the whole message", len(got), err)
			case !c.delivered && !errors.Is(err, ipcchan.ErrEmpty):
				t.Fatalf("TryReceive = %d bytes, %v; want ErrEmpty", len(got), err)
			}
			if n := removeStale(t, name); n != 0 {
				t.Fatalf("rm --stale found %d more", n)
			}
			if got := largeOf(t, name); len(got) != 0 {
				t.Fatalf("at the end, List finds %+v", got)
			}
			if err := q.Send(t.Context(), crashMessage); err != nil {
				t.Fatal(err)
			}
			if got, err := q.Receive(t.Context()); err != nil || !bytes.Equal(got, crashMessage) {
				t.Fatalf("after rm --stale: %d bytes, %v", len(got), err)
			}
		})
	}
}
