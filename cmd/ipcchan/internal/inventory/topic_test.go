package inventory_test

import (
	"os"
	"os/exec"
	"runtime"
	"slices"
	"sync/atomic"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/ipcchan/ipcchan/cmd/ipcchan/internal/inventory"
	"github.com/ipcchan/ipcchan/internal/kinds"
	"github.com/ipcchan/ipcchan/internal/objfmt"
	"github.com/ipcchan/ipcchan/internal/testutil"
	"github.com/ipcchan/ipcchan/ipcchan"
)

// TestJudgeTopicSubscribers: the pids of a topic's subscription table
// count as those of its users table do. A topic that nobody maps and whose
// users table is empty is still in use while a live process is subscribed
// (a peer that subscribed without registering as a user), abandoned when
// its only subscriber died, and idle once the entry is free again.
func TestJudgeTopicSubscribers(t *testing.T) {
	name := testutil.Name(t, ipcchan.UnlinkTopic)
	tp, err := ipcchan.OpenTopic[[]byte](name, ipcchan.Create(), ipcchan.Capacity(4))
	if err != nil {
		t.Fatal(err)
	}
	tp.Close()
	runtime.KeepAlive(tp)
	tp = nil
	waitFor(t, "the closed handle to be unmapped", func() bool {
		runtime.GC()
		return len(infoOf(t, "topic", name).Users) == 0
	})
	if in := infoOf(t, "topic", name); in.Use != inventory.Idle || len(in.Subscribers) != 0 || in.Capacity != 4 || in.Policy != "block" {
		t.Fatalf("a topic everyone closed: %+v", in)
	}

	// What a peer writes when it subscribes (docs/FORMATS.md), written
	// here through a mapping that is gone before the topic is judged.
	setEntry := func(pid uint32) {
		t.Helper()
		f, err := os.OpenFile(kinds.Path(kinds.Topic, name), os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		st, _ := f.Stat()
		mem, err := unix.Mmap(int(f.Fd()), 0, int(st.Size()), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
		if err != nil {
			t.Fatal(err)
		}
		defer unix.Munmap(mem)
		p := objfmt.Payload(mem)
		atomic.StoreUint64(objfmt.TopicEntry(p, 0).Word, objfmt.EntryWord(pid, pid != 0, 1))
		atomic.StoreUint32(objfmt.TopicWordsOf(p).SubsHigh, 1)
	}

	me := os.Getpid()
	setEntry(uint32(me))
	in := infoOf(t, "topic", name)
	if in.Use != inventory.InUse || !slices.Equal(in.Registered, []int{me}) || len(in.Users) != 0 ||
		!slices.Equal(in.Subscribers, []inventory.Subscriber{{Pid: me, Alive: true, Active: true}}) {
		t.Errorf("a topic unmapped, with a live subscriber: %+v", in)
	}
	if isStale(t, name, true) {
		t.Error("rm --stale --idle would remove a topic with a live subscriber")
	}

	gone := exec.Command("true")
	if err := gone.Run(); err != nil {
		t.Fatal(err)
	}
	setEntry(uint32(gone.Process.Pid))
	if in := infoOf(t, "topic", name); in.Use != inventory.Abandoned || !slices.Equal(in.Died, []int{gone.Process.Pid}) || len(in.Subscribers) != 1 || in.Subscribers[0].Alive {
		t.Errorf("a topic whose only subscriber died: %+v", in)
	}
	if !isStale(t, name, false) {
		t.Error("rm --stale would keep a topic whose only subscriber died")
	}

	setEntry(0)
	if in := infoOf(t, "topic", name); in.Use != inventory.Idle || len(in.Subscribers) != 0 {
		t.Errorf("a topic whose subscription was closed: %+v", in)
	}
	if isStale(t, name, false) || !isStale(t, name, true) {
		t.Error("a closed topic is not kept by rm --stale, or not removed by rm --stale --idle")
	}
}
