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
	infos, _ := inventory.List()
	for _, in := range infos {
		if in.Kind == kind && in.Name == name {
			return in
		}
	}
	t.Fatalf("List has no %s %s", kind, name)
	return inventory.Info{}
}

func isStale(t *testing.T, name string) bool {
	t.Helper()
	stale, err := inventory.Stale()
	if err != nil {
		t.Fatal(err)
	}
	return slices.ContainsFunc(stale, func(in inventory.Info) bool { return in.Name == name })
}

// TestObjectUsersTable: handles register in the object's users table and
// leave it on Close; a dead process's entry does not keep an object alive,
// and an object with more users than slots is never judged stale.
func TestObjectUsersTable(t *testing.T) {
	name := wgName(t)
	wg, err := ipcchan.OpenWaitGroup(name, ipcchan.Create())
	if err != nil {
		t.Fatal(err)
	}
	if in := infoOf(t, "waitgroup", name); !slices.Equal(in.Registered, []int{os.Getpid()}) || in.Creator != os.Getpid() {
		t.Errorf("registered %v, creator %d; want this process", in.Registered, in.Creator)
	}
	if isStale(t, name) {
		t.Error("an object with an open handle is stale")
	}
	wg.Close()
	if in := infoOf(t, "waitgroup", name); len(in.Registered) != 0 {
		t.Errorf("registered %v after Close", in.Registered)
	}
	// A closed handle stays mapped until it is garbage; a mapping, even
	// without a handle (a C program's), keeps an object from being stale.
	if isStale(t, name) {
		t.Error("an object still mapped by this process is stale")
	}
	runtime.KeepAlive(wg) // until here: a GC could otherwise unmap it early
	wg = nil
	waitFor(t, "the closed handle to be unmapped", func() bool {
		runtime.GC()
		return len(infoOf(t, "waitgroup", name).Users) == 0
	})
	if !isStale(t, name) {
		t.Error("an object nobody has open or mapped is not stale")
	}

	// A process that exits without Close leaves its pid; it is dead, so
	// the object is stale all the same, and its slot is reused.
	opener := helperCmd(t, "open-wg", name)
	opener.Stderr = nil
	if out, err := opener.CombinedOutput(); err != nil {
		t.Fatalf("open-wg: %v %s", err, out)
	}
	if !isStale(t, name) {
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
	if isStale(t, name) {
		t.Error("an object whose users table overflowed was judged stale")
	}
}
