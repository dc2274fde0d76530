package inventory_test

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"slices"
	"testing"

	"github.com/ipcchan/ipcchan/cmd/ipcchan/internal/inventory"
	"github.com/ipcchan/ipcchan/internal/kinds"
	"github.com/ipcchan/ipcchan/internal/large"
	"github.com/ipcchan/ipcchan/internal/objfmt"
	"github.com/ipcchan/ipcchan/internal/posix"
	"github.com/ipcchan/ipcchan/internal/testutil"
	"github.com/ipcchan/ipcchan/ipcchan"
)

func init() {
	helpers["hold-pool-ring"] = helperHoldPoolRing
}

// testPoolSize is the pool of the tests' rings: 4 blocks, not the 16 MiB
// of the default.
const testPoolSize = 4 * large.BlockSize

// poolMessage takes 2 of the pool's blocks.
var poolMessage = bytes.Repeat([]byte("a message in the pool\n"), 5000) // 110000 bytes

// openPoolRing opens the ring name with LargeMessages, making it and its
// pool of testPoolSize.
func openPoolRing(name string) (*ipcchan.Ring[[]byte], error) {
	return ipcchan.OpenRing[[]byte](name, ipcchan.Create(), ipcchan.Capacity(4), ipcchan.MsgSize(256),
		ipcchan.LargeMessages(), ipcchan.PoolSize(testPoolSize))
}

// helperHoldPoolRing: RING — makes the ring and its pool, sends
// poolMessage into the pool, says "ready", and holds them until its stdin
// closes, when it closes them cleanly and exits; or until it is killed,
// as a crashed program holds them.
func helperHoldPoolRing(args []string) error {
	r, err := openPoolRing(args[0])
	if err != nil {
		return err
	}
	if err := r.TrySend(poolMessage); err != nil {
		return err
	}
	os.Stdout.WriteString("ready\n")
	io.Copy(io.Discard, os.Stdin)
	return r.Close()
}

// holdPoolRing starts the helper hold-pool-ring on the ring name and
// waits until it holds it. Closing stdin makes it close the ring and exit.
func holdPoolRing(t *testing.T, name string) (helper *exec.Cmd, stdin io.WriteCloser) {
	t.Helper()
	helper = helperCmd(t, "hold-pool-ring", name)
	out, _ := helper.StdoutPipe()
	stdin, _ = helper.StdinPipe()
	if err := helper.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { helper.Process.Kill(); helper.Wait() })
	if l, _ := bufio.NewReader(out).ReadString('\n'); l != "ready\n" {
		t.Fatalf("the helper said %q", l)
	}
	return helper, stdin
}

// poolPath is the file of the pool of the ring name.
func poolPath(name string) string { return posix.ShmDir + objfmt.PoolName("ring", name) }

// poolOf returns what List says of the pool of the ring name, and false
// if it lists none.
func poolOf(t *testing.T, name string) (inventory.Info, bool) {
	t.Helper()
	listing, _ := inventory.List()
	for _, in := range listing.Objects {
		if in.Kind == "pool" && in.Name == name {
			return in, true
		}
	}
	return inventory.Info{}, false
}

// kindsOf returns the kinds of the objects among stale.
func kindsOf(stale []inventory.Info) []string {
	var ks []string
	for _, in := range stale {
		ks = append(ks, in.Kind)
	}
	return ks
}

// TestPoolOfRing: the pool of a ring opened with LargeMessages is listed
// as a pool of that ring, with its size, the bytes its messages hold and
// its runs recovered, which its ring shows too. It goes with its ring: it
// is what its ring is to its users, never stale on its own, and removed
// with it, by rm --stale --idle when everyone closed the ring and by rm
// --stale when its program was killed.
func TestPoolOfRing(t *testing.T) {
	name := testutil.Name(t, ipcchan.UnlinkRing)
	r, err := openPoolRing(name)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := r.TrySend(poolMessage); err != nil {
		t.Fatal(err)
	}
	attr, err := r.Attr()
	if err != nil {
		t.Fatal(err)
	}
	me := os.Getpid()
	p, ok := poolOf(t, name)
	if !ok {
		t.Fatalf("List has no pool of the ring %s", name)
	}
	if p.Of != "ring" || p.Format != "ipcchan" || p.Path != poolPath(name) || p.Orphan || p.Problem != "" ||
		p.PoolSize != int64(attr.PoolSize) || p.PoolInUse != int64(attr.PoolInUse) || p.PoolRecovered != attr.PoolRecovered ||
		p.PoolSize != testPoolSize || p.PoolInUse != 2*large.BlockSize || p.Use != inventory.InUse || !slices.Contains(p.Users, me) {
		t.Errorf("the pool of a ring this process has open: %+v; want of ring %s, %s, %d bytes with %d in use (Attr: %+v), in use by %d",
			p, name, poolPath(name), testPoolSize, 2*large.BlockSize, attr, me)
	}
	if ring := infoOf(t, "ring", name); ring.PoolSize != testPoolSize || ring.PoolInUse != 2*large.BlockSize {
		t.Errorf("the ring of the pool: %+v; want its pool's %d bytes, %d in use", ring, testPoolSize, 2*large.BlockSize)
	}
	if stale := staleOf(t, name, true); len(stale) != 0 {
		t.Errorf("rm --stale --idle would remove %v of a ring in use", kindsOf(stale))
	}
	if got, err := r.TryReceive(); err != nil || !bytes.Equal(got, poolMessage) {
		t.Fatalf("TryReceive = %d bytes, %v", len(got), err)
	}
	if p, _ := poolOf(t, name); p.PoolInUse != 0 {
		t.Errorf("the pool holds %d bytes after its message was received", p.PoolInUse)
	}

	// Its program closed it and exited: idle, as its ring. rm --stale
	// keeps both; rm --stale --idle removes the ring, and the pool goes
	// with it.
	idle := testutil.Name(t, ipcchan.UnlinkRing)
	helper, stdin := holdPoolRing(t, idle)
	stdin.Close()
	if err := helper.Wait(); err != nil {
		t.Fatalf("the helper: %v", err)
	}
	if p, ok := poolOf(t, idle); !ok || p.Use != inventory.Idle || p.Orphan || p.PoolInUse != 2*large.BlockSize {
		t.Errorf("the pool of a ring everyone closed, with a message in it: %+v (listed %v); want idle, %d bytes in use", p, ok, 2*large.BlockSize)
	}
	if stale := staleOf(t, idle, false); len(stale) != 0 {
		t.Errorf("rm --stale would remove %v of a ring everyone closed", kindsOf(stale))
	}
	stale := staleOf(t, idle, true)
	if !slices.Equal(kindsOf(stale), []string{"ring"}) {
		t.Fatalf("rm --stale --idle finds %v of an idle ring with a pool; want the ring alone", kindsOf(stale))
	}
	if err := inventory.Remove(stale[0]); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(poolPath(idle)); !os.IsNotExist(err) {
		t.Errorf("the pool after rm --stale --idle removed its ring: %v", err)
	}

	// Its program was killed while it held it: the ring is abandoned, the
	// pool as its ring, and only the ring is stale; removing it removes the
	// pool.
	dead := testutil.Name(t, ipcchan.UnlinkRing)
	victim, _ := holdPoolRing(t, dead)
	victim.Process.Kill()
	victim.Wait()
	if p, ok := poolOf(t, dead); !ok || p.Use != inventory.Abandoned || p.Orphan || p.PoolInUse != 2*large.BlockSize {
		t.Errorf("the pool of a ring abandoned with a message in it: %+v (listed %v); want abandoned as its ring, %d bytes in use", p, ok, 2*large.BlockSize)
	}
	stale = staleOf(t, dead, false)
	if !slices.Equal(kindsOf(stale), []string{"ring"}) {
		t.Fatalf("rm --stale finds %v of an abandoned ring with a pool; want the ring alone", kindsOf(stale))
	}
	if err := inventory.Remove(stale[0]); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(poolPath(dead)); !os.IsNotExist(err) {
		t.Errorf("the pool after rm --stale removed its abandoned ring: %v", err)
	}
}

// TestOrphanPool: a pool whose ring's file was removed without it (by
// hand, or by a tool that does not know pools) is an orphan: in use while
// a process maps it, and once nobody does, abandoned, and removed by rm
// --stale, alone; the pool of a live ring next to it is kept.
func TestOrphanPool(t *testing.T) {
	live := testutil.Name(t, ipcchan.UnlinkRing)
	lr, err := openPoolRing(live)
	if err != nil {
		t.Fatal(err)
	}
	defer lr.Close()

	name := testutil.Name(t, ipcchan.UnlinkRing) // removes the pool too, if the test fails
	helper, stdin := holdPoolRing(t, name)
	if err := os.Remove(kinds.Path(kinds.Ring, name)); err != nil {
		t.Fatal(err)
	}
	if p, ok := poolOf(t, name); !ok || !p.Orphan || p.Of != "ring" || p.Use != inventory.InUse || !hasPid(p.Users, helper.Process.Pid) {
		t.Errorf("the pool of a removed ring that a process still maps: %+v (listed %v); want an orphan in use by %d", p, ok, helper.Process.Pid)
	}
	if isStale(t, name, true) {
		t.Error("rm --stale --idle would remove a pool that a process maps")
	}

	stdin.Close()
	if err := helper.Wait(); err != nil {
		t.Fatalf("the helper: %v", err)
	}
	if p, ok := poolOf(t, name); !ok || !p.Orphan || p.Use != inventory.Abandoned || p.PoolSize != testPoolSize || len(p.Users) != 0 {
		t.Errorf("the pool of a removed ring that nobody maps: %+v (listed %v); want an abandoned orphan of %d bytes", p, ok, testPoolSize)
	}
	stale := staleOf(t, name, false)
	if len(stale) != 1 || stale[0].Kind != "pool" || stale[0].Path != poolPath(name) {
		t.Fatalf("rm --stale finds %+v of the removed ring %s; want its pool alone", stale, name)
	}
	if stale := staleOf(t, live, true); len(stale) != 0 {
		t.Errorf("rm --stale --idle would remove %v of a ring in use and its pool", kindsOf(stale))
	}
	if err := inventory.Remove(stale[0]); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(poolPath(name)); !os.IsNotExist(err) {
		t.Errorf("the orphan pool after Remove: %v", err)
	}
	if err := inventory.Remove(stale[0]); !errors.Is(err, ipcchan.ErrNotExist) {
		t.Errorf("Remove of a pool already removed: %v; want ErrNotExist", err)
	}
	if p, ok := poolOf(t, live); !ok || p.Use != inventory.InUse || p.Orphan {
		t.Errorf("the pool of the live ring after rm --stale: %+v (listed %v)", p, ok)
	}
	if err := lr.TrySend(poolMessage); err != nil {
		t.Fatal(err)
	}
	if got, err := lr.TryReceive(); err != nil || !bytes.Equal(got, poolMessage) {
		t.Fatalf("the live ring after rm --stale: %d bytes, %v", len(got), err)
	}
}

// TestPoolOfEarlierRing: a pool made for an earlier file of its ring's
// name (the ring there now has another inode) is an orphan as well, and
// rm --stale removes it, not the ring.
func TestPoolOfEarlierRing(t *testing.T) {
	name := testutil.Name(t, ipcchan.UnlinkRing)
	r, err := openPoolRing(name)
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	path := kinds.Path(kinds.Ring, name)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if p, ok := poolOf(t, name); !ok || !p.Orphan {
		t.Fatalf("the pool of an earlier file of the ring's name: %+v (listed %v); want an orphan", p, ok)
	}
	for _, in := range staleOf(t, name, false) {
		if in.Kind != "pool" {
			t.Errorf("rm --stale would remove the %s %s", in.Kind, in.Name)
		}
	}
}
