package ipcchan_test

import (
	"io"

	"github.com/ipcchan/ipcchan/ipcchan"
)

// unlinkKind removes objects of each kind, by the kind names that
// openKind and the helpers take.
var unlinkKind = map[string]func(string) error{
	"queue":     ipcchan.UnlinkQueue,
	"semaphore": ipcchan.UnlinkSemaphore,
	"mutex":     ipcchan.UnlinkMutex,
	"waitgroup": ipcchan.UnlinkWaitGroup,
	"shm":       ipcchan.UnlinkShm,
}

// openKind opens the object name of the given kind (a queue of int, or an
// Shm of Stats) with opts.
func openKind(kind, name string, opts ...ipcchan.Option) (io.Closer, error) {
	var c io.Closer
	var err error
	switch kind {
	case "queue":
		c, err = ipcchan.OpenQueue[int](name, opts...)
	case "semaphore":
		c, err = ipcchan.OpenSemaphore(name, opts...)
	case "mutex":
		c, err = ipcchan.OpenMutex(name, opts...)
	case "waitgroup":
		c, err = ipcchan.OpenWaitGroup(name, opts...)
	case "shm":
		c, err = ipcchan.OpenShm[Stats](name, opts...)
	default:
		panic("openKind: unknown kind " + kind)
	}
	if err != nil {
		return nil, err
	}
	return c, nil
}
