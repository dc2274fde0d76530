package posix

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// A QueueEntry is one queue of the mqueue filesystem, as ListQueues reads
// it.
type QueueEntry struct {
	Name      string // "/jobs"
	Dev, Ino  uint64 // its file in the mqueue filesystem, which /proc/PID/fd links to
	UID       int    // its owner
	Mode      uint32 // permission bits
	QSize     int64  // bytes of the messages in it (QSIZE)
	NotifyPID int    // the process registered with mq_notify, or 0
	Attr      MqAttr // capacity, message size and length, when AttrErr is nil
	AttrErr   error  // why the attributes could not be read
}

// Charge is what the queue costs its creator's RLIMIT_MSGQUEUE (MqBytes),
// or 0 when its attributes are unknown.
func (e *QueueEntry) Charge() int64 {
	if e.AttrErr != nil {
		return 0
	}
	return MqBytes(int(e.Attr.MaxMsg), int(e.Attr.MsgSize))
}

// ListQueues returns every queue of this IPC namespace, read from the
// mqueue filesystem (see WithMqueueDir), with the attributes of each that
// this process may open. Without the filesystem it returns
// ErrNoMqueueFS, wrapped.
func ListQueues() ([]QueueEntry, error) {
	var qs []QueueEntry
	err := WithMqueueDir(func(dir string) error {
		ents, err := os.ReadDir(dir)
		if err != nil {
			return err
		}
		for _, ent := range ents {
			e := QueueEntry{Name: "/" + ent.Name()}
			path := filepath.Join(dir, ent.Name())
			var st unix.Stat_t
			if unix.Stat(path, &st) == nil {
				e.Dev, e.Ino, e.UID, e.Mode = st.Dev, st.Ino, int(st.Uid), st.Mode&0o777
			}
			// "QSIZE:5          NOTIFY:0     SIGNO:0     NOTIFY_PID:0"
			if b, err := os.ReadFile(path); err == nil {
				for _, f := range strings.Fields(string(b)) {
					k, v, _ := strings.Cut(f, ":")
					n, _ := strconv.Atoi(v)
					switch k {
					case "QSIZE":
						e.QSize = int64(n)
					case "NOTIFY_PID":
						e.NotifyPID = n
					}
				}
			}
			qs = append(qs, e)
		}
		return nil
	})
	for i := range qs {
		qs[i].Attr, qs[i].AttrErr = queueAttr(qs[i].Name)
	}
	return qs, err
}

// queueAttr opens the queue read-only, or write-only if that is what its
// mode allows, to read its attributes.
func queueAttr(name string) (MqAttr, error) {
	var err error
	for _, flags := range []int{unix.O_RDONLY, unix.O_WRONLY} {
		var fd int
		if fd, err = MqOpen(name, flags|unix.O_NONBLOCK|unix.O_CLOEXEC, 0, nil); err != nil {
			continue
		}
		a, aerr := MqGetAttr(fd)
		unix.Close(fd)
		if aerr == nil {
			return a, nil
		}
		err = aerr
	}
	return MqAttr{}, err
}
