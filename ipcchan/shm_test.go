package ipcchan_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/ipcchan/ipcchan/internal/testutil"
	"github.com/ipcchan/ipcchan/ipcchan"
)

func init() {
	helpers["shm-count"] = helperShmCount
	helpers["shm-open"] = helperShmOpen
}

func shmName(t testing.TB) string { return testutil.Name(t, ipcchan.UnlinkShm) }

// Stats is what the tests share: atomic counters, and a histogram of plain
// integers that an ipcchan Mutex guards.
type Stats struct {
	Hits   atomic.Int64
	Misses atomic.Uint32
	Hist   [16]int64
	Label  [32]byte
}

// helperShmCount: SHM MUTEX N — says "ready", waits for a line on stdin,
// then N times: count a hit (atomically), every third a miss, and a
// histogram bucket under the mutex.
func helperShmCount(args []string) error {
	sh, err := ipcchan.OpenShm[Stats](args[0])
	if err != nil {
		return err
	}
	defer sh.Close()
	m, err := ipcchan.OpenMutex(args[1])
	if err != nil {
		return err
	}
	n, _ := strconv.Atoi(args[2])
	fmt.Println("ready")
	bufio.NewReader(os.Stdin).ReadString('\n')
	return countStats(sh.Ptr(), m, n)
}

func countStats(s *Stats, m *ipcchan.Mutex, n int) error {
	for i := range n {
		s.Hits.Add(1)
		if i%3 == 0 {
			s.Misses.Add(1)
		}
		if err := m.LockContext(context.Background()); err != nil {
			return err
		}
		v := s.Hist[i%16]
		runtime.Gosched()
		s.Hist[i%16] = v + 1
		m.Unlock()
	}
	return nil
}

// helperShmOpen: NAME — creates or opens a Shm[Stats] and counts a hit.
func helperShmOpen(args []string) error {
	sh, err := ipcchan.OpenShm[Stats](args[0], ipcchan.Create())
	if err != nil {
		return err
	}
	sh.Ptr().Hits.Add(1)
	return sh.Close()
}

// TestShmTwoProcesses: processes and goroutines share a Stats; atomic
// fields and the mutex-guarded array come out exact.
func TestShmTwoProcesses(t *testing.T) {
	name, mname := shmName(t), mutexName(t)
	sh, err := ipcchan.OpenShm[Stats](name, ipcchan.Create())
	if err != nil {
		t.Fatal(err)
	}
	defer sh.Close()
	copy(sh.Ptr().Label[:], "shared")
	openMutex(t, mname, ipcchan.Create())
	const n, procs, goroutines = 3000, 2, 2
	var wg sync.WaitGroup
	errc := make(chan error, procs+goroutines)
	gos := startReadyWorkers(t, procs, &wg, errc, "shm-count", name, mname, strconv.Itoa(n))
	start := make(chan struct{})
	for range goroutines {
		m := openMutex(t, mname)
		wg.Add(1)
		go func() { defer wg.Done(); <-start; errc <- countStats(sh.Ptr(), m, n) }()
	}
	for _, in := range gos {
		in.Write([]byte("go\n"))
		in.Close()
	}
	close(start)
	wg.Wait()
	close(errc)
	for err := range errc {
		if err != nil {
			t.Fatal(err)
		}
	}
	s := sh.Ptr()
	total := int64(n * (procs + goroutines))
	if s.Hits.Load() != total || s.Misses.Load() != uint32((n+2)/3*(procs+goroutines)) {
		t.Errorf("hits %d misses %d, want %d and %d", s.Hits.Load(), s.Misses.Load(), total, (n+2)/3*(procs+goroutines))
	}
	var sum int64
	for _, h := range s.Hist {
		sum += h
	}
	if sum != total {
		t.Errorf("histogram sums to %d, want %d", sum, total)
	}
	if string(s.Label[:6]) != "shared" {
		t.Errorf("label %q", s.Label[:6])
	}
}

// TestShmRejectsUnsafeTypes: each kind of pointer-holding field is named.
func TestShmRejectsUnsafeTypes(t *testing.T) {
	type Bucket struct {
		Count int
		Name  string
	}
	type Nested struct {
		Total int64
		Hist  [4]Bucket
	}
	for _, tc := range []struct {
		open func(string) error
		want string
	}{
		{func(n string) error { _, err := ipcchan.OpenShm[Nested](n, ipcchan.Create()); return err }, "Nested.Hist[0].Name is a string"},
		{func(n string) error { _, err := ipcchan.OpenShm[struct{ S []int }](n, ipcchan.Create()); return err }, ".S is a slice"},
		{func(n string) error {
			_, err := ipcchan.OpenShm[struct{ M map[int]int }](n, ipcchan.Create())
			return err
		}, ".M is a map"},
		{func(n string) error { _, err := ipcchan.OpenShm[struct{ P *int }](n, ipcchan.Create()); return err }, ".P is a pointer"},
		{func(n string) error {
			_, err := ipcchan.OpenShm[struct{ U unsafe.Pointer }](n, ipcchan.Create())
			return err
		}, ".U is a pointer"},
		{func(n string) error { _, err := ipcchan.OpenShm[struct{ A uintptr }](n, ipcchan.Create()); return err }, ".A is a uintptr"},
		{func(n string) error { _, err := ipcchan.OpenShm[struct{ I any }](n, ipcchan.Create()); return err }, ".I is an interface"},
		{func(n string) error { _, err := ipcchan.OpenShm[struct{ C chan int }](n, ipcchan.Create()); return err }, ".C is a channel"},
		{func(n string) error { _, err := ipcchan.OpenShm[struct{ F func() }](n, ipcchan.Create()); return err }, ".F is a func"},
		{func(n string) error {
			_, err := ipcchan.OpenShm[struct{ Mu sync.Mutex }](n, ipcchan.Create())
			return err
		}, ".Mu is a sync.Mutex, which works within one process only"},
		{func(n string) error {
			_, err := ipcchan.OpenShm[struct{ P atomic.Pointer[int] }](n, ipcchan.Create())
			return err
		}, "is a pointer"},
		{func(n string) error {
			_, err := ipcchan.OpenShm[struct{ V atomic.Value }](n, ipcchan.Create())
			return err
		}, "is an interface"},
		{func(n string) error {
			_, err := ipcchan.OpenShm[struct{ T time.Time }](n, ipcchan.Create())
			return err
		}, ".T.loc is a pointer"},
		{func(n string) error { _, err := ipcchan.OpenShm[string](n, ipcchan.Create()); return err }, "string is a string"},
		{func(n string) error { _, err := ipcchan.OpenShm[struct{}](n, ipcchan.Create()); return err }, "has no size"},
		{func(n string) error { _, err := ipcchan.OpenShmSlice[Bucket](n, 4, ipcchan.Create()); return err }, "Bucket.Name is a string"},
	} {
		name := shmName(t)
		err := tc.open(name)
		if !errors.Is(err, ipcchan.ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("got %v, want ErrInvalid saying %q", err, tc.want)
		}
		if _, serr := os.Stat("/dev/shm/" + name[1:]); !os.IsNotExist(serr) {
			t.Errorf("a refused type left %s behind", name)
		}
	}
	// What is allowed: numbers, bools, arrays, structs, atomics.
	type OK struct {
		A [3]struct {
			X float64
			Y bool
			Z complex128
		}
		N atomic.Int64
		B atomic.Bool
		D time.Duration
	}
	sh, err := ipcchan.OpenShm[OK](shmName(t), ipcchan.Create())
	if err != nil {
		t.Fatalf("an allowed type was refused: %v", err)
	}
	sh.Close()
}

func TestShmTypeMismatch(t *testing.T) {
	name := shmName(t)
	sh, err := ipcchan.OpenShm[Stats](name, ipcchan.Create())
	if err != nil {
		t.Fatal(err)
	}
	defer sh.Close()
	type Other struct{ A, B int64 }
	_, err = ipcchan.OpenShm[Other](name)
	if !errors.Is(err, ipcchan.ErrTypeMismatch) || !strings.Contains(err.Error(), "it holds ipcchan_test.Stats (176 bytes, alignment 8), not ipcchan_test.Other (16 bytes, alignment 8)") {
		t.Errorf("open as another type = %v", err)
	}
	// Same size and names, another field type: the layout differs.
	type Stats2 struct {
		Hits   atomic.Int64
		Misses atomic.Int32
		Hist   [16]int64
		Label  [32]byte
	}
	if _, err := ipcchan.OpenShm[Stats2](name); !errors.Is(err, ipcchan.ErrTypeMismatch) {
		t.Errorf("open with another field type = %v", err)
	}
	// A slice: its length must match, or be left to the object (0).
	sn := shmName(t)
	ss, err := ipcchan.OpenShmSlice[int32](sn, 100, ipcchan.Create())
	if err != nil {
		t.Fatal(err)
	}
	defer ss.Close()
	ss.Slice()[99] = 7
	if _, err := ipcchan.OpenShmSlice[int32](sn, 50); !errors.Is(err, ipcchan.ErrTypeMismatch) || !strings.Contains(err.Error(), "another length") {
		t.Errorf("open with another length = %v", err)
	}
	any, err := ipcchan.OpenShmSlice[int32](sn, 0)
	if err != nil || any.Len() != 100 || any.Slice()[99] != 7 {
		t.Fatalf("open with length 0 = %v (len %d)", err, any.Len())
	}
	any.Close()
	if _, err := ipcchan.OpenShmSlice[int32](shmName(t), 0, ipcchan.Create()); !errors.Is(err, ipcchan.ErrInvalid) {
		t.Errorf("create with length 0 = %v", err)
	}
	// A plain object made by C, without ipcchan's header.
	peer := testutil.BuildC(t, "shmpeer")
	cn := shmName(t)
	if out, err := exec.Command(peer, "create", cn, "4096").CombinedOutput(); err != nil {
		t.Fatalf("shmpeer create: %v %s", err, out)
	}
	if _, err := ipcchan.OpenShm[Stats](cn); !errors.Is(err, ipcchan.ErrTypeMismatch) || !strings.Contains(err.Error(), "not an ipcchan object") {
		t.Errorf("open of a plain C object = %v", err)
	}
	if _, err := ipcchan.OpenShm[Stats](shmName(t)); !errors.Is(err, ipcchan.ErrNotExist) {
		t.Errorf("open of a missing object = %v", err)
	}
	if _, err := ipcchan.OpenShm[Stats](name, ipcchan.Create(), ipcchan.Exclusive()); !errors.Is(err, ipcchan.ErrExist) {
		t.Errorf("exclusive create of an existing object = %v", err)
	}
	if err := sh.Close(); err != nil {
		t.Fatal(err)
	}
	if err := sh.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
}

// TestShmSeenFromC: a C program that maps the object sees the Go values at
// offset 192 + the field offsets, and Go sees what C writes.
func TestShmSeenFromC(t *testing.T) {
	type Layout struct {
		A int64
		B [4]int32
		C float64
	}
	peer := testutil.BuildC(t, "shmpeer")
	name := shmName(t)
	sh, err := ipcchan.OpenShm[Layout](name, ipcchan.Create())
	if err != nil {
		t.Fatal(err)
	}
	defer sh.Close()
	p := sh.Ptr()
	p.A, p.B[2] = -42, 7
	const payload = 192
	read := func(off uintptr, typ string) string {
		out, err := exec.Command(peer, "read", name, strconv.Itoa(payload+int(off)), typ).Output()
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(out))
	}
	if got := read(unsafe.Offsetof(p.A), "i64"); got != "-42" {
		t.Errorf("C reads A as %s", got)
	}
	if got := read(unsafe.Offsetof(p.B)+2*4, "i32"); got != "7" {
		t.Errorf("C reads B[2] as %s", got)
	}
	if out, err := exec.Command(peer, "write", name, strconv.Itoa(payload+int(unsafe.Offsetof(p.B)+3*4)), "i32", "99").CombinedOutput(); err != nil {
		t.Fatalf("shmpeer write: %v %s", err, out)
	}
	if p.B[3] != 99 {
		t.Errorf("Go sees B[3] = %d after C wrote 99", p.B[3])
	}
}

// TestShmCreateRace: goroutines and processes creating one object at once
// all share it.
func TestShmCreateRace(t *testing.T) {
	for round := range 3 {
		name := shmName(t)
		var wg sync.WaitGroup
		errc := make(chan error, 12)
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				sh, err := ipcchan.OpenShm[Stats](name, ipcchan.Create())
				if err == nil {
					sh.Ptr().Hits.Add(1)
					err = sh.Close()
				}
				errc <- err
			}()
		}
		for range 3 {
			cmd := helperCmd(t, "shm-open", name)
			wg.Add(1)
			go func() { defer wg.Done(); errc <- cmd.Run() }()
		}
		wg.Wait()
		close(errc)
		for err := range errc {
			if err != nil {
				t.Fatalf("round %d: %v", round, err)
			}
		}
		sh, err := ipcchan.OpenShm[Stats](name)
		if err != nil {
			t.Fatal(err)
		}
		if h := sh.Ptr().Hits.Load(); h != 11 {
			t.Errorf("round %d: %d hits, want 11: the creators did not share one object", round, h)
		}
		sh.Close()
	}
}
