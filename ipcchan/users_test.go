package ipcchan_test

import (
	"bufio"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/ipcchan/ipcchan/internal/kinds"
	"github.com/ipcchan/ipcchan/internal/objfmt"
	"github.com/ipcchan/ipcchan/internal/posix"
	"github.com/ipcchan/ipcchan/ipcchan"
)

func init() {
	helpers["open-wg"] = func(args []string) error {
		_, err := ipcchan.OpenWaitGroup(args[0]) // and exit without Close
		return err
	}
}

// headerOf reads the ipcchan header of the object file path.
func headerOf(t *testing.T, path string) objfmt.Header {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	h, err := objfmt.Parse(b)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return h
}

// tableUsers splits the pids of a users table into the live processes and
// the dead ones.
func tableUsers(h objfmt.Header) (live, dead []int) {
	for _, pid := range h.Users {
		switch {
		case pid == 0:
		case posix.Alive(int(pid)):
			live = append(live, int(pid))
		default:
			dead = append(dead, int(pid))
		}
	}
	return live, dead
}

// mapped reports whether this process maps the file path. Maps are
// matched by device and inode: a creator maps the temporary file it
// built, which maps show under that name, deleted.
func mapped(t *testing.T, path string) bool {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// address perms offset dev inode path; dev is "major:minor" in hex
		fields := strings.Fields(sc.Text())
		if len(fields) < 6 {
			continue
		}
		major, minor, _ := strings.Cut(fields[3], ":")
		maj, err1 := strconv.ParseUint(major, 16, 32)
		min, err2 := strconv.ParseUint(minor, 16, 32)
		ino, err3 := strconv.ParseUint(fields[4], 10, 64)
		if err1 == nil && err2 == nil && err3 == nil && unix.Mkdev(uint32(maj), uint32(min)) == st.Dev && ino == st.Ino {
			return true
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return false
}

// TestObjectUsersTable: handles register in the users table of their
// object's header (docs/FORMATS.md) and leave it on Close; a process that
// exits without Close leaves its pid, and its slot is reused; more handles
// than slots set the overflow flag, which stays. A closed handle stays
// mapped until it is garbage, and then goes. (What ipcchan rm --stale makes
// of these is cmd/ipcchan/internal/inventory's TestJudgeUsersTable.)
func TestObjectUsersTable(t *testing.T) {
	name := wgName(t)
	path := posix.ShmDir + kinds.Prefix(kinds.WaitGroup) + name[1:]
	wg, err := ipcchan.OpenWaitGroup(name, ipcchan.Create())
	if err != nil {
		t.Fatal(err)
	}
	h := headerOf(t, path)
	if live, dead := tableUsers(h); !slices.Equal(live, []int{os.Getpid()}) || len(dead) != 0 || h.Creator != uint32(os.Getpid()) || h.Overflow {
		t.Errorf("users table: live %v, dead %v, creator %d, overflow %v; want this process alone", live, dead, h.Creator, h.Overflow)
	}
	wg.Close()
	if live, dead := tableUsers(headerOf(t, path)); len(live) != 0 || len(dead) != 0 {
		t.Errorf("users table: live %v, dead %v after Close; want empty", live, dead)
	}
	if !mapped(t, path) {
		t.Errorf("a closed handle that is not garbage yet does not map %s", path)
	}
	runtime.KeepAlive(wg) // until here: a GC could otherwise unmap it early
	wg = nil
	waitFor(t, "the closed handle to be unmapped", func() bool {
		runtime.GC()
		return !mapped(t, path)
	})

	// A process that exits without Close leaves its pid: it is dead.
	opener := helperCmd(t, "open-wg", name)
	opener.Stderr = nil
	if out, err := opener.CombinedOutput(); err != nil {
		t.Fatalf("open-wg: %v %s", err, out)
	}
	if live, dead := tableUsers(headerOf(t, path)); len(live) != 0 || !slices.Equal(dead, []int{opener.Process.Pid}) {
		t.Errorf("after its only user died: live %v, dead %v; want the dead %d alone", live, dead, opener.Process.Pid)
	}

	// More live handles than slots: every slot holds a live user (the dead
	// one's was reused), and the table says it overflowed, from then on.
	var hs []*ipcchan.WaitGroup
	for range 20 {
		h, err := ipcchan.OpenWaitGroup(name)
		if err != nil {
			t.Fatal(err)
		}
		hs = append(hs, h)
	}
	h = headerOf(t, path)
	if live, dead := tableUsers(h); !h.Overflow || len(live) != objfmt.UserSlots || len(dead) != 0 {
		t.Errorf("with 20 handles open: overflow %v, %d live and %d dead in the table; want overflow, %d live", h.Overflow, len(live), len(dead), objfmt.UserSlots)
	}
	for _, h := range hs {
		h.Close()
	}
	hs = nil
	waitFor(t, "the closed handles to be unmapped", func() bool {
		runtime.GC()
		return !mapped(t, path)
	})
	h = headerOf(t, path)
	if live, _ := tableUsers(h); !h.Overflow || len(live) != 0 {
		t.Errorf("with every handle closed: overflow %v, live %v; want the overflow kept, nobody live", h.Overflow, live)
	}
}
