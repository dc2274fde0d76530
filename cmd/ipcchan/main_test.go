package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ipcchan/ipcchan/cmd/ipcchan/internal/inventory"
	"github.com/ipcchan/ipcchan/codec"
	"github.com/ipcchan/ipcchan/internal/testutil"
	"github.com/ipcchan/ipcchan/ipcchan"
)

var exe string

// exeEnv hands the binary built by TestMain to the tests of this package
// that run again in a sandbox (testutil.InSandbox).
const exeEnv = "IPCCHAN_TEST_EXE"

func TestMain(m *testing.M) {
	testutil.RunHelpers(map[string]func([]string) error{
		"abandon":   helperAbandon,
		"hold-shm":  helperHoldShm,
		"subscribe": helperSubscribe,
		"serve":     helperServe,
	})
	if exe = os.Getenv(exeEnv); exe != "" && testutil.Sandbox() != "" {
		os.Exit(testutil.Main(m, ipcchan.UnlinkQueue))
	}
	dir, err := os.MkdirTemp("", "ipcchan-cli-test-")
	if err != nil {
		panic(err)
	}
	os.Chmod(dir, 0o755) // also run as nobody
	exe = filepath.Join(dir, "ipcchan")
	if out, err := exec.Command("go", "build", "-o", exe, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "go build: %v\n%s", err, out)
		os.Exit(1)
	}
	os.Setenv(exeEnv, exe)
	code := testutil.Main(m, ipcchan.UnlinkQueue)
	os.RemoveAll(dir)
	os.Exit(code)
}

// Tick is what testdata/ringpeer.c sends and receives.
type Tick struct {
	Seq   uint64
	Price float64
	Side  int32
	_     [4]byte
}

// helperAbandon: KIND NAME... — creates each object (kinds shm, mutex,
// waitgroup, ring, tickring, topic: subscribed to; server: a service of
// int64 to int64, served; service: the same, and a client of it that has
// made a call) and keeps it open, says "ready", and waits to be killed:
// its objects are left as a crashed program leaves them.
func helperAbandon(args []string) error {
	var held []io.Closer
	for i := 0; i+1 < len(args); i += 2 {
		var c io.Closer
		var err error
		switch name := args[i+1]; args[i] {
		case "shm":
			c, err = ipcchan.OpenShmSlice[byte](name, 64, ipcchan.Create())
		case "mutex":
			c, err = ipcchan.OpenMutex(name, ipcchan.Create())
		case "waitgroup":
			c, err = ipcchan.OpenWaitGroup(name, ipcchan.Create())
		case "ring":
			c, err = ipcchan.OpenRing[[]byte](name, ipcchan.Create(), ipcchan.Capacity(4))
		case "tickring":
			c, err = ipcchan.OpenRing[Tick](name, ipcchan.Create(), ipcchan.Capacity(4))
		case "topic":
			var tp *ipcchan.Topic[[]byte]
			if tp, err = ipcchan.OpenTopic[[]byte](name, ipcchan.Create(), ipcchan.Capacity(4)); err == nil {
				var sub *ipcchan.Subscription[[]byte]
				if sub, err = tp.Subscribe(); err == nil {
					held = append(held, sub)
				}
			}
			c = tp
		case "server", "service":
			var srv *ipcchan.Server[int64, int64]
			if srv, err = ipcchan.OpenServer[int64, int64](name, ipcchan.Create(), ipcchan.Capacity(4)); err != nil {
				break
			}
			go srv.Serve(context.Background(), double)
			c = srv
			if args[i] == "service" {
				var cl *ipcchan.Client[int64, int64]
				if cl, err = ipcchan.OpenClient[int64, int64](name); err == nil {
					held = append(held, cl)
					if n, cerr := cl.Call(context.Background(), 21); cerr != nil || n != 42 {
						err = fmt.Errorf("a call of %s: %d, %v", name, n, cerr)
					}
				}
			}
		default:
			err = fmt.Errorf("unknown kind %q", args[i])
		}
		if err != nil {
			return err
		}
		held = append(held, c)
	}
	fmt.Println("ready")
	io.Copy(io.Discard, os.Stdin) // until killed
	runtime.KeepAlive(held)
	return nil
}

// helperHoldShm: SHM — maps it, says "mapped", and waits for stdin to close.
func helperHoldShm(args []string) error {
	sh, err := ipcchan.OpenShmSlice[byte](args[0], 0)
	if err != nil {
		return err
	}
	fmt.Println("mapped")
	bufio.NewReader(os.Stdin).ReadString('\n')
	return sh.Close()
}

// run runs the ipcchan binary and returns its stdout, stderr and status.
func run(t *testing.T, stdin string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(exe, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), errb.String(), code
}

func mustRun(t *testing.T, args ...string) string {
	t.Helper()
	out, errs, code := run(t, "", args...)
	if code != 0 {
		t.Fatalf("ipcchan %v: status %d\n%s", args, code, errs)
	}
	return out
}

// statJSON returns ipcchan stat NAME --json, by kind: nothing when there
// is no object of that name.
func statJSON(t *testing.T, name string) map[string]inventory.Info {
	t.Helper()
	out, errs, code := run(t, "", "stat", name, "--json")
	m := map[string]inventory.Info{}
	if code == exitNotFound {
		return m
	}
	var infos []inventory.Info
	if code != 0 {
		t.Fatalf("ipcchan stat %s --json: status %d\n%s", name, code, errs)
	}
	if err := json.Unmarshal([]byte(out), &infos); err != nil {
		t.Fatal(err)
	}
	for _, in := range infos {
		m[in.Kind] = in
	}
	return m
}

// lsJSON returns ipcchan ls --json, by kind and name; only tests in a
// sandbox of their own call it (testutil.InSandbox), where every object is
// theirs.
func lsJSON(t *testing.T) map[string]inventory.Info {
	t.Helper()
	var infos []inventory.Info
	if err := json.Unmarshal([]byte(mustRun(t, "ls", "--json")), &infos); err != nil {
		t.Fatal(err)
	}
	m := map[string]inventory.Info{}
	for _, in := range infos {
		m[in.Kind+" "+in.Name] = in
	}
	return m
}

func TestLsAndStat(t *testing.T) {
	if testutil.InSandbox(t) { // ls lists the whole machine
		return
	}
	sempeer, shmpeer := testutil.BuildC(t, "sempeer"), testutil.BuildC(t, "shmpeer")
	q := testutil.Name(t, ipcchan.UnlinkQueue)
	qh, err := ipcchan.OpenQueue[string](q, ipcchan.Create(), ipcchan.Capacity(4), ipcchan.MsgSize(100))
	if err != nil {
		t.Fatal(err)
	}
	defer qh.Close()
	qh.Send(t.Context(), "one")
	qh.Send(t.Context(), "two")
	cSem := testutil.Name(t, ipcchan.UnlinkSemaphore)
	if out, err := exec.Command(sempeer, "create", cSem, "5").CombinedOutput(); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	plain := testutil.Name(t, ipcchan.UnlinkShm)
	if out, err := exec.Command(shmpeer, "create", plain, "100").CombinedOutput(); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	type Grid struct{ Cells [8]float64 }
	shm := testutil.Name(t, ipcchan.UnlinkShm)
	sh, err := ipcchan.OpenShm[Grid](shm, ipcchan.Create(), ipcchan.Perm(0o640))
	if err != nil {
		t.Fatal(err)
	}
	defer sh.Close()
	mu := testutil.Name(t, ipcchan.UnlinkMutex)
	m, err := ipcchan.OpenMutex(mu, ipcchan.Create())
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	m.Lock()
	defer m.Unlock()
	wgn := testutil.Name(t, ipcchan.UnlinkWaitGroup)
	wg, err := ipcchan.OpenWaitGroup(wgn, ipcchan.Create())
	if err != nil {
		t.Fatal(err)
	}
	defer wg.Close()
	wg.Add(3)

	all := lsJSON(t)
	check := func(key string, ok func(inventory.Info) bool) {
		t.Helper()
		in, found := all[key]
		if !found {
			t.Errorf("ls does not list %s", key)
		} else if !ok(in) {
			t.Errorf("ls lists %s as %+v", key, in)
		}
	}
	check("queue "+q, func(in inventory.Info) bool {
		return in.Len == 2 && in.Capacity == 4 && in.MsgSize == 100 && in.Owner == "root"
	})
	check("semaphore "+cSem, func(in inventory.Info) bool { return in.Value == 5 && in.Format == "glibc" })
	check("shm "+plain, func(in inventory.Info) bool { return in.Format == "posix" && in.Size == 100 })
	check("shm "+shm, func(in inventory.Info) bool {
		return in.Format == "ipcchan" && in.Type == "main.Grid" && in.Mode == 0o640 && slices.Contains(in.Users, os.Getpid())
	})
	check("mutex "+mu, func(in inventory.Info) bool { return in.Holder == os.Getpid() && in.HolderAlive })
	check("waitgroup "+wgn, func(in inventory.Info) bool { return in.Count == 3 })

	// The table: a header, then one aligned row per object.
	table := mustRun(t, "ls")
	lines := strings.Split(strings.TrimSpace(table), "\n")
	col := strings.Index(lines[0], "DETAILS")
	if !strings.HasPrefix(lines[0], "KIND") || col < 0 {
		t.Fatalf("table header %q", lines[0])
	}
	for _, want := range []string{q + " ", "2/4 messages of at most 100 bytes", "value 5", "ipcchan main.Grid", fmt.Sprintf("held by %d", os.Getpid()), "count 3", "plain"} {
		if !strings.Contains(table, want) {
			t.Errorf("the table lacks %q:\n%s", want, table)
		}
	}
	for _, l := range lines[1:] {
		if strings.Contains(l, testutil.Prefix) && (len(l) < col || l[col-1] != ' ' || l[col] == ' ') {
			t.Errorf("row not aligned under DETAILS: %q", l)
		}
	}

	// Below the table, what the user's queues are charged of RLIMIT_MSGQUEUE.
	var lim syscall.Rlimit
	syscall.Getrlimit(unix.RLIMIT_MSGQUEUE, &lim)
	budget := regexp.MustCompile(`\n(\d+) queues? of root: charged (\d+) bytes of the (\d+) bytes that RLIMIT_MSGQUEUE \(ulimit -q\) allows the user\n$`).FindStringSubmatch(table)
	if budget == nil || budget[3] != strconv.FormatUint(lim.Cur, 10) {
		t.Errorf("the table does not end with the budget of RLIMIT_MSGQUEUE %d:\n%s", lim.Cur, table)
	} else if n, _ := strconv.Atoi(budget[2]); n < 4*100+4*48+4*48 { // at least this test's queue (posix.MqBytes)
		t.Errorf("the budget line counts %d bytes, less than this test's queue alone", n)
	}

	out := mustRun(t, "stat", q)
	for _, want := range []string{"queue " + q, "messages   2 of 4", "msgsize    100", "mode       0600", "charge     784 bytes of its owner's RLIMIT_MSGQUEUE"} {
		if !strings.Contains(out, want) {
			t.Errorf("stat lacks %q:\n%s", want, out)
		}
	}
	if _, errs, code := run(t, "", "stat", "/"+testutil.Prefix+"missing"); code != exitNotFound || !strings.Contains(errs, "no object is called") {
		t.Errorf("stat of a missing name: status %d, %q", code, errs)
	}
	if _, _, code := run(t, "", "stat", "noslash"); code != exitUsage {
		t.Errorf("stat of an invalid name: status %d", code)
	}
}

type Job struct {
	ID   int
	File string
}

func TestMkSendRecv(t *testing.T) {
	q := testutil.Name(t, ipcchan.UnlinkQueue)
	mustRun(t, "mk", "queue", q, "--capacity", "3", "--msgsize", "64", "--perm", "0640")
	if _, errs, code := run(t, "", "mk", "queue", q); code != exitFailed || !strings.Contains(errs, "already exists") {
		t.Errorf("mk of an existing queue: status %d, %q", code, errs)
	}
	if in := statJSON(t, q)["queue"]; in.Capacity != 3 || in.MsgSize != 64 || in.Mode != 0o640 {
		t.Errorf("made queue %+v", in)
	}
	mustRun(t, "send", q, "--priority", "2", "first", "second")
	if _, _, code := run(t, "low\n", "send", q); code != 0 {
		t.Fatalf("send from stdin: %d", code)
	}
	if out := mustRun(t, "recv", q); out != "first\nsecond\nlow\n" {
		t.Errorf("recv printed %q", out)
	}
	// Typed messages from a Go program come out as JSON.
	jobs, err := ipcchan.OpenQueue[Job](q)
	if err != nil {
		t.Fatal(err)
	}
	defer jobs.Close()
	jobs.Send(t.Context(), Job{ID: 7, File: "a.png"})
	if out := mustRun(t, "recv", q, "--json"); out != `{"prio":0,"value":{"File":"a.png","ID":7}}`+"\n" {
		t.Errorf("recv of a typed message printed %q", out)
	}
	// A struct's bytes (codec.Layout: no header says what they are) in hex.
	type Point struct{ X, Y int32 }
	points, err := ipcchan.OpenQueue[Point](q, ipcchan.WithCodec(codec.Layout))
	if err != nil {
		t.Fatal(err)
	}
	defer points.Close()
	points.Send(t.Context(), Point{X: 1, Y: -2})
	if out := mustRun(t, "recv", q); out != "hex 01000000feffffff\n" {
		t.Errorf("recv of a Layout message printed %q", out)
	}
	// Waiting: status 4 when nothing comes; the end of the stream ends --follow.
	if _, errs, code := run(t, "", "recv", q, "-n", "1", "--timeout", "50ms"); code != exitTimeout || !strings.Contains(errs, "timed out") {
		t.Errorf("recv -n 1 on an empty queue: status %d, %q", code, errs)
	}
	mustRun(t, "send", q, "last", "--end")
	if out := mustRun(t, "recv", q, "--follow"); out != "last\n" {
		t.Errorf("recv --follow printed %q", out)
	}
	// Errors advise a shell user in shell terms, not in Go's.
	if _, errs, code := run(t, "", "send", q, strings.Repeat("x", 65)); code != exitFailed || !strings.Contains(errs, "MsgSize of 64") ||
		!strings.Contains(errs, "ipcchan mk queue "+q+" --msgsize N") || strings.Contains(errs, "recreate the queue") {
		t.Errorf("send of a long message: status %d, %q", code, errs)
	}
	missing := "/" + testutil.Prefix + "nothere"
	if _, errs, code := run(t, "", "send", missing, "x"); code != exitNotFound || !strings.Contains(errs, "queue "+missing+": open: does not exist; create it with `ipcchan mk queue "+missing+"`") ||
		strings.Contains(errs, "ipcchan.Create()") {
		t.Errorf("send to a missing queue: status %d, %q", code, errs)
	}
	if _, errs, code := run(t, "", "mk", "queue", q); code != exitFailed || !strings.Contains(errs, "already exists") || !strings.Contains(errs, "ipcchan rm "+q) ||
		strings.Contains(errs, "Exclusive()") {
		t.Errorf("mk of an existing queue: status %d, %q", code, errs)
	}
}

func TestPostWait(t *testing.T) {
	sempeer := testutil.BuildC(t, "sempeer")
	s := testutil.Name(t, ipcchan.UnlinkSemaphore)
	mustRun(t, "mk", "sem", s)
	if _, _, code := run(t, "", "wait", s, "--timeout", "50ms"); code != exitTimeout {
		t.Errorf("wait on 0: status %d, want %d", code, exitTimeout)
	}
	mustRun(t, "post", s, "-n", "2")
	if out, _ := exec.Command(sempeer, "value", s).Output(); strings.TrimSpace(string(out)) != "2" {
		t.Errorf("C sees the value as %q after post -n 2", out)
	}
	mustRun(t, "wait", s)
	if in := statJSON(t, s)["semaphore"]; in.Value != 1 {
		t.Errorf("value %d after a wait", in.Value)
	}
	// A sleeping wait is woken by C's sem_post.
	cmd := exec.Command(exe, "wait", s, "--timeout", "20s")
	mustRun(t, "wait", s)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for deadline := 0; statJSON(t, s)["semaphore"].Waiters == 0; deadline++ {
		if deadline > 10000 {
			t.Fatal("ipcchan wait never slept")
		}
	}
	exec.Command(sempeer, "post", s, "1").Run()
	if err := cmd.Wait(); err != nil {
		t.Errorf("wait woken by C: %v", err)
	}
}

func TestRm(t *testing.T) {
	name := testutil.Name(t, ipcchan.UnlinkQueue)
	testutil.Name(t, ipcchan.UnlinkSemaphore) // cleanup of the same name as a semaphore
	mustRun(t, "mk", "queue", name)
	mustRun(t, "mk", "sem", name)
	if _, errs, code := run(t, "", "rm", name); code != exitFailed || !strings.Contains(errs, "names a queue and a semaphore; say which to remove with --kind") {
		t.Errorf("rm of an ambiguous name: status %d, %q", code, errs)
	}
	mustRun(t, "rm", name, "--kind", "sem")
	mustRun(t, "rm", name)
	if _, ok := statJSON(t, name)["queue"]; ok {
		t.Error("the queue is still there")
	}
	if _, errs, code := run(t, "", "rm", name); code != exitNotFound || !strings.Contains(errs, "no object is called") {
		t.Errorf("rm of a missing name: status %d, %q", code, errs)
	}
	if _, _, code := run(t, "", "rm", "bad/name"); code != exitUsage {
		t.Errorf("rm of an invalid name: status %d", code)
	}
	if _, _, code := run(t, "", "rm", name, "--kind", "pipe"); code != exitUsage {
		t.Errorf("rm --kind pipe: status %d", code)
	}
}

// TestRmStale: rm --stale removes what is abandoned, and nothing a user
// keeps. Removed: the objects of a program SIGKILLed while it held them,
// and a dead creator's half-built file. Kept, byte for byte: objects made
// with ipcchan mk and closed (idle), objects without a users table (a
// queue, a glibc semaphore, a plain shm object), an object in use by this
// process, and one whose creator died while a C program still maps it.
// --idle removes the idle ipcchan objects too, and only them. In a sandbox
// of its own: it acts on the whole machine.
func TestRmStale(t *testing.T) {
	if testutil.InSandbox(t, testutil.OwnMqueueMount) {
		return
	}
	ringpeer, sempeer, shmpeer := testutil.BuildC(t, "ringpeer"), testutil.BuildC(t, "sempeer"), testutil.BuildC(t, "shmpeer")
	unlink := map[string]func(string) error{"shm": ipcchan.UnlinkShm, "mutex": ipcchan.UnlinkMutex,
		"waitgroup": ipcchan.UnlinkWaitGroup, "ring": ipcchan.UnlinkRing}

	// Idle: made as a user makes them, closed cleanly.
	idle := map[string]string{}
	for _, kind := range []string{"shm", "mutex", "waitgroup", "ring"} {
		idle[kind] = testutil.Name(t, unlink[kind])
		args := []string{"mk", kind, idle[kind]}
		if kind == "shm" {
			args = append(args, "--size", "64")
		}
		mustRun(t, args...)
	}
	if out, err := exec.Command(shmpeer, "write", idle["shm"], "200", "i64", "42").CombinedOutput(); err != nil { // state kept for the next run
		t.Fatalf("shmpeer write: %v %s", err, out)
	}
	// Without a users table.
	q := testutil.Name(t, ipcchan.UnlinkQueue)
	mustRun(t, "mk", "queue", q)
	mustRun(t, "send", q, "kept for the next run")
	sem := testutil.Name(t, ipcchan.UnlinkSemaphore)
	if out, err := exec.Command(sempeer, "create", sem, "2").CombinedOutput(); err != nil {
		t.Fatalf("sempeer create: %v %s", err, out)
	}
	plain := testutil.Name(t, ipcchan.UnlinkShm)
	if out, err := exec.Command(shmpeer, "create", plain, "100").CombinedOutput(); err != nil {
		t.Fatalf("shmpeer create: %v %s", err, out)
	}
	// In use by this process.
	used := testutil.Name(t, ipcchan.UnlinkShm)
	sh, err := ipcchan.OpenShmSlice[byte](used, 64, ipcchan.Create())
	if err != nil {
		t.Fatal(err)
	}
	defer sh.Close()

	// Abandoned: a program killed while it held them; and a ring its
	// killed creator shared with a C program, which still maps it.
	dead := map[string]string{}
	var args []string
	for _, kind := range []string{"shm", "mutex", "waitgroup", "ring"} {
		dead[kind] = testutil.Name(t, unlink[kind])
		args = append(args, kind, dead[kind])
	}
	shared := testutil.Name(t, ipcchan.UnlinkRing)
	args = append(args, "tickring", shared)
	victim := testutil.Helper(t, "abandon", args...)
	hold := startReady(t, victim) // never closed before the kill
	defer hold.Close()
	cpeer := exec.CommandContext(t.Context(), ringpeer, "recv", shared, "1")
	cpeer.Stderr = os.Stderr
	cout, _ := cpeer.StdoutPipe()
	if err := cpeer.Start(); err != nil {
		t.Fatal(err)
	}
	victim.Process.Kill()
	victim.Wait()
	waitUntil(t, "the C peer to map the ring", func() bool { return slices.Contains(statJSON(t, shared)["ring"].Users, cpeer.Process.Pid) })
	// A dead creator's half-built file, and a live one's.
	deadTmp := fmt.Sprintf("/dev/shm/.ipcchan-tmp-%d-deadbeef", victim.Process.Pid)
	liveTmp := fmt.Sprintf("/dev/shm/.ipcchan-tmp-%d-cafef00d", os.Getpid())
	for _, p := range []string{deadTmp, liveTmp} {
		os.WriteFile(p, nil, 0o600)
		t.Cleanup(func() { os.Remove(p) })
	}

	kept := []string{idle["shm"], idle["mutex"], idle["waitgroup"], idle["ring"], q, sem, plain, used, shared}
	before := contents(t)

	// From a PID namespace of its own (a container's, whose /dev/shm other
	// containers may share), nobody's death can be told: nothing is stale.
	inPidNS := exec.CommandContext(t.Context(), exe, "rm", "--stale", "--idle", "--dry-run")
	inPidNS.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWPID}
	var pidOut, pidErr strings.Builder
	inPidNS.Stdout, inPidNS.Stderr = &pidOut, &pidErr
	if err := inPidNS.Run(); err != nil || pidOut.String() != "nothing stale\n" || !strings.Contains(pidErr.String(), "PID namespace of its own") {
		t.Errorf("rm --stale --idle --dry-run in a PID namespace of its own: %v\n%s%s", err, pidOut.String(), pidErr.String())
	}

	wantAbandoned := []string{"/dev/shm/" + dead["shm"][1:], "/dev/shm/ipcchan.mutex." + dead["mutex"][1:],
		"/dev/shm/ipcchan.wg." + dead["waitgroup"][1:], "/dev/shm/ipcchan.ring." + dead["ring"][1:], deadTmp}
	dry := mustRun(t, "rm", "--stale", "--dry-run")
	if got := removedPaths(dry); !slices.Equal(got, sorted(wantAbandoned)) || !strings.Contains(dry, "would remove abandoned ") {
		t.Errorf("rm --stale --dry-run said:\n%s\nwant exactly %v", dry, sorted(wantAbandoned))
	}
	if after := contents(t); !maps.Equal(after, before) {
		t.Errorf("--dry-run changed something:\n%v\n%v", before, after)
	}
	if got := removedPaths(mustRun(t, "rm", "--stale")); !slices.Equal(got, sorted(wantAbandoned)) {
		t.Errorf("rm --stale removed %v, want %v", got, sorted(wantAbandoned))
	}
	after := contents(t)
	for path, sum := range before {
		switch {
		case slices.Contains(wantAbandoned, path):
			if _, ok := after[path]; ok {
				t.Errorf("%s is still there", path)
			}
		case strings.Contains(path, shared[1:]): // the C peer's ring: in use, its futex words move
			if _, ok := after[path]; !ok {
				t.Errorf("rm --stale removed the ring a C program maps, %s", path)
			}
		case after[path] != sum:
			t.Errorf("rm --stale removed or changed %s", path)
		}
	}
	for _, name := range kept {
		if len(statJSON(t, name)) == 0 {
			t.Errorf("rm --stale removed %s", name)
		}
	}

	// --idle: the idle ipcchan objects too; never the objects without a
	// users table, nor those in use.
	wantIdle := []string{"/dev/shm/" + idle["shm"][1:], "/dev/shm/ipcchan.mutex." + idle["mutex"][1:],
		"/dev/shm/ipcchan.wg." + idle["waitgroup"][1:], "/dev/shm/ipcchan.ring." + idle["ring"][1:]}
	dry = mustRun(t, "rm", "--stale", "--idle", "--dry-run")
	if got := removedPaths(dry); !slices.Equal(got, sorted(wantIdle)) || !strings.Contains(dry, "would remove idle ") {
		t.Errorf("rm --stale --idle --dry-run said:\n%s\nwant exactly %v", dry, sorted(wantIdle))
	}
	if got := removedPaths(mustRun(t, "rm", "--stale", "--idle")); !slices.Equal(got, sorted(wantIdle)) {
		t.Errorf("rm --stale --idle removed %v, want %v", got, sorted(wantIdle))
	}
	for _, name := range []string{q, sem, plain, used, shared} {
		if len(statJSON(t, name)) == 0 {
			t.Errorf("rm --stale --idle removed %s", name)
		}
	}
	if out := mustRun(t, "recv", q); out != "kept for the next run\n" {
		t.Errorf("the queue's message: %q", out)
	}

	// The C peer still has its ring: a message reaches it.
	r, err := ipcchan.OpenRing[Tick](shared)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := r.Send(t.Context(), Tick{Seq: 7, Price: 3.5, Side: -7}); err != nil {
		t.Fatal(err)
	}
	if b, _ := io.ReadAll(cout); string(b) != "7 3.5 -7\n" {
		t.Errorf("the C peer received %q", b)
	}
	if err := cpeer.Wait(); err != nil {
		t.Errorf("ringpeer: %v", err)
	}
}

// contents returns the SHA-256 of every file in /dev/shm (in a sandbox:
// all of them are the test's), and of every queue's attributes and bytes
// queued as ls reports them, by path.
func contents(t *testing.T) map[string]string {
	t.Helper()
	m := map[string]string{}
	ents, err := os.ReadDir("/dev/shm")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		b, err := os.ReadFile("/dev/shm/" + e.Name())
		if err != nil {
			t.Fatal(err)
		}
		m["/dev/shm/"+e.Name()] = fmt.Sprintf("%x", sha256.Sum256(b))
	}
	for key, in := range lsJSON(t) {
		if in.Kind == "queue" {
			m[key] = fmt.Sprintf("%d %d %d %d", in.Len, in.Size, in.Capacity, in.MsgSize)
		}
	}
	return m
}

// removedPaths returns the paths that rm --stale's output says it removed
// or would remove, sorted.
// removesStale checks that rm --stale (after its --dry-run says the
// same) removes dead's file, named by file, alone, and that rm --stale
// --idle then removes idle's alone.
func removesStale(t *testing.T, file func(name string) string, dead, idle string) {
	t.Helper()
	if got := removedPaths(mustRun(t, "rm", "--stale", "--dry-run")); !slices.Equal(got, []string{file(dead)}) {
		t.Errorf("rm --stale --dry-run would remove %v, want %s alone", got, file(dead))
	}
	if got := removedPaths(mustRun(t, "rm", "--stale")); !slices.Equal(got, []string{file(dead)}) {
		t.Errorf("rm --stale removed %v, want %s alone", got, file(dead))
	}
	if got := statJSON(t, dead); len(got) != 0 {
		t.Errorf("after rm --stale, %s is %v", dead, got)
	}
	if got := removedPaths(mustRun(t, "rm", "--stale", "--idle")); !slices.Equal(got, []string{file(idle)}) {
		t.Errorf("rm --stale --idle removed %v, want %s alone", got, file(idle))
	}
}

// startReady starts the helper cmd and waits for its "ready", holding its
// standard input open: closing it is the helper's cue to end.
func startReady(t *testing.T, cmd *exec.Cmd) io.WriteCloser {
	t.Helper()
	out, _ := cmd.StdoutPipe()
	in, _ := cmd.StdinPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if l, _ := bufio.NewReader(out).ReadString('\n'); l != "ready\n" {
		in.Close()
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("the helper %v said %q", cmd.Args[1:], l)
	}
	return in
}

func removedPaths(out string) []string {
	var got []string
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if f := strings.Fields(l); len(f) > 0 && strings.HasPrefix(f[len(f)-1], "(") {
			got = append(got, strings.Trim(f[len(f)-1], "()"))
		}
	}
	return sorted(got)
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

// waitUntil waits until cond holds, for at most 10 seconds.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		runtime.Gosched()
	}
}

func TestUsageAndHelp(t *testing.T) {
	for _, cmd := range commands {
		_, help, code := run(t, "", cmd.name, "--help")
		if code != exitOK || !strings.Contains(help, "example:") || !strings.Contains(help, "flags:") {
			t.Errorf("%s --help: status %d, %q", cmd.name, code, help)
		}
		out, _, _ := run(t, "", "help", cmd.name)
		if !strings.Contains(out, "example:") || !strings.Contains(out, "usage: ipcchan "+cmd.name) {
			t.Errorf("help %s printed %q", cmd.name, out)
		}
	}
	if _, _, code := run(t, ""); code != exitUsage {
		t.Errorf("no command: status %d", code)
	}
	if _, errs, code := run(t, "", "frobnicate"); code != exitUsage || !strings.Contains(errs, `unknown command "frobnicate"`) {
		t.Errorf("unknown command: status %d, %q", code, errs)
	}
	if _, _, code := run(t, "", "ls", "--bogus"); code != exitUsage {
		t.Errorf("bad flag: status %d", code)
	}
}

// TestLsUnprivileged: a user who may not mount sees the queues of their
// own IPC namespace when /dev/mqueue is its mqueue filesystem; otherwise
// the rest of the list, and what to mount, or that /dev/mqueue is another
// namespace's (never that namespace's queues).
func TestLsUnprivileged(t *testing.T) {
	if testutil.InSandbox(t) {
		return
	}
	q := testutil.Name(t, ipcchan.UnlinkQueue)
	mustRun(t, "mk", "queue", q, "--perm", "0644")
	cmd := exec.CommandContext(t.Context(), exe, "ls")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	var out, errs strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errs
	err := cmd.Run()
	if !strings.HasPrefix(out.String(), "KIND") || strings.Contains(out.String(), testutil.ForeignQueue) {
		t.Errorf("ls as nobody printed:\n%s", out.String())
	}
	want := map[testutil.Mqueue]string{
		testutil.NoMqueueMount:      "mount -t mqueue none /dev/mqueue",
		testutil.ForeignMqueueMount: "/dev/mqueue holds the queues of another IPC namespace",
	}[testutil.Sandbox()]
	if want == "" { // its own namespace's /dev/mqueue
		if err != nil || !strings.Contains(out.String(), q+" ") {
			t.Errorf("ls as nobody with this namespace's /dev/mqueue: %v, %s\n%s", err, errs.String(), out.String())
		}
		return
	}
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != exitFailed || !strings.Contains(errs.String(), want) {
		t.Errorf("ls as nobody: %v (want status %d), stderr %q, want %q", err, exitFailed, errs.String(), want)
	}
}

// TestNamespaceAgreement: in an IPC namespace of its own, whatever
// /dev/mqueue is, ls lists exactly the namespace's queues, and mk, stat,
// send, recv and rm agree on them.
func TestNamespaceAgreement(t *testing.T) {
	if testutil.InSandbox(t) {
		return
	}
	q := testutil.Name(t, ipcchan.UnlinkQueue)
	mustRun(t, "mk", "queue", q, "--capacity", "2", "--msgsize", "16")
	if in := statJSON(t, q)["queue"]; in.Capacity != 2 || in.MsgSize != 16 {
		t.Errorf("stat of the queue mk made: %+v", in)
	}
	var queues []string
	for _, in := range lsJSON(t) {
		if in.Kind == "queue" {
			queues = append(queues, in.Name)
		}
	}
	if !slices.Equal(queues, []string{q}) {
		t.Errorf("ls lists the queues %v, want exactly %s", queues, q)
	}
	if _, errs, code := run(t, "", "stat", testutil.ForeignQueue); code != exitNotFound {
		t.Errorf("stat of another namespace's queue: status %d, %s", code, errs)
	}
	mustRun(t, "send", q, "here")
	if in := statJSON(t, q)["queue"]; in.Len != 1 {
		t.Errorf("stat after a send: %d messages", in.Len)
	}
	if out := mustRun(t, "recv", q); out != "here\n" {
		t.Errorf("recv: %q", out)
	}
	mustRun(t, "rm", q)
	if _, _, code := run(t, "", "stat", q); code != exitNotFound {
		t.Errorf("stat after rm: status %d", code)
	}
	if _, _, code := run(t, "", "send", q, "x"); code != exitNotFound {
		t.Errorf("send after rm: status %d", code)
	}
}

// TestLsRing: ls and stat show a ring's shape, length, users and the slots
// recovered after crashes; rm --stale keeps it once everyone closed it
// (idle), and rm --stale --idle removes it then. In a sandbox of its own.
func TestLsRing(t *testing.T) {
	if testutil.InSandbox(t, testutil.OwnMqueueMount) {
		return
	}
	name := testutil.Name(t, ipcchan.UnlinkRing)
	r, err := ipcchan.OpenRing[Tick](name, ipcchan.Create(), ipcchan.Capacity(8))
	if err != nil {
		t.Fatal(err)
	}
	r.Send(t.Context(), Tick{Seq: 1})
	r.Send(t.Context(), Tick{Seq: 2})
	in := lsJSON(t)["ring "+name]
	if in.Capacity != 8 || in.MsgSize != 24 || in.Len != 2 || in.Type != "main.Tick" || !slices.Contains(in.Registered, os.Getpid()) || in.Use != inventory.InUse {
		t.Errorf("ls lists the ring as %+v", in)
	}
	if out := mustRun(t, "ls"); !strings.Contains(out, fmt.Sprintf("in use  2/8 messages of at most 24 bytes, ring of main.Tick, open in %d", os.Getpid())) {
		t.Errorf("the table lacks the ring:\n%s", out)
	}
	if out := mustRun(t, "stat", name); !strings.Contains(out, "recovered  0 slots") || !strings.Contains(out, "messages   2 of 8") ||
		!strings.Contains(out, fmt.Sprintf("use        in use: mapped or open in %d; registered by %d", os.Getpid(), os.Getpid())) {
		t.Errorf("stat of the ring:\n%s", out)
	}
	if out := mustRun(t, "rm", "--stale", "--idle", "--dry-run"); strings.Contains(out, name) {
		t.Errorf("a ring in use is stale:\n%s", out)
	}
	r.Close()
	runtime.KeepAlive(r) // the closed handle keeps its mapping until it is garbage
	r = nil
	waitUnmapped(t, name)
	if out := mustRun(t, "stat", name); !strings.Contains(out, "use        idle: nobody has it open") {
		t.Errorf("stat of a ring everyone closed:\n%s", out)
	}
	if out := mustRun(t, "rm", "--stale"); strings.Contains(out, name) {
		t.Errorf("rm --stale removed a ring everyone closed cleanly:\n%s", out)
	}
	if out := mustRun(t, "rm", "--stale", "--idle"); !strings.Contains(out, "removed idle ring "+name) {
		t.Errorf("rm --stale --idle of a ring nobody has open:\n%s", out)
	}
	if _, err := ipcchan.OpenRing[Tick](name); !errors.Is(err, ipcchan.ErrNotExist) {
		t.Errorf("the ring is still there: %v", err)
	}
}

// waitUnmapped waits until this process no longer maps the object name.
func waitUnmapped(t *testing.T, name string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		runtime.GC()
		b, _ := os.ReadFile("/proc/self/maps")
		if !strings.Contains(string(b), name[1:]) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s is still mapped", name)
		}
		time.Sleep(10 * time.Millisecond) // the cleanup of a collected handle runs on its own goroutine
	}
}
