package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
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

	"github.com/ipcchan/ipcchan/codec"
	"github.com/ipcchan/ipcchan/internal/inventory"
	"github.com/ipcchan/ipcchan/internal/testutil"
	"github.com/ipcchan/ipcchan/ipcchan"
)

var exe string

func TestMain(m *testing.M) {
	testutil.RunHelpers(map[string]func([]string) error{
		"make-objects": helperMakeObjects,
		"hold-shm":     helperHoldShm,
	})
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
	code := testutil.Main(m, ipcchan.UnlinkQueue)
	os.RemoveAll(dir)
	os.Exit(code)
}

// helperMakeObjects: SHM MUTEX WG — creates them and exits, leaving them
// mapped by nobody.
func helperMakeObjects(args []string) error {
	if _, err := ipcchan.OpenShmSlice[byte](args[0], 64, ipcchan.Create()); err != nil {
		return err
	}
	if _, err := ipcchan.OpenMutex(args[1], ipcchan.Create()); err != nil {
		return err
	}
	_, err := ipcchan.OpenWaitGroup(args[2], ipcchan.Create())
	return err
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

// lsJSON returns ipcchan ls --json, by kind and name.
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
	if in := lsJSON(t)["queue "+q]; in.Capacity != 3 || in.MsgSize != 64 || in.Mode != 0o640 {
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
	if in := lsJSON(t)["semaphore "+s]; in.Value != 1 {
		t.Errorf("value %d after a wait", in.Value)
	}
	// A sleeping wait is woken by C's sem_post.
	cmd := exec.Command(exe, "wait", s, "--timeout", "20s")
	mustRun(t, "wait", s)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for deadline := 0; lsJSON(t)["semaphore "+s].Waiters == 0; deadline++ {
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
	if _, ok := lsJSON(t)["queue "+name]; ok {
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

// TestRmStale: only ipcchan objects that no live process maps, and
// half-built files of dead creators, are removed; nothing else.
func TestRmStale(t *testing.T) {
	sempeer := testutil.BuildC(t, "sempeer")
	deadShm, deadMutex, deadWG := testutil.Name(t, ipcchan.UnlinkShm), testutil.Name(t, ipcchan.UnlinkMutex), testutil.Name(t, ipcchan.UnlinkWaitGroup)
	maker := testutil.Helper(t, "make-objects", deadShm, deadMutex, deadWG)
	maker.Stderr = nil
	if out, err := maker.CombinedOutput(); err != nil {
		t.Fatalf("make-objects: %v %s", err, out)
	}
	// A dead creator's half-built file, and a live one's.
	deadTmp := fmt.Sprintf("/dev/shm/.ipcchan-tmp-%d-deadbeef", maker.Process.Pid)
	liveTmp := fmt.Sprintf("/dev/shm/.ipcchan-tmp-%d-cafef00d", os.Getpid())
	for _, p := range []string{deadTmp, liveTmp} {
		os.WriteFile(p, nil, 0o600)
		t.Cleanup(func() { os.Remove(p) })
	}
	// Objects in use, or of other formats: kept.
	used := testutil.Name(t, ipcchan.UnlinkShm)
	if _, err := ipcchan.OpenShmSlice[byte](used, 64, ipcchan.Create()); err != nil {
		t.Fatal(err)
	}
	holder := testutil.Helper(t, "hold-shm", used)
	in, _ := holder.StdinPipe()
	out, _ := holder.StdoutPipe()
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { in.Close(); holder.Wait() }()
	if l, _ := bufio.NewReader(out).ReadString('\n'); l != "mapped\n" {
		t.Fatalf("holder said %q", l)
	}
	glibcSem := testutil.Name(t, ipcchan.UnlinkSemaphore)
	exec.Command(sempeer, "create", glibcSem, "1").Run()
	q := testutil.Name(t, ipcchan.UnlinkQueue)
	mustRun(t, "mk", "queue", q)

	// The helper that made the used object exited: the test process itself
	// maps nothing of it (OpenShmSlice's handle above was not closed, though).
	dry := mustRun(t, "rm", "--stale", "--dry-run")
	removed := func(s string) []string {
		var got []string
		for _, l := range strings.Split(strings.TrimSpace(s), "\n") {
			if f := strings.Fields(l); len(f) >= 4 && strings.Contains(l, testutil.Prefix+"") || strings.Contains(l, ".ipcchan-tmp-") {
				got = append(got, f[len(f)-1])
			}
		}
		slices.Sort(got)
		return got
	}
	want := []string{"(" + deadTmp + ")", "(/dev/shm/" + deadShm[1:] + ")", "(/dev/shm/ipcchan.mutex." + deadMutex[1:] + ")", "(/dev/shm/ipcchan.wg." + deadWG[1:] + ")"}
	slices.Sort(want)
	if got := removed(dry); !slices.Equal(got, want) || !strings.Contains(dry, "would remove") {
		t.Errorf("rm --stale --dry-run said:\n%s\nwant exactly %v", dry, want)
	}
	if _, err := os.Stat("/dev/shm/" + deadShm[1:]); err != nil {
		t.Error("--dry-run removed something")
	}
	if got := removed(mustRun(t, "rm", "--stale")); !slices.Equal(got, want) {
		t.Errorf("rm --stale removed %v, want %v", got, want)
	}
	all := lsJSON(t)
	for _, key := range []string{"shm " + used, "semaphore " + glibcSem, "queue " + q} {
		if _, ok := all[key]; !ok {
			t.Errorf("rm --stale removed %s", key)
		}
	}
	if _, err := os.Stat(liveTmp); err != nil {
		t.Error("rm --stale removed a live process's temporary file")
	}
	for _, key := range []string{"shm " + deadShm, "mutex " + deadMutex, "waitgroup " + deadWG} {
		if _, ok := all[key]; ok {
			t.Errorf("%s is still there", key)
		}
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

// TestLsWithoutMqueueMount: a user who can neither find nor mount the
// mqueue filesystem gets the rest of the list and exactly how to mount it.
func TestLsWithoutMqueueMount(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Log("not root: this process cannot mount either; running as is")
	}
	cmd := exec.CommandContext(context.Background(), exe, "ls")
	if os.Geteuid() == 0 {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	}
	var out, errs strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errs
	err := cmd.Run()
	if _, mounted := os.Stat("/dev/mqueue/."); mounted == nil && isMqueue() {
		if err != nil {
			t.Fatalf("ls with /dev/mqueue mounted: %v %s", err, errs.String())
		}
		return
	}
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != exitFailed {
		t.Fatalf("ls without the mount: %v, want status %d", err, exitFailed)
	}
	if !strings.Contains(errs.String(), "mount -t mqueue none /dev/mqueue") || !strings.HasPrefix(out.String(), "KIND") {
		t.Errorf("stdout %q\nstderr %q", out.String(), errs.String())
	}
}

func isMqueue() bool {
	var st syscall.Statfs_t
	return syscall.Statfs("/dev/mqueue", &st) == nil && st.Type == 0x19800202
}

// TestLsRing: ls and stat show a ring's shape, length, users and the slots
// recovered after crashes; rm removes it, and rm --stale once nobody has it
// open.
func TestLsRing(t *testing.T) {
	name := testutil.Name(t, ipcchan.UnlinkRing)
	type Tick struct{ Seq, At int64 }
	r, err := ipcchan.OpenRing[Tick](name, ipcchan.Create(), ipcchan.Capacity(8))
	if err != nil {
		t.Fatal(err)
	}
	r.Send(t.Context(), Tick{Seq: 1})
	r.Send(t.Context(), Tick{Seq: 2})
	in := lsJSON(t)["ring "+name]
	if in.Capacity != 8 || in.MsgSize != 16 || in.Len != 2 || in.Type != "main.Tick" || !slices.Contains(in.Registered, os.Getpid()) {
		t.Errorf("ls lists the ring as %+v", in)
	}
	if out := mustRun(t, "ls"); !strings.Contains(out, fmt.Sprintf("2/8 messages of at most 16 bytes, ring of main.Tick, open in %d", os.Getpid())) {
		t.Errorf("the table lacks the ring:\n%s", out)
	}
	if out := mustRun(t, "stat", name); !strings.Contains(out, "recovered  0 slots") || !strings.Contains(out, "messages   2 of 8") {
		t.Errorf("stat of the ring:\n%s", out)
	}
	if out := mustRun(t, "rm", "--stale", "--dry-run"); strings.Contains(out, name) {
		t.Errorf("a ring in use is stale:\n%s", out)
	}
	r.Close()
	runtime.KeepAlive(r) // the closed handle keeps its mapping until it is garbage
	r = nil
	waitUnmapped(t, name)
	if out := mustRun(t, "rm", "--stale"); !strings.Contains(out, "removed ring "+name) {
		t.Errorf("rm --stale of a ring nobody has open:\n%s", out)
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
