package ipcchan_test

import (
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ipcchan/ipcchan/internal/testutil"
	"github.com/ipcchan/ipcchan/ipcchan"
)

// openCloseCycles is how many times TestOpenCloseCycles opens and closes
// each kind of object.
const openCloseCycles = 10000

// TestOpenCloseCycles opens, uses and closes each kind of object 10,000
// times, and checks that the process ends with the descriptors,
// goroutines and memory mappings it started with (or fewer: what earlier
// tests left may finish meanwhile), and /dev/shm with the files it had:
// Close releases everything, at once or (for the mappings of sync
// objects) at the next garbage collection.
func TestOpenCloseCycles(t *testing.T) {
	kinds := []struct {
		kind   string
		create []ipcchan.Option
		cycle  func(name string) error
	}{
		{"queue", []ipcchan.Option{ipcchan.Create(), ipcchan.Capacity(1)},
			func(n string) error {
				q, err := ipcchan.OpenQueue[int](n)
				if err != nil {
					return err
				}
				if err := q.TrySend(1); err != nil {
					return err
				}
				if _, err := q.TryReceive(); err != nil {
					return err
				}
				return q.Close()
			}},
		{"semaphore", []ipcchan.Option{ipcchan.Create(), ipcchan.Value(1)},
			func(n string) error {
				s, err := ipcchan.OpenSemaphore(n)
				if err != nil {
					return err
				}
				if !s.TryAcquire() {
					return errNotAcquired
				}
				if err := s.Release(); err != nil {
					return err
				}
				return s.Close()
			}},
		{"mutex", []ipcchan.Option{ipcchan.Create()},
			func(n string) error {
				m, err := ipcchan.OpenMutex(n)
				if err != nil {
					return err
				}
				if !m.TryLock() {
					return errNotLocked
				}
				m.Unlock()
				return m.Close()
			}},
		{"waitgroup", []ipcchan.Option{ipcchan.Create()},
			func(n string) error {
				wg, err := ipcchan.OpenWaitGroup(n)
				if err != nil {
					return err
				}
				if err := wg.Add(1); err != nil {
					return err
				}
				if err := wg.Done(); err != nil {
					return err
				}
				return wg.Close()
			}},
		{"shm", []ipcchan.Option{ipcchan.Create()},
			func(n string) error {
				sh, err := ipcchan.OpenShm[Stats](n)
				if err != nil {
					return err
				}
				sh.Ptr().Hits.Add(1)
				return sh.Close()
			}},
	}
	for _, k := range kinds {
		t.Run(k.kind, func(t *testing.T) {
			name := testutil.Name(t, unlinkKind[k.kind])
			first, err := openKind(k.kind, name, k.create...)
			if err != nil {
				t.Fatal(err)
			}
			defer first.Close()
			if err := k.cycle(name); err != nil { // warm up: the reactor, the runtime's caches
				t.Fatal(err)
			}
			before := snapshot(t)
			for i := range openCloseCycles {
				if err := k.cycle(name); err != nil {
					t.Fatalf("cycle %d: %v", i, err)
				}
			}
			after := settle(t, before)
			t.Logf("%d cycles: descriptors %d -> %d, goroutines %d -> %d, mappings of /dev/shm %d -> %d, files in /dev/shm %d -> %d",
				openCloseCycles, before.fds, after.fds, before.goroutines, after.goroutines,
				before.maps, after.maps, len(before.shm), len(after.shm))
			if after.fds > before.fds {
				t.Errorf("descriptors: %d before, %d after", before.fds, after.fds)
			}
			if after.goroutines > before.goroutines {
				t.Errorf("goroutines: %d before, %d after", before.goroutines, after.goroutines)
			}
			if after.maps > before.maps {
				t.Errorf("mappings of /dev/shm: %d before, %d after", before.maps, after.maps)
			}
			if !slices.Equal(after.shm, before.shm) {
				t.Errorf("/dev/shm: %q before, %q after", before.shm, after.shm)
			}
		})
	}
}

type errString string

func (e errString) Error() string { return string(e) }

const (
	errNotAcquired = errString("TryAcquire failed on a free semaphore")
	errNotLocked   = errString("TryLock failed on a free mutex")
)

type resources struct {
	fds, goroutines, maps int
	shm                   []string
}

func snapshot(t *testing.T) resources {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	maps, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		t.Fatal(err)
	}
	shm, err := os.ReadDir("/dev/shm")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range shm {
		// Only this process's objects: other packages' tests (go test ./...
		// runs them in parallel) create and remove their own meanwhile.
		if strings.Contains(e.Name(), testutil.Prefix) || strings.Contains(e.Name(), fmt.Sprintf(".ipcchan-tmp-%d-", os.Getpid())) {
			names = append(names, e.Name())
		}
	}
	return resources{len(fds), runtime.NumGoroutine(), strings.Count(string(maps), " /dev/shm/"), names}
}

// settle collects garbage until the deferred unmaps of closed sync
// objects have run and the counts are back to before, or 10 seconds have
// passed, and returns the last snapshot.
func settle(t *testing.T, before resources) resources {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		runtime.GC()
		now := snapshot(t)
		if (now.fds <= before.fds && now.goroutines <= before.goroutines && now.maps <= before.maps) ||
			time.Now().After(deadline) {
			return now
		}
		runtime.Gosched()
	}
}
