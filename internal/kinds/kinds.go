// Package kinds knows what a name stands for in each kind of object: the
// file in /dev/shm that holds a semaphore, a shm object, a mutex, a wait
// group or a ring of that name, or the queue of that name; and so which
// kinds of object exist under a name. Objects of different kinds may share
// a name ("/jobs" can be a queue and a semaphore at once).
package kinds

import (
	"strings"

	"golang.org/x/sys/unix"

	"github.com/ipcchan/ipcchan/internal/objfmt"
	"github.com/ipcchan/ipcchan/internal/posix"
)

// The kinds, as errors and ipcchan ls name them.
const (
	Queue     = "queue"
	Ring      = "ring"
	Semaphore = "semaphore"
	Shm       = "shm"
	Mutex     = "mutex"
	WaitGroup = "waitgroup"
)

// All are the kinds, in the order Named returns them.
var All = []string{Queue, Ring, Semaphore, Shm, Mutex, WaitGroup}

// filePrefix is the prefix of the file name in /dev/shm of each kind but
// queues, before the name without its slash.
var filePrefix = map[string]string{
	Ring:      objfmt.Ring.Prefix(),
	Semaphore: objfmt.SemPrefix,
	Shm:       objfmt.Shm.Prefix(),
	Mutex:     objfmt.Mutex.Prefix(),
	WaitGroup: objfmt.WaitGroup.Prefix(),
}

// Prefix returns the prefix of the file name in /dev/shm of kind (not a
// queue, which has no file there).
func Prefix(kind string) string { return filePrefix[kind] }

// OfFile returns the kind and name of the object whose file in /dev/shm is
// called fn: "sem.slots" is the semaphore "/slots", "ipcchan.ring.ticks"
// the ring "/ticks"; a name without a prefix is a shm object.
func OfFile(fn string) (kind, name string) {
	for _, k := range []string{Semaphore, Mutex, WaitGroup, Ring} {
		if rest, ok := strings.CutPrefix(fn, filePrefix[k]); ok {
			return k, "/" + rest
		}
	}
	return Shm, "/" + fn
}

// Named returns the kinds of the objects called name that exist in this
// IPC and mount namespace, in the order of All: a queue if mq_open finds
// it (permission aside), any other kind if its file is in /dev/shm.
func Named(name string) []string {
	if posix.CheckName(name, posix.NameMax) != nil {
		return nil
	}
	var found []string
	fd, err := posix.MqOpen(name, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0, nil)
	if err == nil {
		unix.Close(fd)
	}
	if err == nil || err == unix.EACCES {
		found = append(found, Queue) // opened, or refused: either way it is there
	}
	for _, k := range All[1:] {
		var st unix.Stat_t
		if unix.Lstat(posix.ShmDir+filePrefix[k]+name[1:], &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFREG {
			found = append(found, k)
		}
	}
	return found
}

// Describe names an object of kind in a sentence: "a queue", "a wait
// group".
func Describe(kind string) string {
	switch kind {
	case Shm:
		return "a shm object"
	case WaitGroup:
		return "a wait group"
	}
	return "a " + kind
}

// List joins kinds in a sentence: "a queue", "a queue and a ring", "a
// queue, a ring and a semaphore".
func List(kinds []string) string {
	var ds []string
	for _, k := range kinds {
		ds = append(ds, Describe(k))
	}
	if len(ds) <= 1 {
		return strings.Join(ds, "")
	}
	return strings.Join(ds[:len(ds)-1], ", ") + " and " + ds[len(ds)-1]
}
