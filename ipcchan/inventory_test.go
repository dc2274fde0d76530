package ipcchan_test

import (
	"os"
	"runtime"
	"slices"
	"testing"

	"github.com/ipcchan/ipcchan/internal/inventory"
	"github.com/ipcchan/ipcchan/ipcchan"
)

func init() {
	helpers["open-wg"] = func(args []string) error {
		_, err := ipcchan.OpenWaitGroup(args[0]) // and exit without Close
		return err
	}
}

func infoOf(t *testing.T, kind, name string) inventory.Info {
	t.Helper()
	listing, _ := inventory.List()
	for _, in := range listing.Objects {
		if in.Kind == kind && in.Name == name {
			return in
		}
	}
	t.Fatalf("List has no %s %s", kind, name)
	return inventory.Info{}
}

// isStale reports whether rm --stale (with idle: rm --stale --idle) would
// remove the object name.
func isStale(t *testing.T, name string, idle bool) bool {
	t.Helper()
	stale, _, err := inventory.Stale(idle)
	if err != nil {
		t.Fatal(err)
	}
	return slices.ContainsFunc(stale, func(in inventory.Info) bool { return in.Name == name })
}

// TestObjectUsersTable: handles register in the object's users table and
// leave it on Close. An object everyone closed is idle, kept by rm --stale
// (and removed by rm --stale --idle); one whose only users died without
// closing it is abandoned, removed by rm --stale; one with more users than
// slots is never judged stale.
func TestObjectUsersTable(t *testing.T) {
	name := wgName(t)
	wg, err := ipcchan.OpenWaitGroup(name, ipcchan.Create())
	if err != nil {
		t.Fatal(err)
	}
	if in := infoOf(t, "waitgroup", name); !slices.Equal(in.Registered, []int{os.Getpid()}) || in.Creator != os.Getpid() || in.Use != inventory.InUse {
		t.Errorf("registered %v, creator %d, %s; want this process, in use", in.Registered, in.Creator, in.Use)
	}
	if isStale(t, name, true) {
		t.Error("an object with an open handle is stale")
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
	if in := infoOf(t, "waitgroup", name); in.Use != inventory.Abandoned || !slices.Equal(in.Died, []int{opener.Process.Pid}) {
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
	if in := infoOf(t, "waitgroup", name); in.Use != inventory.Unknown || isStale(t, name, true) {
		t.Errorf("an object whose users table overflowed is %s, or stale; want unknown, kept", in.Use)
	}
}
