package inventory_test

import (
	"bufio"
	"io"
	"os"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/ipcchan/ipcchan/cmd/ipcchan/internal/inventory"
	"github.com/ipcchan/ipcchan/internal/testutil"
	"github.com/ipcchan/ipcchan/ipcchan"
)

func init() {
	helpers["open-wg"] = func(args []string) error {
		_, err := ipcchan.OpenWaitGroup(args[0]) // and exit without Close
		return err
	}
	helpers["hold-wg"] = func(args []string) error {
		wg, err := ipcchan.OpenWaitGroup(args[0])
		if err != nil {
			return err
		}
		os.Stdout.WriteString("ready\n")
		io.Copy(io.Discard, os.Stdin) // until the test closes it
		return wg.Close()
	}
}

// TestJudgeUsersTable: what List reads of an object's users table and
// mappings, and how it judges the object. One with an open handle, or
// still mapped, is in use; one everyone closed is idle, kept by rm --stale
// (and removed by rm --stale --idle); one whose only users died without
// closing it is abandoned, removed by rm --stale; one with more users than
// slots is never judged stale. (ipcchan's TestObjectUsersTable checks what
// the library writes in the table.)
func TestJudgeUsersTable(t *testing.T) {
	name := testutil.Name(t, ipcchan.UnlinkWaitGroup)
	wg, err := ipcchan.OpenWaitGroup(name, ipcchan.Create())
	if err != nil {
		t.Fatal(err)
	}
	if in := infoOf(t, "waitgroup", name); !hasPid(in.Registered, os.Getpid()) || in.Creator != os.Getpid() || in.Use != inventory.InUse {
		t.Errorf("registered %v, creator %d, %s; want this process, in use", in.Registered, in.Creator, in.Use)
	}
	if isStale(t, name, true) {
		t.Error("an object with an open handle is stale")
	}

	// Another live process with a handle open is listed among its users
	// (as a C or Python peer is: they register in the same table).
	holder := helperCmd(t, "hold-wg", name)
	stdin, _ := holder.StdinPipe()
	stdout, _ := holder.StdoutPipe()
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	if line, err := bufio.NewReader(stdout).ReadString('\n'); err != nil || strings.TrimSpace(line) != "ready" {
		t.Fatalf("hold-wg said %q, %v", line, err)
	}
	if in := infoOf(t, "waitgroup", name); !slices.Contains(in.Registered, holder.Process.Pid) || !slices.Contains(in.Users, holder.Process.Pid) || len(in.Died) != 0 {
		t.Errorf("with another process holding it: registered %v, users %v, died %v; want %d among the registered and the users", in.Registered, in.Users, in.Died, holder.Process.Pid)
	}
	stdin.Close()
	if err := holder.Wait(); err != nil {
		t.Fatalf("hold-wg: %v", err)
	}

	wg.Close()
	if in := infoOf(t, "waitgroup", name); len(in.Registered) != 0 || len(in.Died) != 0 {
		t.Errorf("registered %v, died %v after Close", in.Registered, in.Died)
	}
	// A closed handle stays mapped until it is garbage; a mapping, even
	// without a handle (a C program's), keeps an object in use.
	if in := infoOf(t, "waitgroup", name); in.Use != inventory.InUse || isStale(t, name, true) {
		t.Errorf("an object still mapped by this process is %s, or stale", in.Use)
	}
	runtime.KeepAlive(wg) // until here: a GC could otherwise unmap it early
	wg = nil
	waitFor(t, "the closed handle to be unmapped", func() bool {
		runtime.GC()
		return len(infoOf(t, "waitgroup", name).Users) == 0
	})
	if in := infoOf(t, "waitgroup", name); in.Use != inventory.Idle {
		t.Errorf("an object everyone closed is %s, want idle", in.Use)
	}
	if isStale(t, name, false) {
		t.Error("rm --stale would remove an object that everyone closed cleanly")
	}
	if !isStale(t, name, true) {
		t.Error("rm --stale --idle would keep an idle object")
	}

	// A process that exits without Close leaves its pid: it is dead, so
	// the object is abandoned, and its slot is reused.
	opener := helperCmd(t, "open-wg", name)
	opener.Stderr = nil
	if out, err := opener.CombinedOutput(); err != nil {
		t.Fatalf("open-wg: %v %s", err, out)
	}
	if in := infoOf(t, "waitgroup", name); in.Use != inventory.Abandoned || !hasPid(in.Died, opener.Process.Pid) {
		t.Errorf("after its only user died: %s, died %v; want abandoned by %d", in.Use, in.Died, opener.Process.Pid)
	}
	if !isStale(t, name, false) {
		t.Error("an object whose only user died is not stale")
	}

	// More live handles than slots: the users are unknown from then on.
	var hs []*ipcchan.WaitGroup
	for range 20 {
		h, err := ipcchan.OpenWaitGroup(name)
		if err != nil {
			t.Fatal(err)
		}
		hs = append(hs, h)
	}
	in := infoOf(t, "waitgroup", name)
	if !in.Overflow || len(in.Registered) != 16 {
		t.Errorf("with 20 handles open: overflow %v, %d registered", in.Overflow, len(in.Registered))
	}
	for _, h := range hs {
		h.Close()
	}
	hs = nil
	waitFor(t, "the closed handles to be unmapped", func() bool {
		runtime.GC()
		return len(infoOf(t, "waitgroup", name).Users) == 0
	})
	if in := infoOf(t, "waitgroup", name); in.Use != inventory.Unknown || in.Why != inventory.WhyOverflow || isStale(t, name, true) {
		t.Errorf("an object whose users table overflowed is %s (%s), or stale; want unknown, kept", in.Use, in.Why)
	}
}
