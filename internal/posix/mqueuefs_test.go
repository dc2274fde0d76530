package posix_test

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/ipcchan/ipcchan/internal/posix"
	"github.com/ipcchan/ipcchan/internal/testutil"
)

func TestMain(m *testing.M) {
	testutil.RunHelpers(helpers)
	os.Exit(m.Run())
}

// TestMqueueDirOfThisNamespace: the directory WithMqueueDir hands over is
// the mqueue filesystem of this process's IPC namespace, whether
// /dev/mqueue is missing, this namespace's, or another's, so that a
// listing shows exactly this namespace's queues.
func TestMqueueDirOfThisNamespace(t *testing.T) {
	if testutil.InSandbox(t) {
		return
	}
	name := makeQueue(t, "own", 0o600)

	own, known := posix.OwnMqueueFS(posix.MqueueMount)
	wantOwn := testutil.Sandbox() == testutil.OwnMqueueMount
	if own != wantOwn || !known {
		t.Errorf("OwnMqueueFS(/dev/mqueue) = %v (known: %v), want %v", own, known, wantOwn)
	}
	var names []string
	if err := posix.WithMqueueDir(func(dir string) error {
		ents, err := os.ReadDir(dir)
		for _, e := range ents {
			names = append(names, "/"+e.Name())
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(names, []string{name}) {
		t.Errorf("the mqueue directory lists %q, want exactly this namespace's %q", names, name)
	}
	qs, err := posix.ListQueues()
	if err != nil || len(qs) != 1 || qs[0].Name != name || qs[0].AttrErr != nil || qs[0].Attr.MaxMsg == 0 {
		t.Errorf("ListQueues = %+v, %v; want %s with its attributes", qs, err, name)
	}
}

// TestMqueueDirUnprivileged: a process that may not mount is handed
// /dev/mqueue when it is its namespace's, and told why not otherwise.
func TestMqueueDirUnprivileged(t *testing.T) {
	if testutil.InSandbox(t) {
		return
	}
	name := makeQueue(t, "nobody", 0o666)

	out, err := testutil.HelperAs(t, 65534, 65534, "list").Output()
	if err != nil {
		t.Fatalf("list as nobody: %v\n%s", err, out)
	}
	want := map[testutil.Mqueue]string{
		testutil.NoMqueueMount:      "error: " + posix.ErrNoMqueueFS.Error(),
		testutil.OwnMqueueMount:     "queues: " + name,
		testutil.ForeignMqueueMount: "error: " + posix.ErrForeignMqueueFS.Error(),
	}[testutil.Sandbox()]
	if got := string(out); len(got) < len(want) || got[:len(want)] != want {
		t.Errorf("nobody listing the queues said %q, want %q", got, want)
	}
}

// makeQueue creates the queue /PREFIXsuffix with exactly mode, removed
// after the test.
func makeQueue(t *testing.T, suffix string, mode uint32) string {
	t.Helper()
	name := "/" + testutil.Prefix + suffix
	fd, err := posix.MqOpen(name, unix.O_RDWR|unix.O_CREAT|unix.O_EXCL|unix.O_CLOEXEC, mode, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { posix.MqUnlink(name) })
	defer unix.Close(fd)
	if err := unix.Fchmod(fd, mode); err != nil { // past the umask
		t.Fatal(err)
	}
	return name
}

var helpers = map[string]func([]string) error{
	// list: prints the queues ListQueues finds, or which of its errors it
	// returned.
	"list": func([]string) error {
		qs, err := posix.ListQueues()
		for _, sentinel := range []error{posix.ErrNoMqueueFS, posix.ErrForeignMqueueFS} {
			if errors.Is(err, sentinel) {
				err = sentinel
			}
		}
		if err != nil {
			fmt.Printf("error: %v\n", err)
			return nil
		}
		fmt.Print("queues:")
		for _, q := range qs {
			fmt.Print(" " + q.Name)
		}
		fmt.Println()
		return nil
	},
}
