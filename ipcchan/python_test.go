package ipcchan_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ipcchan/ipcchan/internal/kinds"
	"github.com/ipcchan/ipcchan/internal/memlayout"
	"github.com/ipcchan/ipcchan/internal/objfmt"
	"github.com/ipcchan/ipcchan/internal/ring"
	"github.com/ipcchan/ipcchan/internal/testutil"
	"github.com/ipcchan/ipcchan/ipcchan"
)

// The Python peer, testdata/pypeer.py: standard library only, built from
// docs/FORMATS.md. These tests need python3 and fail without it.

// pyCell is the element of the ShmSlice that Python reads and writes; its
// fields, as pypeer.py takes them:
const pyCellFields = "ID:uint64,Vals:[3]int32,Flag:uint8,_:[3]uint8,Temp:float64"

type pyCell struct {
	ID   uint64
	Vals [3]int32
	Flag uint8
	_    [3]byte
	Temp float64
}

// pyTick is the message of the ring that Python receives from.
const pyTickFields = "Seq:uint64,Price:float64,Side:int32,_:[4]uint8"

type pyTick struct {
	Seq   uint64
	Price float64
	Side  int32
	_     [4]byte
}

const chaosMsgFields = "Sender:uint32,Inc:uint32,Seq:uint64,Fill:[6]uint64"

// pyLineWait is how long a test waits for the next line of the peer: a
// deadline for a peer that hangs, not a synchronisation.
const pyLineWait = 30 * time.Second

// A pyPeer is a running pypeer.py.
type pyPeer struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	lines  chan string
	stderr bytes.Buffer // a pipe, not a file: Wait waits for every process that holds it (the resource tracker)
}

func python(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("python3")
	if err != nil {
		t.Fatalf("python3 is needed for the Python peer's tests (CI installs it): %v", err)
	}
	return p
}

// startPy starts pypeer.py with args, with env added to its environment.
func startPy(t *testing.T, env []string, args ...string) *pyPeer {
	t.Helper()
	script, err := filepath.Abs(filepath.Join("..", "testdata", "pypeer.py"))
	if err != nil {
		t.Fatal(err)
	}
	p := &pyPeer{lines: make(chan string, 64)}
	p.cmd = exec.CommandContext(t.Context(), python(t), append([]string{script}, args...)...)
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stderr = &p.stderr
	if p.stdin, err = p.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	out, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(p.lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
	}()
	t.Cleanup(func() {
		p.stdin.Close()
		if p.cmd.ProcessState == nil {
			p.cmd.Process.Kill()
			for range p.lines {
			}
			p.cmd.Wait()
		}
	})
	return p
}

// line returns the peer's next line of output.
func (p *pyPeer) line(t *testing.T) string {
	t.Helper()
	timer := time.NewTimer(pyLineWait)
	defer timer.Stop()
	select {
	case l, ok := <-p.lines:
		if !ok {
			t.Fatalf("pypeer ended without the line expected: %v\n%s", p.cmd.Wait(), p.stderr.String())
		}
		return l
	case <-timer.C:
		t.Fatalf("pypeer said nothing for %v; its stderr so far:\n%s", pyLineWait, p.stderr.String())
	case <-t.Context().Done():
		t.Fatal(t.Context().Err())
	}
	return ""
}

// expect returns the words after word of the next line, which must start
// with it.
func (p *pyPeer) expect(t *testing.T, word string) []string {
	t.Helper()
	l := p.line(t)
	f := strings.Fields(l)
	if len(f) == 0 || f[0] != word {
		t.Fatalf("pypeer said %q, want a line %q...", l, word)
	}
	return f[1:]
}

func (p *pyPeer) send(t *testing.T, line string) {
	t.Helper()
	if _, err := io.WriteString(p.stdin, line+"\n"); err != nil {
		t.Fatalf("to pypeer: %v", err)
	}
}

// wait closes the peer's stdin and waits for it to exit, which must be a
// success with no more output.
func (p *pyPeer) wait(t *testing.T) {
	t.Helper()
	p.stdin.Close()
	var rest []string
	for l := range p.lines {
		rest = append(rest, l)
	}
	if err := p.cmd.Wait(); err != nil {
		t.Fatalf("pypeer: %v\n%s", err, p.stderr.String())
	}
	if len(rest) > 0 {
		t.Errorf("pypeer said more than expected: %q", rest)
	}
}

// attached reads the peer's "attached PID SLOT" line.
func (p *pyPeer) attached(t *testing.T) (pid, slot int) {
	t.Helper()
	f := p.expect(t, "attached")
	if len(f) != 2 {
		t.Fatalf("attached %q", f)
	}
	pid, _ = strconv.Atoi(f[0])
	slot, _ = strconv.Atoi(f[1])
	if pid != p.cmd.Process.Pid {
		t.Fatalf("pypeer says it is process %s; it is %d", f[0], p.cmd.Process.Pid)
	}
	return pid, slot
}

// usersOf reads the users table of the object file path.
func usersOf(t *testing.T, path string) [objfmt.UserSlots]uint32 {
	t.Helper()
	return headerOf(t, path).Users
}

// checkRegistered checks that path is the file of the object name of
// kind, and that pid is in its users table, in slot, as a live user (what
// ipcchan ls lists among its users).
func checkRegistered(t *testing.T, kind, name, path string, pid, slot int) {
	t.Helper()
	if slot < 0 || slot >= objfmt.UserSlots {
		t.Fatalf("pypeer took no slot of the users table (%d)", slot)
	}
	if k, n := kinds.OfFile(filepath.Base(path)); k != kind || n != name {
		t.Fatalf("%s is the file of %s %s, not of %s %s", path, k, n, kind, name)
	}
	h := headerOf(t, path)
	if h.Users[slot] != uint32(pid) {
		t.Errorf("users table %v: slot %d does not hold the Python peer's pid %d", h.Users, slot, pid)
	}
	if live, _ := tableUsers(h); !slices.Contains(live, pid) {
		t.Errorf("the live users of the table are %v, without the Python peer %d", live, pid)
	}
}

// checkUnregistered checks that pid left the users table of path.
func checkUnregistered(t *testing.T, path string, pid, slot int) {
	t.Helper()
	users := usersOf(t, path)
	if users[slot] != 0 || slices.Contains(users[:], uint32(pid)) {
		t.Errorf("after the Python peer exited the users table is %v: slot %d should be 0", users, slot)
	}
}

func fingerprintOf[T any]() string {
	return fmt.Sprintf("%016x", memlayout.Of(reflect.TypeFor[T]()).Fingerprint)
}

// TestPythonShmSlice: Python attaches to a Go ShmSlice (checking its header
// and the fingerprint of its own declaration of the element), reads what
// Go wrote and writes what Go then reads; while attached it is in the
// users table, and it leaves the table when it exits.
func TestPythonShmSlice(t *testing.T) {
	name := shmName(t)
	const n = 6
	ss, err := ipcchan.OpenShmSlice[pyCell](name, n, ipcchan.Create())
	if err != nil {
		t.Fatal(err)
	}
	defer ss.Close()
	cell := func(i int) pyCell {
		return pyCell{ID: uint64(1<<40 + i), Vals: [3]int32{int32(i), -int32(i), 1 << 30}, Flag: uint8(i % 2), Temp: float64(i)*0.1 - 3}
	}
	for i := range n {
		ss.Slice()[i] = cell(i)
	}
	typ := reflect.TypeFor[[]pyCell]().String()
	peer := startPy(t, nil, "shm", name, pyCellFields, typ, fingerprintOf[pyCell](), strconv.Itoa(n))
	pid, slot := peer.attached(t)
	path := "/dev/shm/" + name[1:]
	checkRegistered(t, "shm", name, path, pid, slot)

	format := func(c pyCell) string {
		return fmt.Sprintf("%d %d %d %d %d", c.ID, c.Vals[0], c.Vals[1], c.Vals[2], c.Flag)
	}
	for i := range n {
		peer.send(t, fmt.Sprintf("get %d", i))
		f := peer.expect(t, strconv.Itoa(i))
		if len(f) != 6 {
			t.Fatalf("get %d: %q", i, f)
		}
		temp, err := strconv.ParseFloat(f[5], 64)
		if got := strings.Join(f[:5], " "); got != format(cell(i)) || err != nil || temp != cell(i).Temp {
			t.Errorf("Python reads element %d as %q; Go wrote %s %v", i, f, format(cell(i)), cell(i).Temp)
		}
	}
	want := pyCell{ID: 0xfedcba9876543210, Vals: [3]int32{-7, 8, -9}, Flag: 1, Temp: 2.5e-7}
	peer.send(t, fmt.Sprintf("set 4 %s %v", format(want), want.Temp))
	peer.expect(t, "ok")
	if got := ss.Slice()[4]; got != want {
		t.Errorf("Go reads %+v where Python wrote %+v", got, want)
	}
	if got := ss.Slice()[3]; got != cell(3) || ss.Slice()[5] != cell(5) {
		t.Errorf("Python's write spilled into its neighbours: %+v, %+v", got, ss.Slice()[5])
	}
	peer.send(t, "quit")
	peer.expect(t, "detached")
	peer.wait(t)
	checkUnregistered(t, path, pid, slot)
}

// pyRingSender sends n ticks, by fives alone and in batches, then ends the stream; a named function, so
// that a test can see it blocked (testutil.WaitBlocked).
func pyRingSender(ctx context.Context, r *ipcchan.Ring[pyTick], n int, tick func(int) pyTick, done chan<- error) {
	for i := 0; i < n; {
		if i%10 < 5 { // single messages and batches of 5: runs that Python takes a message at a time
			if err := r.Send(ctx, tick(i)); err != nil {
				done <- err
				return
			}
			i++
			continue
		}
		var vs []pyTick
		for j := i; j < min(i+5, n); j++ {
			vs = append(vs, tick(j))
		}
		if _, err := r.SendBatch(ctx, vs); err != nil {
			done <- err
			return
		}
		i += len(vs)
	}
	done <- r.CloseSend(ctx)
}

// TestPythonRing: Python receives the structs a Go sender sends on a ring
// of 4 slots, all of them, in order and intact, and then the end of the
// stream. It starts only once the sender is asleep on the full ring, so
// that Python's freeing of slots must wake it (FUTEX_WAKE on roomWord);
// Python sleeps on dataWord whenever it is ahead of Go. With libatomic's
// atomics (libatomic.so.1, which gcc needs too: the C peers' machines have
// it) and with x86-64 machine code.
func TestPythonRing(t *testing.T) {
	for _, atomics := range []string{"libatomic", "asm"} {
		t.Run(atomics, func(t *testing.T) {
			name := ringName(t)
			r := openRing[pyTick](t, name, ipcchan.Create(), ipcchan.Capacity(4))
			const n = 300
			tick := func(i int) pyTick { return pyTick{Seq: uint64(i) * 3, Price: float64(i)*1.25 + 0.1, Side: -int32(i)} }
			peer := startPy(t, []string{"IPCCHAN_PYPEER_ATOMICS=" + atomics}, "ring", name, pyTickFields,
				reflect.TypeFor[pyTick]().String(), fingerprintOf[pyTick]())
			pid, slot := peer.attached(t)
			path := "/dev/shm/ipcchan.ring." + name[1:]
			checkRegistered(t, "ring", name, path, pid, slot)

			done := make(chan error, 1)
			go pyRingSender(t.Context(), r, n, tick, done)
			testutil.WaitBlocked(t, "pyRingSender", 1) // the ring is full: the sender sleeps
			if a, _ := r.Attr(); a.Len != 4 {
				t.Fatalf("the ring holds %d messages before Python starts, want 4", a.Len)
			}
			peer.send(t, "go")
			for i := range n {
				f := peer.expect(t, "msg")
				w := tick(i)
				if len(f) != 3 {
					t.Fatalf("message %d: %q", i, f)
				}
				seq, err1 := strconv.ParseUint(f[0], 10, 64)
				price, err2 := strconv.ParseFloat(f[1], 64)
				side, err3 := strconv.ParseInt(f[2], 10, 32)
				if err := errors.Join(err1, err2, err3); err != nil || seq != w.Seq || price != w.Price || int32(side) != w.Side {
					t.Fatalf("Python received message %d as %q, want %+v (%v)", i, f, w, err)
				}
			}
			if f := peer.expect(t, "eof"); len(f) != 1 || f[0] != strconv.Itoa(n) {
				t.Errorf("eof %q, want %d", f, n)
			}
			stats := peer.expect(t, "stats")
			if f := peer.expect(t, "detached"); len(f) != 1 || f[0] != atomics {
				t.Errorf("the peer used the atomics %q, want %s", f, atomics)
			}
			peer.wait(t)
			if err := <-done; err != nil {
				t.Fatalf("the Go sender: %v", err)
			}
			wakes := -1
			fmt.Sscanf(stats[0], "wakes=%d", &wakes)
			if wakes < 1 {
				t.Errorf("Python never woke the sleeping sender (stats %q)", stats)
			}
			t.Logf("Python's stats: %s", strings.Join(stats, " "))
			if a, _ := r.Attr(); a.Len != 0 || a.Recovered != 0 || !a.Ended {
				t.Errorf("the ring after: %+v", a)
			}
			checkUnregistered(t, path, pid, slot)
		})
	}
}

// TestPythonRingHolder: while Python holds a slot (copying a message out),
// the slot's state word says Reading by Python's pid, and a Go sender that
// waits for that slot (the ring is full) checks the holder, finds it alive
// and does not take the slot; once Python frees it, the sender goes on and
// Python receives the rest.
func TestPythonRingHolder(t *testing.T) {
	name := ringName(t)
	r := openRing[pyTick](t, name, ipcchan.Create(), ipcchan.Capacity(2))
	tick := func(i int) pyTick { return pyTick{Seq: uint64(i), Price: float64(i), Side: int32(i)} }
	peer := startPy(t, nil, "ring", name, pyTickFields, reflect.TypeFor[pyTick]().String(), fingerprintOf[pyTick]())
	pid, _ := peer.attached(t)
	const n = 5
	for i := range 2 {
		if err := r.Send(t.Context(), tick(i)); err != nil {
			t.Fatal(err)
		}
	}
	peer.send(t, "hold")
	if f := peer.expect(t, "held"); len(f) != 3 || f[0] != "0" {
		t.Fatalf("held %q, want message 0", f)
	}
	path := "/dev/shm/ipcchan.ring." + name[1:]
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	w := binary.LittleEndian.Uint64(b[objfmt.HeaderSize+objfmt.RingCtlSize:])
	if pos, st, n, holder := objfmt.ParseRingWord(w); pos != 0 || st != objfmt.SlotReading || n != 1 || holder != uint32(pid) {
		t.Errorf("the held slot's word says position %d, state %d, run %d, pid %d; want Reading(0, 1) by %d", pos, st, n, holder, pid)
	}
	done := make(chan error, 1)
	go pyRingSender(t.Context(), r, n, func(i int) pyTick { return tick(i + 2) }, done)
	testutil.WaitBlocked(t, "pyRingSender", 1)
	select {
	case err := <-done:
		t.Fatalf("the sender did not wait for the slot Python holds: %v", err)
	case <-time.After(5 * ring.OwnerCheck): // the sender checks the holder every 10 ms meanwhile
	}
	if a, _ := r.Attr(); a.Recovered != 0 {
		t.Fatalf("Go took %d slots back from the live Python holder", a.Recovered)
	}
	peer.send(t, "release")
	for i := 1; i < n+2; i++ {
		if f := peer.expect(t, "msg"); len(f) != 3 || f[0] != strconv.Itoa(i) {
			t.Fatalf("message %d: %q", i, f)
		}
	}
	peer.expect(t, "eof")
	peer.expect(t, "stats")
	peer.expect(t, "detached")
	peer.wait(t)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if a, _ := r.Attr(); a.Recovered != 0 || a.Len != 0 {
		t.Errorf("the ring after: %+v", a)
	}
}

// TestPythonRingRecovery: a Go sender killed while it holds a slot (Writing)
// does not wedge a Python receiver: Python finds the holder dead, takes the
// slot back (Skipped, counted in recovered), passes over it, and receives
// the message behind it, then the end of the stream.
func TestPythonRingRecovery(t *testing.T) {
	name := ringName(t)
	r := openRing[chaosMsg](t, name, ipcchan.Create(), ipcchan.Capacity(4))
	holder := startHeld(t, name, "write") // holds slot 0 in Writing, alive
	next := newChaosMsg(7, 1, 42)
	if err := r.Send(t.Context(), next); err != nil { // slot 1, behind the held one
		t.Fatal(err)
	}
	if err := r.CloseSend(t.Context()); err != nil {
		t.Fatal(err)
	}
	peer := startPy(t, nil, "ring", name, chaosMsgFields, reflect.TypeFor[chaosMsg]().String(), fingerprintOf[chaosMsg]())
	peer.attached(t)
	peer.send(t, "go")
	holder.Process.Kill()
	holder.Wait()
	f := peer.expect(t, "msg")
	var got chaosMsg
	vals := make([]uint64, len(f))
	for i, s := range f {
		vals[i], _ = strconv.ParseUint(s, 10, 64)
	}
	if len(vals) == 9 {
		got = chaosMsg{Sender: uint32(vals[0]), Inc: uint32(vals[1]), Seq: vals[2]}
		copy(got.Fill[:], vals[3:])
	}
	if got != next {
		t.Errorf("Python received %q, want %+v", f, next)
	}
	peer.expect(t, "eof")
	stats := peer.expect(t, "stats")
	peer.expect(t, "detached")
	peer.wait(t)
	if len(stats) != 3 || stats[2] != "recovered=1" {
		t.Errorf("Python's stats %q, want recovered=1", stats)
	}
	if a, _ := r.Attr(); a.Recovered != 1 {
		t.Errorf("the ring counts %d slots recovered, want 1", a.Recovered)
	}
}

// TestPythonConstants: the layout constants of the Python peer are those
// of the C header block of FORMATS.md (which its own tests check against
// the code).
func TestPythonConstants(t *testing.T) {
	peer := startPy(t, nil, "constants")
	consts := testutil.ReadFormats(t).CConstants(t)
	seen := 0
	for {
		l, ok := <-peer.lines
		if !ok {
			break
		}
		name, v, _ := strings.Cut(l, "=")
		n, err := strconv.ParseInt(v, 10, 64)
		c, ok := consts[name]
		switch {
		case err != nil || !ok:
			t.Errorf("pypeer's constant %q is not in the C header of FORMATS.md", l)
		case c.IsStr || c.Int != n:
			t.Errorf("pypeer has %s = %d; FORMATS.md's C header %+v", name, n, c)
		}
		seen++
	}
	if err := peer.cmd.Wait(); err != nil || seen < 30 {
		t.Fatalf("pypeer constants: %v, %d constants\n%s", err, seen, peer.stderr.String())
	}
}

// TestPythonResourceTracker: a Python script that opens a Go object through
// multiprocessing.shared_memory.SharedMemory with the fix (unregister from
// the resource tracker, or track=False) leaves it in place when it exits;
// without the fix (on another object, made for it) the tracker removes it.
// The peer's stderr is a pipe that the tracker inherits, so the wait for
// the script includes the tracker's clean-up at its exit.
func TestPythonResourceTracker(t *testing.T) {
	for _, how := range []string{"fix", "nofix"} {
		t.Run(how, func(t *testing.T) {
			name := shmName(t)
			ss, err := ipcchan.OpenShmSlice[int64](name, 4, ipcchan.Create())
			if err != nil {
				t.Fatal(err)
			}
			defer ss.Close()
			ss.Slice()[0] = 41
			peer := startPy(t, nil, "tracker", name, how, "42")
			if f := peer.expect(t, "value"); len(f) != 1 || f[0] != "41" {
				t.Errorf("Python read %q, want 41", f)
			}
			peer.expect(t, "done")
			peer.wait(t) // and the resource tracker, which holds its stderr
			if ss.Slice()[0] != 42 {
				t.Errorf("Go reads %d where Python wrote 42", ss.Slice()[0])
			}
			_, err = os.Stat("/dev/shm/" + name[1:])
			switch how {
			case "fix":
				if err != nil {
					t.Fatalf("after a script with the fix, the object: %v\n%s", err, peer.stderr.String())
				}
				again, err := ipcchan.OpenShmSlice[int64](name, 0)
				if err != nil || again.Slice()[0] != 42 {
					t.Fatalf("reopened: %v", err)
				}
				again.Close()
			case "nofix":
				if !errors.Is(err, fs.ErrNotExist) {
					t.Fatalf("without the fix the resource tracker should have removed the object: %v\n%s", err, peer.stderr.String())
				}
				t.Logf("the resource tracker said: %s", strings.TrimSpace(peer.stderr.String()))
			}
		})
	}
}
