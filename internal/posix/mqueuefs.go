package posix

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"syscall"

	"golang.org/x/sys/unix"
)

// MqueueMount is where the mqueue filesystem is usually mounted.
const MqueueMount = "/dev/mqueue"

// ErrNoMqueueFS reports that the mqueue filesystem of this IPC namespace
// is not mounted and could not be mounted privately.
var ErrNoMqueueFS = errors.New("the mqueue filesystem is not mounted at /dev/mqueue, and mounting it needs CAP_SYS_ADMIN; mount it once (as root) with: mkdir -p /dev/mqueue && mount -t mqueue none /dev/mqueue")

// ErrForeignMqueueFS reports that /dev/mqueue is the mqueue filesystem of
// another IPC namespace (a container's host, or the parent of `unshare
// -i`), and this process could not mount its own.
var ErrForeignMqueueFS = errors.New("/dev/mqueue holds the queues of another IPC namespace, not this process's, and mounting this namespace's mqueue filesystem needs CAP_SYS_ADMIN; mount it (as root, in this namespace) with: mount -t mqueue none /dev/mqueue")

// IsMqueueFS reports whether dir is a mounted mqueue filesystem.
func IsMqueueFS(dir string) bool {
	var st unix.Statfs_t
	return unix.Statfs(dir, &st) == nil && st.Type == 0x19800202 // MQUEUE_MAGIC
}

// A namespace verdict: what OwnMqueueFS could tell of a mount.
type nsVerdict int

const (
	nsUnknown nsVerdict = iota
	nsOwn
	nsForeign
)

// OwnMqueueFS reports whether dir is the mqueue filesystem of this
// process's IPC namespace. Each IPC namespace has one mqueue filesystem,
// and a queue descriptor lives on it: dir is this namespace's when a queue
// opened by name (mq_open) is a file of dir's device. A name listed in dir
// that mq_open does not find is another namespace's. An empty dir, or one
// whose queues this process may not open, is told by creating a probe
// queue for an instant (".ipcchan-probe-PID-N", one message of one byte);
// known is false when even that fails (a full RLIMIT_MSGQUEUE, say).
func OwnMqueueFS(dir string) (own, known bool) {
	switch v := mqueueVerdict(dir); v {
	case nsOwn:
		return true, true
	case nsForeign:
		return false, true
	}
	return false, false
}

func mqueueVerdict(dir string) nsVerdict {
	if !IsMqueueFS(dir) {
		return nsForeign
	}
	var root unix.Stat_t
	if unix.Stat(dir, &root) != nil {
		return nsUnknown
	}
	// Queues this process can open: the first that answers decides.
	f, err := os.Open(dir)
	if err != nil {
		return nsUnknown
	}
	names, _ := f.Readdirnames(64)
	f.Close()
	for _, n := range names {
		if v := probeName(dir, "/"+n, root.Dev); v != nsUnknown {
			return v
		}
	}
	// A queue of its own, for an instant.
	probe := fmt.Sprintf("/.ipcchan-probe-%d-%08x", os.Getpid(), rand.Uint32())
	attr := MqAttr{MaxMsg: 1, MsgSize: 1}
	fd, err := MqOpen(probe, unix.O_RDONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NONBLOCK|unix.O_CLOEXEC, 0o600, &attr)
	if err != nil {
		return nsUnknown
	}
	defer MqUnlink(probe)
	defer unix.Close(fd)
	return sameDevice(fd, root.Dev)
}

// probeName opens the queue name, listed in dir, to see whose it is.
func probeName(dir, name string, dev uint64) nsVerdict {
	for _, flags := range []int{unix.O_RDONLY, unix.O_WRONLY} {
		fd, err := MqOpen(name, flags|unix.O_NONBLOCK|unix.O_CLOEXEC, 0, nil)
		switch err {
		case nil:
			defer unix.Close(fd)
			return sameDevice(fd, dev)
		case syscall.ENOENT:
			// Not in this namespace; unless it was removed meanwhile.
			var st unix.Stat_t
			if unix.Stat(dir+name, &st) == nil {
				return nsForeign
			}
			return nsUnknown
		case syscall.EACCES:
			continue // another user's: try the other direction, then another queue
		default:
			return nsUnknown
		}
	}
	return nsUnknown
}

func sameDevice(fd int, dev uint64) nsVerdict {
	var st unix.Stat_t
	if unix.Fstat(fd, &st) != nil {
		return nsUnknown
	}
	if st.Dev == dev {
		return nsOwn
	}
	return nsForeign
}

// WithMqueueDir calls f with a directory where the mqueue filesystem of
// this process's IPC namespace is mounted: /dev/mqueue if it is that one
// (see OwnMqueueFS), or else a private mount made in a mount namespace of
// its own, on a thread that is thrown away afterwards, so that nobody else
// sees it. f runs on that thread: it must do blocking file I/O only, and
// start no goroutine that needs the mount. When neither is possible it
// returns ErrNoMqueueFS or ErrForeignMqueueFS, wrapped, except that a
// /dev/mqueue that cannot be told apart (see OwnMqueueFS) is used as it is.
func WithMqueueDir(f func(dir string) error) error {
	mounted := IsMqueueFS(MqueueMount)
	verdict := nsForeign
	if mounted {
		verdict = mqueueVerdict(MqueueMount)
	}
	if verdict == nsOwn {
		return f(MqueueMount)
	}
	err := withPrivateMqueue(f)
	var mountErr *privateMountError
	if !errors.As(err, &mountErr) {
		return err
	}
	switch {
	case !mounted:
		return fmt.Errorf("%w (%v)", ErrNoMqueueFS, mountErr.err)
	case verdict == nsUnknown:
		return f(MqueueMount) // the best there is
	}
	return fmt.Errorf("%w (%v)", ErrForeignMqueueFS, mountErr.err)
}

// privateMountError is a failure to make the private mount.
type privateMountError struct{ err error }

func (e *privateMountError) Error() string { return e.err.Error() }

// withPrivateMqueue calls f with a private mount of this IPC namespace's
// mqueue filesystem (see WithMqueueDir).
func withPrivateMqueue(f func(dir string) error) error {
	errc := make(chan error, 1)
	go func() {
		// Never unlocked: the thread exits with the goroutine, taking the
		// namespace with it.
		runtime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
			errc <- &privateMountError{fmt.Errorf("unshare: %v", err)}
			return
		}
		// Keep our mount from propagating back to the original namespace.
		if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
			errc <- &privateMountError{fmt.Errorf("make-rprivate: %v", err)}
			return
		}
		dir, err := os.MkdirTemp("", "ipcchan-mqueue-")
		if err != nil {
			errc <- err
			return
		}
		defer os.Remove(dir)
		if err := unix.Mount("none", dir, "mqueue", 0, ""); err != nil {
			errc <- &privateMountError{fmt.Errorf("mount: %v", err)}
			return
		}
		defer unix.Unmount(dir, unix.MNT_DETACH)
		errc <- f(dir)
	}()
	return <-errc
}
