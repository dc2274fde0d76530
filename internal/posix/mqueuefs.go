package posix

import (
	"errors"
	"fmt"
	"os"
	"runtime"

	"golang.org/x/sys/unix"
)

// MqueueMount is where the mqueue filesystem is usually mounted.
const MqueueMount = "/dev/mqueue"

// ErrNoMqueueFS reports that the mqueue filesystem is not mounted and
// could not be mounted privately.
var ErrNoMqueueFS = errors.New("the mqueue filesystem is not mounted at /dev/mqueue, and mounting it needs CAP_SYS_ADMIN; mount it once (as root) with: mkdir -p /dev/mqueue && mount -t mqueue none /dev/mqueue")

// IsMqueueFS reports whether dir is a mounted mqueue filesystem.
func IsMqueueFS(dir string) bool {
	var st unix.Statfs_t
	return unix.Statfs(dir, &st) == nil && st.Type == 0x19800202 // MQUEUE_MAGIC
}

// WithMqueueDir calls f with a directory where the mqueue filesystem of
// this IPC namespace is mounted: /dev/mqueue if it is, or else a private
// mount made in a mount namespace of its own, on a thread that is thrown
// away afterwards, so that nobody else sees it. f runs on that thread: it
// must do blocking file I/O only, and start no goroutine that needs the
// mount.
func WithMqueueDir(f func(dir string) error) error {
	if IsMqueueFS(MqueueMount) {
		return f(MqueueMount)
	}
	errc := make(chan error, 1)
	go func() {
		// Never unlocked: the thread exits with the goroutine, taking the
		// namespace with it.
		runtime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
			errc <- fmt.Errorf("%w (unshare: %v)", ErrNoMqueueFS, err)
			return
		}
		// Keep our mount from propagating back to the original namespace.
		if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
			errc <- fmt.Errorf("%w (make-rprivate: %v)", ErrNoMqueueFS, err)
			return
		}
		dir, err := os.MkdirTemp("", "ipcchan-mqueue-")
		if err != nil {
			errc <- err
			return
		}
		defer os.Remove(dir)
		if err := unix.Mount("none", dir, "mqueue", 0, ""); err != nil {
			errc <- fmt.Errorf("%w (mount: %v)", ErrNoMqueueFS, err)
			return
		}
		defer unix.Unmount(dir, unix.MNT_DETACH)
		errc <- f(dir)
	}()
	return <-errc
}
