package testutil

import (
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/ipcchan/ipcchan/internal/posix"
)

// A Mqueue says what /dev/mqueue is inside a sandbox (see InSandbox).
type Mqueue string

// The sandboxes a test can run in. In each, /dev/shm is an empty tmpfs of
// its own and the IPC namespace is new, so that the test sees, changes and
// removes only what it creates there.
const (
	// NoMqueueMount: there is no /dev/mqueue, as on this machine.
	NoMqueueMount Mqueue = "no-dev-mqueue"
	// OwnMqueueMount: /dev/mqueue is the mqueue filesystem of the
	// sandbox's own IPC namespace, as systemd mounts it.
	OwnMqueueMount Mqueue = "own-dev-mqueue"
	// ForeignMqueueMount: /dev/mqueue is the mqueue filesystem of another
	// IPC namespace, holding the queue ForeignQueue, as a container or
	// `unshare -i` sees its host's.
	ForeignMqueueMount Mqueue = "foreign-dev-mqueue"
)

// ForeignQueue is the queue that /dev/mqueue lists in a ForeignMqueueMount
// sandbox, and that does not exist in the sandbox's own namespace.
const ForeignQueue = "/ipcchan-sandbox-foreign"

// SandboxEnv names the environment variable that tells a test process
// which sandbox it runs in.
const SandboxEnv = "IPCCHAN_TEST_SANDBOX"

// helperSandbox is the built-in helper that sets up a sandbox and executes
// the test binary in it.
const helperSandbox = "sandbox"

// Sandbox returns the sandbox the test process runs in, or "" outside.
func Sandbox() Mqueue { return Mqueue(os.Getenv(SandboxEnv)) }

// InSandbox makes the calling test run in sandboxes of its own, one per
// mode (all three when none is given): a mount namespace with an empty
// /dev/shm and /dev/mqueue as the mode says, and an IPC namespace of its
// own, built as root (the test fails otherwise). Outside, InSandbox runs
// the test again in each sandbox, as a subtest named after the mode,
// reports what it said, and returns true: the caller returns at once.
// Inside, it returns false, and the test goes on there. Tests that act on
// the whole machine (ipcchan rm --stale, ipcchan ls, filling its limits)
// use it, so that they never see or touch what is not theirs.
func InSandbox(t *testing.T, modes ...Mqueue) bool {
	t.Helper()
	if Sandbox() != "" {
		return false
	}
	if os.Geteuid() != 0 {
		t.Fatal("this test builds a sandbox (mount and IPC namespaces), which needs root")
	}
	if len(modes) == 0 {
		modes = []Mqueue{NoMqueueMount, OwnMqueueMount, ForeignMqueueMount}
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	var pattern []string
	for _, part := range strings.Split(t.Name(), "/") {
		pattern = append(pattern, "^"+regexp.QuoteMeta(part)+"$")
	}
	name := t.Name()
	for _, mode := range modes {
		t.Run(string(mode), func(t *testing.T) {
			cmd := exec.CommandContext(t.Context(), exe, "-test.run="+strings.Join(pattern, "/"), "-test.count=1", "-test.v", "-test.timeout=5m")
			cmd.Env = append(os.Environ(), HelperEnv+"="+helperSandbox, SandboxEnv+"="+string(mode))
			cmd.SysProcAttr = &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS} // and / made private
			out, err := cmd.CombinedOutput()
			passed := strings.Contains(string(out), "--- PASS: "+name+" ")
			if err != nil || !passed {
				t.Errorf("in a sandbox (%s): %v\n%s", mode, err, out)
			} else if testing.Verbose() {
				t.Logf("in a sandbox (%s):\n%s", mode, out)
			}
		})
	}
	return true
}

// runSandbox is the helper InSandbox starts in a new mount namespace: it
// makes the IPC namespace and the /dev of the sandbox, and executes the
// test binary there with args.
func runSandbox(args []string) error {
	// Namespaces of the IPC kind are a thread's: this one's, which executes
	// the test binary.
	runtime.LockOSThread()
	mode := Sandbox()
	if err := unix.Unshare(unix.CLONE_NEWIPC); err != nil {
		return fmt.Errorf("unshare an IPC namespace: %w", err)
	}
	if err := sandboxDev(mode != NoMqueueMount); err != nil {
		return err
	}
	if mode == ForeignMqueueMount {
		// The queue /dev/mqueue lists, in the namespace it belongs to; then
		// a namespace of the test's own.
		fd, err := posix.MqOpen(ForeignQueue, unix.O_RDWR|unix.O_CREAT|unix.O_CLOEXEC, 0o600, nil)
		if err != nil {
			return fmt.Errorf("mq_open %s: %w", ForeignQueue, err)
		}
		unix.Close(fd)
		if err := unix.Unshare(unix.CLONE_NEWIPC); err != nil {
			return fmt.Errorf("unshare an IPC namespace: %w", err)
		}
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, HelperEnv+"=") {
			env = append(env, kv)
		}
	}
	return syscall.Exec(exe, append([]string{exe}, args...), env)
}

// sandboxDev puts a tmpfs of the sandbox's own on /dev, with the devices a
// test uses bound from the real one, an empty tmpfs on /dev/shm, and, if
// mqueue, the mqueue filesystem of this thread's IPC namespace on
// /dev/mqueue. The mount namespace is private (InSandbox made it), so
// none of it is seen outside.
func sandboxDev(mqueue bool) error {
	real, err := os.MkdirTemp("", "ipcchan-sandbox-dev-")
	if err != nil {
		return err
	}
	defer os.Remove(real)
	if err := unix.Mount("/dev", real, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("bind /dev: %w", err)
	}
	defer unix.Unmount(real, unix.MNT_DETACH)
	if err := unix.Mount("tmpfs", "/dev", "tmpfs", unix.MS_NOSUID, "mode=755,size=1m"); err != nil {
		return fmt.Errorf("mount a tmpfs on /dev: %w", err)
	}
	for _, dev := range []string{"null", "zero", "full", "random", "urandom", "tty"} {
		if err := os.WriteFile("/dev/"+dev, nil, 0o666); err != nil {
			return err
		}
		if err := unix.Mount(real+"/"+dev, "/dev/"+dev, "", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("bind /dev/%s: %w", dev, err)
		}
	}
	for link, target := range map[string]string{"fd": "/proc/self/fd", "stdin": "/proc/self/fd/0", "stdout": "/proc/self/fd/1", "stderr": "/proc/self/fd/2"} {
		if err := os.Symlink(target, "/dev/"+link); err != nil {
			return err
		}
	}
	if err := os.Mkdir("/dev/shm", 0o755); err != nil {
		return err
	}
	if err := unix.Mount("tmpfs", "/dev/shm", "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=1777"); err != nil {
		return fmt.Errorf("mount a tmpfs on /dev/shm: %w", err)
	}
	if !mqueue {
		return nil
	}
	if err := os.Mkdir(posix.MqueueMount, 0o755); err != nil {
		return err
	}
	if err := unix.Mount("mqueue", posix.MqueueMount, "mqueue", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return fmt.Errorf("mount the mqueue filesystem on /dev/mqueue: %w", err)
	}
	return nil
}
