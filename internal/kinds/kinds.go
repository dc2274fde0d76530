// Package kinds is the table of the kinds of object: for each, the name
// errors and ipcchan ls give it, the file in /dev/shm that holds an object
// of that kind (a queue has none: it lives in the mqueue filesystem), the
// kind its ipcchan header records, and the Go functions that open and
// remove one; and so which kinds of object exist under a name. Objects of
// different kinds may share a name ("/jobs" can be a queue and a semaphore
// at once).
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
	Topic     = "topic"
	Semaphore = "semaphore"
	Shm       = "shm"
	Mutex     = "mutex"
	WaitGroup = "waitgroup"
	Service   = "service"
)

// A Kind is one row of the table.
type Kind struct {
	Name     string      // "ring"
	Prefix   string      // of its file's name in /dev/shm, before the name without its slash
	Header   objfmt.Kind // what its ipcchan header says it is; 0 for a glibc semaphore and a queue
	Describe string      // "a ring", as a sentence names one
	Open     string      // the ipcchan function that opens one: "OpenRing"
	Unlink   string      // the ipcchan function that removes one: "UnlinkRing"
}

// table is every kind, in the order Named returns them.
var table = []Kind{
	{Name: Queue, Describe: "a queue", Open: "OpenQueue", Unlink: "UnlinkQueue"},
	{Name: Ring, Prefix: objfmt.Ring.Prefix(), Header: objfmt.Ring, Describe: "a ring", Open: "OpenRing", Unlink: "UnlinkRing"},
	{Name: Topic, Prefix: objfmt.Topic.Prefix(), Header: objfmt.Topic, Describe: "a topic", Open: "OpenTopic", Unlink: "UnlinkTopic"},
	{Name: Semaphore, Prefix: objfmt.SemPrefix, Describe: "a semaphore", Open: "OpenSemaphore", Unlink: "UnlinkSemaphore"},
	{Name: Shm, Prefix: objfmt.Shm.Prefix(), Header: objfmt.Shm, Describe: "a shm object", Open: "OpenShm", Unlink: "UnlinkShm"},
	{Name: Mutex, Prefix: objfmt.Mutex.Prefix(), Header: objfmt.Mutex, Describe: "a mutex", Open: "OpenMutex", Unlink: "UnlinkMutex"},
	{Name: WaitGroup, Prefix: objfmt.WaitGroup.Prefix(), Header: objfmt.WaitGroup, Describe: "a wait group", Open: "OpenWaitGroup", Unlink: "UnlinkWaitGroup"},
	{Name: Service, Prefix: objfmt.Service.Prefix(), Header: objfmt.Service, Describe: "a service", Open: "OpenServer", Unlink: "UnlinkService"},
}

// All are the kinds' names, in the order of the table.
var All = func() []string {
	var names []string
	for _, k := range table {
		names = append(names, k.Name)
	}
	return names
}()

// Of returns the row of the kind called name ("ring"); a name not in the
// table has a row of its name alone.
func Of(name string) Kind {
	for _, k := range table {
		if k.Name == name {
			return k
		}
	}
	return Kind{Name: name, Describe: "a " + name}
}

// Prefix returns the prefix of the file name in /dev/shm of kind (not a
// queue, which has no file there).
func Prefix(kind string) string { return Of(kind).Prefix }

// Path returns the file in /dev/shm of the object name ("/ticks", already
// checked) of kind.
func Path(kind, name string) string { return posix.ShmDir + Prefix(kind) + name[1:] }

// OfFile returns the kind and name of the object whose file in /dev/shm is
// called fn: "sem.slots" is the semaphore "/slots", "ipcchan.ring.ticks"
// the ring "/ticks"; a name without a prefix is a shm object.
func OfFile(fn string) (kind, name string) {
	for _, k := range table {
		if k.Prefix == "" {
			continue
		}
		if rest, ok := strings.CutPrefix(fn, k.Prefix); ok {
			return k.Name, "/" + rest
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
	for _, k := range table {
		if k.Name == Queue {
			fd, err := posix.MqOpen(name, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0, nil)
			if err == nil {
				unix.Close(fd)
			}
			if err == nil || err == unix.EACCES {
				found = append(found, Queue) // opened, or refused: either way it is there
			}
			continue
		}
		var st unix.Stat_t
		if unix.Lstat(Path(k.Name, name), &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFREG {
			found = append(found, k.Name)
		}
	}
	return found
}

// Describe names an object of kind in a sentence: "a queue", "a wait
// group".
func Describe(kind string) string { return Of(kind).Describe }

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
