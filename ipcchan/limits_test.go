package ipcchan_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/ipcchan/ipcchan/internal/testutil"
	"github.com/ipcchan/ipcchan/ipcchan"
)

func init() {
	helpers["fill-queues"] = helperFillQueues
	helpers["rlimit-queue"] = helperRlimitQueue
	helpers["shm-limits"] = helperShmLimits
	helpers["open-kind"] = helperOpenKind
}

// report prints an error the way the tests read it.
func report(err error) {
	if err == nil {
		fmt.Println("ok")
		return
	}
	fmt.Printf("error: %v\n", err)
	for _, s := range []struct {
		name string
		err  error
	}{{"ErrLimit", ipcchan.ErrLimit}, {"ErrPermission", ipcchan.ErrPermission}, {"ErrNotExist", ipcchan.ErrNotExist}} {
		if errors.Is(err, s.err) {
			fmt.Println("is", s.name)
		}
	}
}

// helperFillQueues: PREFIX — creates tiny queues until the kernel refuses,
// reports the refusal, and removes them all.
func helperFillQueues(args []string) error {
	var made []string
	defer func() {
		for _, n := range made {
			ipcchan.UnlinkQueue(n)
		}
	}()
	limit, _ := os.ReadFile("/proc/sys/fs/mqueue/queues_max") // this IPC namespace's
	fmt.Printf("queues_max %s", limit)
	for i := range 100000 {
		name := fmt.Sprintf("%s%d", args[0], i)
		q, err := ipcchan.OpenQueue[[]byte](name, ipcchan.Create(), ipcchan.Capacity(1), ipcchan.MsgSize(1))
		if err != nil {
			fmt.Println("created", len(made))
			report(err)
			return nil
		}
		q.Close()
		made = append(made, name)
	}
	return errors.New("no limit reached")
}

// helperRlimitQueue: NAME BIG SMALL — in an IPC namespace of its own
// (where no other test's queue is), creates BIG (10 x 8192 bytes) and SMALL
// (1 x 100), then with RLIMIT_MSGQUEUE at 1000 bytes, creates NAME (10 x
// 8192 bytes). The namespace, and its queues, go with the process.
func helperRlimitQueue(args []string) error {
	for _, q := range []struct {
		name           string
		capacity, size int
	}{{args[1], 10, 8192}, {args[2], 1, 100}} {
		h, err := ipcchan.OpenQueue[[]byte](q.name, ipcchan.Create(), ipcchan.Capacity(q.capacity), ipcchan.MsgSize(q.size))
		if err != nil {
			return err
		}
		h.Close()
	}
	if err := unix.Setrlimit(unix.RLIMIT_MSGQUEUE, &unix.Rlimit{Cur: 1000, Max: 1000}); err != nil {
		return err
	}
	_, err := ipcchan.OpenQueue[[]byte](args[0], ipcchan.Create(), ipcchan.Capacity(10), ipcchan.MsgSize(8192))
	report(err)
	return nil
}

// helperShmLimits: in a mount namespace of its own, with a 64 KiB tmpfs on
// /dev/shm, creates a 1 MiB shm object; then with a read-only tmpfs, a
// mutex; and lists what is left in /dev/shm.
func helperShmLimits(args []string) error {
	runtime.LockOSThread() // the namespace is this thread's; never unlocked
	if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
		return fmt.Errorf("unshare: %w (needs root)", err)
	}
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return err
	}
	if err := unix.Mount("tmpfs", "/dev/shm", "tmpfs", 0, "size=64k"); err != nil {
		return err
	}
	type Big struct{ Cells [1 << 17]int64 } // 1 MiB
	_, err := ipcchan.OpenShm[Big]("/full", ipcchan.Create())
	fmt.Print("full: ")
	report(err)
	left, _ := os.ReadDir("/dev/shm")
	fmt.Println("left:", len(left))
	if err := unix.Mount("tmpfs", "/dev/shm", "tmpfs", unix.MS_RDONLY, "size=64k"); err != nil {
		return err
	}
	_, err = ipcchan.OpenMutex("/ro", ipcchan.Create())
	fmt.Print("read-only: ")
	report(err)
	return nil
}

// helperOpenKind: KIND NAME... — opens each existing object and uses it (useKind),
// printing one report per object, separated by "--".
func helperOpenKind(args []string) error {
	for i := 0; i+1 < len(args); i += 2 {
		useKind(args[i], args[i+1])
		fmt.Println("--")
	}
	return nil
}

func useKind(kind, name string) {
	var err error
	switch kind {
	case "queue":
		var q *ipcchan.Queue[string]
		if q, err = ipcchan.OpenQueue[string](name); err == nil {
			err = q.TrySend("from another user")
		}
	case "semaphore":
		var s *ipcchan.Semaphore
		if s, err = ipcchan.OpenSemaphore(name); err == nil {
			err = s.Release()
		}
	case "mutex":
		var m *ipcchan.Mutex
		if m, err = ipcchan.OpenMutex(name); err == nil {
			if err = m.LockContext(context.Background()); err == nil {
				m.Unlock()
			}
		}
	case "waitgroup":
		var w *ipcchan.WaitGroup
		if w, err = ipcchan.OpenWaitGroup(name); err == nil {
			err = w.Add(1)
		}
	case "shm":
		var sh *ipcchan.Shm[Stats]
		if sh, err = ipcchan.OpenShm[Stats](name); err == nil {
			sh.Ptr().Hits.Add(1)
		}
	}
	report(err)
}

// TestLimitQueuesMax: an unprivileged user who reaches queues_max is told
// the limit and how to raise it. The helper fills an IPC namespace of its
// own (queues_max is the namespace's), never the machine's, where other
// programs would find no queue left; the namespace goes with it.
func TestLimitQueuesMax(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("this test makes an IPC namespace, which needs root")
	}
	prefix := "/" + testutil.Prefix + "fill-"
	cmd := testutil.HelperAs(t, nobody, nobody, "fill-queues", prefix)
	cmd.SysProcAttr.Cloneflags = syscall.CLONE_NEWIPC
	b, err := cmd.Output()
	if err != nil {
		t.Fatalf("fill-queues: %v\n%s", err, b)
	}
	out := string(b)
	if !strings.Contains(out, "is ErrLimit") || !strings.Contains(out, "queues_max") || !strings.Contains(out, "sysctl fs.mqueue.queues_max") {
		t.Errorf("filling a namespace with queues said:\n%s", out)
	}
	var limit, created int
	if _, err := fmt.Sscanf(out, "queues_max %d\ncreated %d", &limit, &created); err != nil || created != limit {
		t.Errorf("the helper made %d queues where queues_max is %d (%v):\n%s", created, limit, err, out)
	}
	t.Logf("created %d queues, queues_max of a new IPC namespace", created)
}

// TestLimitRlimitMsgqueue: a queue beyond RLIMIT_MSGQUEUE is refused with
// the limit, what the queue needs, how to raise it, and the largest queues
// the user already has, which are what uses the budget up.
//
// It runs in sandboxes where /dev/mqueue is missing, the namespace's own,
// and another's: the helper's own namespace is never /dev/mqueue's.
func TestLimitRlimitMsgqueue(t *testing.T) {
	if testutil.InSandbox(t) {
		return
	}
	name := queueName(t)
	cmd := helperCmd(t, "rlimit-queue", name, "/big", "/small")
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWIPC}
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	s := string(out)
	if !strings.Contains(s, "is ErrLimit") || !strings.Contains(s, "RLIMIT_MSGQUEUE (1000 bytes") || !strings.Contains(s, "this one needs 82880") || !strings.Contains(s, "ulimit -q") {
		t.Errorf("creating beyond RLIMIT_MSGQUEUE said:\n%s", s)
	}
	if want := "its 2 queues hold 83076 bytes; the largest: /big (82880 bytes, 0 of 10 messages), /small (196 bytes, 0 of 1 messages)"; !strings.Contains(s, want) {
		t.Errorf("the error does not name the user's queues, largest first (%q):\n%s", want, s)
	}
	if _, err := ipcchan.OpenQueue[[]byte](name); !errors.Is(err, ipcchan.ErrNotExist) {
		t.Errorf("the refused queue exists: %v", err)
	}
}

// TestLimitShmFullAndReadOnly: a full or read-only /dev/shm is an error
// that names it, not a crash, and leaves nothing half-made.
func TestLimitShmFullAndReadOnly(t *testing.T) {
	out, err := helperCmd(t, "shm-limits").Output()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	s := string(out)
	for _, want := range []string{"full: error:", "/dev/shm is full", "left: 0", "read-only: error:", "/dev/shm is mounted read-only"} {
		if !strings.Contains(s, want) {
			t.Errorf("lacks %q:\n%s", want, s)
		}
	}
	if strings.Count(s, "is ErrLimit") != 2 {
		t.Errorf("both errors should be ErrLimit:\n%s", s)
	}
}

// TestPermissionsAllKinds: objects created by root with the default mode
// (0600) are refused to another user with ErrPermission; with Perm(0o666)
// that user can open and use them.
func TestPermissionsAllKinds(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("this test runs a helper as nobody, which needs root")
	}
	type check struct {
		kind, name string
		perm       os.FileMode
	}
	var checks []check
	var args []string
	for _, kind := range []string{"queue", "semaphore", "mutex", "waitgroup", "shm"} {
		for _, perm := range []os.FileMode{0o600, 0o666} {
			var name string
			var closer interface{ Close() error }
			var err error
			opts := []ipcchan.Option{ipcchan.Create(), ipcchan.Perm(perm)}
			switch kind {
			case "queue":
				name = queueName(t)
				closer, err = ipcchan.OpenQueue[string](name, opts...)
			case "semaphore":
				name = semName(t)
				closer, err = ipcchan.OpenSemaphore(name, opts...)
			case "mutex":
				name = mutexName(t)
				closer, err = ipcchan.OpenMutex(name, opts...)
			case "waitgroup":
				name = wgName(t)
				closer, err = ipcchan.OpenWaitGroup(name, opts...)
			case "shm":
				name = shmName(t)
				closer, err = ipcchan.OpenShm[Stats](name, opts...)
			}
			if err != nil {
				t.Fatal(err)
			}
			defer closer.Close()
			checks = append(checks, check{kind, name, perm})
			args = append(args, kind, name)
		}
	}
	reports := strings.Split(runUnprivileged(t, "open-kind", args...), "--\n")
	if len(reports) < len(checks) {
		t.Fatalf("%d reports for %d checks", len(reports), len(checks))
	}
	for i, c := range checks {
		want := "is ErrPermission"
		if c.perm == 0o666 {
			want = "ok"
		}
		if !strings.Contains(reports[i], want) {
			t.Errorf("nobody opening a %s of mode %04o said %q, want %q", c.kind, c.perm, strings.TrimSpace(reports[i]), want)
		}
	}
}
