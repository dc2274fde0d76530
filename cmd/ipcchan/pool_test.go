package main

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/ipcchan/ipcchan/internal/kinds"
	"github.com/ipcchan/ipcchan/internal/objfmt"
	"github.com/ipcchan/ipcchan/internal/posix"
	"github.com/ipcchan/ipcchan/internal/testutil"
	"github.com/ipcchan/ipcchan/ipcchan"
)

// TestPoolInTheTool: ls lists the pool of a ring opened with
// LargeMessages as a pool of that ring, with its size and the bytes its
// messages hold; stat of the ring shows them and the runs recovered, in
// text and JSON; rm of the ring's name removes the ring and its pool, the
// pool not being another object of that name. A pool whose ring's file
// was removed is shown as left behind, and rm --stale removes it. In a
// sandbox of its own: ls and rm --stale see the whole machine.
func TestPoolInTheTool(t *testing.T) {
	if testutil.InSandbox(t, testutil.OwnMqueueMount) {
		return
	}
	const poolSize = 4 << 16 // 4 blocks
	name := testutil.Name(t, ipcchan.UnlinkRing)
	r, err := ipcchan.OpenRing[[]byte](name, ipcchan.Create(), ipcchan.Capacity(4), ipcchan.MsgSize(256), ipcchan.LargeMessages(), ipcchan.PoolSize(poolSize))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := r.Send(t.Context(), make([]byte, 100000)); err != nil { // 2 blocks
		t.Fatal(err)
	}
	pool := posix.ShmDir + objfmt.PoolName("ring", name)

	all := lsJSON(t)
	if p, ok := all["pool "+name]; !ok || p.Of != "ring" || p.Format != "ipcchan" || p.Path != pool || p.PoolSize != poolSize || p.PoolInUse != 2<<16 || p.Orphan {
		t.Errorf("ls lists the pool as %+v (listed %v)", p, ok)
	}
	if _, ok := all["shm /"+objfmt.PoolName("ring", name)]; ok {
		t.Errorf("ls lists the pool as a shm object")
	}
	if in := all["ring "+name]; in.PoolSize != poolSize || in.PoolInUse != 2<<16 {
		t.Errorf("ls lists the ring of the pool as %+v", in)
	}
	table := mustRun(t, "ls")
	if want := fmt.Sprintf("pool of %d bytes, %d in use, of ring %s, open in %d", poolSize, 2<<16, name, os.Getpid()); !strings.Contains(table, want) {
		t.Errorf("the table does not say %q:\n%s", want, table)
	}
	if want := fmt.Sprintf("pool of %d bytes, %d in use", poolSize, 2<<16); !strings.Contains(table, want) {
		t.Errorf("the table's ring does not say %q:\n%s", want, table)
	}
	st := mustRun(t, "stat", name)
	for _, want := range []string{
		fmt.Sprintf("pool       %d bytes, %d in use by messages, loans and views (%s)", poolSize, 2<<16, pool),
		"recovered  0 slots and 0 runs of its pool taken back",
		"pool " + name, "of         ring " + name + ": it goes with it",
		"use        in use: mapped or open in " + fmt.Sprint(os.Getpid()),
	} {
		if !strings.Contains(st, want) {
			t.Errorf("stat does not say %q:\n%s", want, st)
		}
	}
	if js := statJSON(t, name); js["ring"].PoolSize != poolSize || js["ring"].PoolInUse != 2<<16 || js["pool"].Of != "ring" {
		t.Errorf("stat --json: %+v", js)
	}
	if out := mustRun(t, "rm", "--stale", "--idle", "--dry-run"); strings.Contains(out, name) {
		t.Errorf("rm --stale --idle would remove a ring in use, or its pool:\n%s", out)
	}
	mustRun(t, "rm", name)
	if _, err := os.Stat(pool); !os.IsNotExist(err) {
		t.Errorf("the pool after rm of its ring: %v", err)
	}
	for key, in := range lsJSON(t) {
		if in.Name == name {
			t.Errorf("after rm, ls still lists %s", key)
		}
	}

	// A pool left behind: the ring's file removed alone, after ipcchan
	// mk made it with a pool and send put a message in it.
	orphan := testutil.Name(t, ipcchan.UnlinkRing)
	mustRun(t, "mk", "ring", orphan, "--msgsize", "64", "--pool", fmt.Sprint(poolSize))
	mustRun(t, "send", orphan, strings.Repeat("x", 1000))
	if err := os.Remove(kinds.Path(kinds.Ring, orphan)); err != nil {
		t.Fatal(err)
	}
	if p := lsJSON(t)["pool "+orphan]; !p.Orphan || p.Use != "abandoned" {
		t.Errorf("ls lists a pool left behind as %+v", p)
	}
	if table := mustRun(t, "ls"); !strings.Contains(table, "of ring "+orphan+", which is gone") {
		t.Errorf("the table does not say the pool's ring is gone:\n%s", table)
	}
	orphanPool := posix.ShmDir + objfmt.PoolName("ring", orphan)
	if got := removedPaths(mustRun(t, "rm", "--stale")); len(got) != 1 || got[0] != orphanPool {
		t.Errorf("rm --stale removed %v, want %s alone", got, orphanPool)
	}
	if _, err := os.Stat(orphanPool); !os.IsNotExist(err) {
		t.Errorf("the pool left behind after rm --stale: %v", err)
	}

	// A queue's pool: listed as the queue's, shown by stat of the queue,
	// removed with it.
	qname := testutil.Name(t, ipcchan.UnlinkQueue)
	q, err := ipcchan.OpenQueue[[]byte](qname, ipcchan.Create(), ipcchan.MsgSize(256), ipcchan.LargeMessages(), ipcchan.PoolSize(poolSize))
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	if err := q.Send(t.Context(), make([]byte, 100000)); err != nil {
		t.Fatal(err)
	}
	qpool := posix.ShmDir + objfmt.PoolName("queue", qname)
	if p, ok := lsJSON(t)["pool "+qname]; !ok || p.Of != "queue" || p.Path != qpool || p.PoolSize != poolSize || p.PoolInUse != 2<<16 || p.Orphan {
		t.Errorf("ls lists the queue's pool as %+v (listed %v)", p, ok)
	}
	if st, want := mustRun(t, "stat", qname), fmt.Sprintf("pool       %d bytes, %d in use by large messages", poolSize, 2<<16); !strings.Contains(st, want) {
		t.Errorf("stat of the queue does not say %q:\n%s", want, st)
	}
	mustRun(t, "rm", qname)
	if _, err := os.Stat(qpool); !os.IsNotExist(err) {
		t.Errorf("the queue's pool after rm of its queue: %v", err)
	}

	// A topic's pool, the same.
	tname := testutil.Name(t, ipcchan.UnlinkTopic)
	tp, err := ipcchan.OpenTopic[[]byte](tname, ipcchan.Create(), ipcchan.MsgSize(256), ipcchan.LargeMessages(), ipcchan.PoolSize(poolSize))
	if err != nil {
		t.Fatal(err)
	}
	defer tp.Close()
	sub, err := tp.Subscribe() // a subscription yet to read it keeps the message in the pool
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	if err := tp.Send(t.Context(), make([]byte, 100000)); err != nil {
		t.Fatal(err)
	}
	tpool := posix.ShmDir + objfmt.PoolName("topic", tname)
	if p, ok := lsJSON(t)["pool "+tname]; !ok || p.Of != "topic" || p.Path != tpool || p.PoolSize != poolSize || p.PoolInUse != 2<<16 || p.Orphan {
		t.Errorf("ls lists the topic's pool as %+v (listed %v)", p, ok)
	}
	if st, want := mustRun(t, "stat", tname), fmt.Sprintf("pool       %d bytes, %d in use by large messages, loans and views", poolSize, 2<<16); !strings.Contains(st, want) {
		t.Errorf("stat of the topic does not say %q:\n%s", want, st)
	}
	mustRun(t, "rm", tname)
	if _, err := os.Stat(tpool); !os.IsNotExist(err) {
		t.Errorf("the topic's pool after rm of its topic: %v", err)
	}
}
