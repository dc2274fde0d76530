// Package testutil helps ipcchan's tests use real kernel objects: unique
// names that are removed even when a test fails, a check that no queue was
// left behind, C peers compiled with gcc, and helper processes.
package testutil

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ipcchan/ipcchan/internal/posix"
)

// Prefix starts the name of every object the tests of this process create.
var Prefix = fmt.Sprintf("ipcchan-test-%d-", os.Getpid())

var seq atomic.Int64

// Name returns a fresh object name ("/ipcchan-test-PID-N") and registers
// cleanup, which calls unlink(name) and ignores a name already removed.
func Name(t testing.TB, unlink func(string) error) string {
	t.Helper()
	name := fmt.Sprintf("/%s%d", Prefix, seq.Add(1))
	t.Cleanup(func() { unlink(name) })
	return name
}

// LeftQueues lists the queues of this IPC namespace whose names start
// with prefix.
func LeftQueues(prefix string) ([]string, error) {
	var left []string
	err := posix.WithMqueueDir(func(dir string) error {
		ents, err := os.ReadDir(dir)
		for _, e := range ents {
			if strings.HasPrefix(e.Name(), prefix) {
				left = append(left, "/"+e.Name())
			}
		}
		return err
	})
	return left, err
}

// StatQueue returns what the mqueue filesystem of this IPC namespace says
// of the queue name: its mode and owner.
func StatQueue(name string) (os.FileInfo, error) {
	var fi os.FileInfo
	err := posix.WithMqueueDir(func(dir string) error {
		var err error
		fi, err = os.Stat(filepath.Join(dir, name[1:]))
		return err
	})
	return fi, err
}

// Main runs the tests, then fails the run if any queue or /dev/shm file
// (semaphore, mutex, wait group, shared memory, or a temporary file of
// theirs) made by them is still there, and removes it, so that a missing
// cleanup cannot go unnoticed.
func Main(m *testing.M, unlinkQueue func(string) error) int {
	removeDeadRuns(unlinkQueue)
	code := m.Run()
	cleanupBuilds()
	left, err := LeftQueues(Prefix)
	if err != nil {
		fmt.Fprintf(os.Stderr, "testutil: cannot check for queues left behind: %v\n", err)
	}
	for _, n := range left {
		unlinkQueue(n)
	}
	files := LeftShm(Prefix)
	for _, f := range files {
		os.Remove(f)
	}
	if len(left)+len(files) > 0 {
		fmt.Fprintf(os.Stderr, "FAIL: tests left objects behind: %s\n", strings.Join(append(left, files...), " "))
		return 1
	}
	return code
}

// LeftShm lists the files in /dev/shm whose names contain prefix, or that
// are temporary files of this process.
func LeftShm(prefix string) []string {
	ents, _ := os.ReadDir("/dev/shm")
	tmp := fmt.Sprintf(".ipcchan-tmp-%d-", os.Getpid())
	var left []string
	for _, e := range ents {
		if strings.Contains(e.Name(), prefix) || strings.HasPrefix(e.Name(), tmp) {
			left = append(left, "/dev/shm/"+e.Name())
		}
	}
	return left
}

var (
	buildMu   sync.Mutex
	buildDir  string
	buildDone = map[string]string{}
)

// BuildC compiles testdata/NAME.c of the module with gcc (once per test
// process) and returns the path of the program.
func BuildC(t testing.TB, name string) string {
	t.Helper()
	buildMu.Lock()
	defer buildMu.Unlock()
	if p, ok := buildDone[name]; ok {
		return p
	}
	if buildDir == "" {
		d, err := os.MkdirTemp("", "ipcchan-c-")
		if err != nil {
			t.Fatal(err)
		}
		os.Chmod(d, 0o755) // helper processes may run as another user
		buildDir = d
	}
	src := filepath.Join(moduleRoot(t), "testdata", name+".c")
	out := filepath.Join(buildDir, name)
	cmd := exec.Command("gcc", "-O2", "-Wall", "-Werror", "-I", cHeaderDir(t, buildDir), "-o", out, src, "-lrt", "-pthread")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("gcc %s: %v\n%s", src, err, b)
	}
	buildDone[name] = out
	return out
}

func cleanupBuilds() {
	buildMu.Lock()
	defer buildMu.Unlock()
	if buildDir != "" {
		os.RemoveAll(buildDir)
		buildDir = ""
	}
}

func moduleRoot(t testing.TB) string {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("cannot locate the module")
	}
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// HelperEnv is the environment variable that makes a test binary run a
// helper instead of the tests (see Helper and RunHelpers).
const HelperEnv = "IPCCHAN_TEST_HELPER"

// Helper returns a command that runs this test binary as the helper name
// with args; the binary's TestMain must call RunHelpers first.
func Helper(t testing.TB, name string, args ...string) *exec.Cmd {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(t.Context(), exe, append([]string{"-test.run=^$"}, args...)...)
	cmd.Env = append(os.Environ(), HelperEnv+"="+name)
	cmd.Stderr = os.Stderr
	return cmd
}

// RunHelpers runs the helper this process was started as, if any, and
// exits with its status; it returns when the process runs the tests.
// A helper gets the arguments after the test flags.
func RunHelpers(helpers map[string]func(args []string) error) {
	name := os.Getenv(HelperEnv)
	if name == "" {
		return
	}
	if name == helperSandbox {
		err := runSandbox(os.Args[1:]) // returns only if it cannot execute the tests
		fmt.Fprintf(os.Stderr, "testutil: cannot build the sandbox: %v\n", err)
		os.Exit(1)
	}
	f, ok := helpers[name]
	if !ok {
		fmt.Fprintf(os.Stderr, "unknown helper %q\n", name)
		os.Exit(2)
	}
	var args []string
	for _, a := range os.Args[1:] {
		if !strings.HasPrefix(a, "-test.") {
			args = append(args, a)
		}
	}
	if err := f(args); err != nil {
		fmt.Fprintf(os.Stderr, "helper %s: %v\n", name, err)
		os.Exit(1)
	}
	os.Exit(0)
}

// HelperAs is Helper run as another user (uid, gid), from a copy of the test
// binary in a directory that user can read (made once per test process).
func HelperAs(t testing.TB, uid, gid uint32, name string, args ...string) *exec.Cmd {
	t.Helper()
	copyPath, err := worldCopy()
	if err != nil {
		t.Fatal(err)
	}
	cmd := Helper(t, name, args...)
	cmd.Path = copyPath
	cmd.Args[0] = copyPath
	cmd.Dir = filepath.Dir(copyPath)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: gid}}
	return cmd
}

// worldCopy copies the test binary where any user can run it, once.
var worldCopy = sync.OnceValues(func() (string, error) {
	exe, err := os.Executable()
	if err != nil {
		return "", err
	}
	buildMu.Lock()
	defer buildMu.Unlock()
	if buildDir == "" {
		if buildDir, err = os.MkdirTemp("", "ipcchan-c-"); err != nil {
			return "", err
		}
		os.Chmod(buildDir, 0o755)
	}
	b, err := os.ReadFile(exe)
	if err != nil {
		return "", err
	}
	copyPath := filepath.Join(buildDir, filepath.Base(exe))
	return copyPath, os.WriteFile(copyPath, b, 0o755)
})

// WaitBlocked waits until n goroutines whose stacks mention substr (a
// function, or the function that started them: "created by" lines count)
// are blocked in a select, a channel operation or a blocking system call
// such as epoll_wait. Tests use it to know that calls really wait before
// they act on them, without sleeping.
func WaitBlocked(t testing.TB, substr string, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	buf := make([]byte, 1<<20)
	for {
		got := 0
		for _, g := range strings.Split(string(buf[:runtime.Stack(buf, true)]), "\n\n") {
			head, _, _ := strings.Cut(g, "\n")
			blocked := strings.Contains(head, "[select") || strings.Contains(head, "[syscall") || strings.Contains(head, "[chan")
			if blocked && strings.Contains(g, substr) {
				got++
			}
		}
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d goroutines mentioning %s are blocked, want %d", got, substr, n)
		}
		runtime.Gosched()
	}
}

// removeDeadRuns removes what test processes that crashed (and so could not
// clean up) left behind: objects named after a test pid that is gone.
func removeDeadRuns(unlinkQueue func(string) error) {
	dead := func(name string) bool {
		i := strings.Index(name, "ipcchan-test-")
		if i < 0 {
			return false
		}
		pidStr, _, _ := strings.Cut(name[i+len("ipcchan-test-"):], "-")
		pid, err := strconv.Atoi(pidStr)
		return err == nil && pid != os.Getpid() && unix.Kill(pid, 0) == unix.ESRCH
	}
	var removed []string
	if qs, err := LeftQueues("ipcchan-test-"); err == nil {
		for _, q := range qs {
			if dead(q) && unlinkQueue(q) == nil {
				removed = append(removed, q)
			}
		}
	}
	ents, _ := os.ReadDir("/dev/shm")
	for _, e := range ents {
		if dead(e.Name()) && os.Remove("/dev/shm/"+e.Name()) == nil {
			removed = append(removed, "/dev/shm/"+e.Name())
		}
	}
	if len(removed) > 0 {
		fmt.Fprintf(os.Stderr, "testutil: removed what crashed test runs left: %s\n", strings.Join(removed, " "))
	}
}
