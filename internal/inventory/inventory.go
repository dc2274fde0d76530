// Package inventory lists the POSIX IPC objects of the machine (queues,
// glibc semaphores, shared memory, and ipcchan's own objects), tells which
// of ipcchan's objects nobody uses any more, and removes objects: what
// cmd/ipcchan's ls, stat and rm show and do.
package inventory

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/user"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ipcchan/ipcchan/internal/objfmt"
	"github.com/ipcchan/ipcchan/internal/posix"
	"github.com/ipcchan/ipcchan/ipcchan"
)

// Info describes one POSIX IPC object of the machine (of this IPC and mount
// namespace), as List finds it. Fields that do not apply to the kind, or
// could not be read, are zero, and -1 for counts.
type Info struct {
	Kind   string      `json:"kind"`   // "queue", "semaphore", "shm", "mutex", "waitgroup", "ring", "large" (a queue's large message), or "temp" (a half-built object)
	Name   string      `json:"name"`   // the name to open it by, "/jobs"; a large message's queue
	Path   string      `json:"path"`   // its file: "/dev/shm/sem.jobs", or "mqueue:/jobs" for a queue
	Format string      `json:"format"` // "ipcchan" (ipcchan's own), "glibc" (sem_t), or "posix" (plain queue or shm)
	UID    int         `json:"uid"`
	Owner  string      `json:"owner"` // user name, or the uid
	Mode   fs.FileMode `json:"mode"`
	Size   int64       `json:"size"` // bytes: of the file, or queued messages' bytes for a queue

	// Queues and rings.
	Len       int   `json:"len,omitempty"`      // messages waiting
	Capacity  int   `json:"capacity,omitempty"` // mq_maxmsg, or a ring's slots
	MsgSize   int   `json:"msgsize,omitempty"`  // mq_msgsize, or a ring's largest message
	NotifyPID int   `json:"notify_pid,omitempty"`
	Charge    int64 `json:"charge,omitempty"` // bytes charged to the owner's RLIMIT_MSGQUEUE

	// Queues and rings: their large messages in /dev/shm (files, and bytes).
	Large      int   `json:"large,omitempty"`
	LargeBytes int64 `json:"large_bytes,omitempty"`

	// Large messages: the kind of object they belong to, "queue" or
	// "ring" (Name is its name); their bytes; "pending" (the sender may not
	// have sent the reference yet) or "queued" in State; the sender in
	// Creator.
	Of       string `json:"of,omitempty"`
	MsgBytes int64  `json:"msg_bytes,omitempty"`

	// Semaphores: the count, and waiters that may sleep.
	Value   int `json:"value"`
	Waiters int `json:"waiters,omitempty"`

	// ipcchan objects.
	Type         string `json:"type,omitempty"`    // Shm: the Go type it holds
	Creator      int    `json:"creator,omitempty"` // pid of the creating process
	CreatorAlive bool   `json:"creator_alive,omitempty"`
	Holder       int    `json:"holder,omitempty"` // Mutex: pid holding it, 0 if free
	HolderAlive  bool   `json:"holder_alive,omitempty"`
	State        string `json:"state,omitempty"`     // Mutex: "consistent", "owner died", "not recoverable"
	Count        int    `json:"count"`               // WaitGroup
	Recovered    uint64 `json:"recovered,omitempty"` // Ring: slots taken back from processes that died holding them
	Ended        bool   `json:"ended,omitempty"`     // Ring: CloseSend was called

	// Users are the processes that have the object mapped, as far as their
	// /proc/PID/maps can be read (/dev/shm objects).
	Users []int `json:"users,omitempty"`
	// Registered are the live processes with a handle open, from the users
	// table of an ipcchan object; Overflow is set if the table ever ran out
	// of slots, which leaves the users unknown.
	Registered []int `json:"registered,omitempty"`
	Overflow   bool  `json:"overflow,omitempty"`

	Problem string `json:"problem,omitempty"` // what could not be read, if anything
}

// List returns every message queue, semaphore and shared memory object of
// the machine, sorted by name and kind. Queues are read from the mqueue
// filesystem: /dev/mqueue if it is mounted, or else a private mount when
// the process may make one (root); otherwise List returns the other objects
// and an error that says how to mount it.
func List() ([]Info, error) {
	users, _ := shmUsers()
	infos, err := listShm(users)
	if err != nil {
		return nil, err
	}
	queues, qerr := listQueues()
	infos = append(infos, queues...)
	countLarge(infos)
	sort.Slice(infos, func(i, j int) bool {
		if infos[i].Name != infos[j].Name {
			return infos[i].Name < infos[j].Name
		}
		return infos[i].Kind < infos[j].Kind
	})
	return infos, qerr
}

// listShm reads /dev/shm: glibc semaphores, ipcchan objects, plain shm.
func listShm(users map[string][]int) ([]Info, error) {
	ents, err := os.ReadDir(posix.ShmDir)
	if err != nil {
		return nil, &ipcchan.Error{Kind: "shm", Op: "list", Sys: err, Detail: "cannot read " + posix.ShmDir + ": " + err.Error()}
	}
	var infos []Info
	for _, e := range ents {
		if !e.Type().IsRegular() {
			continue
		}
		path := posix.ShmDir + e.Name()
		in := Info{Path: path, Name: "/" + e.Name(), Format: "posix", Kind: "shm", Value: -1, Count: -1, Users: users[path]}
		switch fn := e.Name(); {
		case strings.HasPrefix(fn, posix.TempPrefix):
			in.Kind, in.Format = "temp", "ipcchan"
			in.Creator, _ = strconv.Atoi(strings.Split(strings.TrimPrefix(fn, posix.TempPrefix), "-")[0])
		case strings.HasPrefix(fn, objfmt.SemPrefix):
			in.Kind, in.Format, in.Name = "semaphore", "glibc", "/"+strings.TrimPrefix(fn, objfmt.SemPrefix)
		case strings.HasPrefix(fn, objfmt.Mutex.Prefix()):
			in.Kind, in.Format, in.Name = "mutex", "ipcchan", "/"+strings.TrimPrefix(fn, objfmt.Mutex.Prefix())
		case strings.HasPrefix(fn, objfmt.WaitGroup.Prefix()):
			in.Kind, in.Format, in.Name = "waitgroup", "ipcchan", "/"+strings.TrimPrefix(fn, objfmt.WaitGroup.Prefix())
		case strings.HasPrefix(fn, objfmt.Ring.Prefix()):
			in.Kind, in.Format, in.Name = "ring", "ipcchan", "/"+strings.TrimPrefix(fn, objfmt.Ring.Prefix())
		case strings.HasPrefix(fn, objfmt.LargePrefix), strings.HasPrefix(fn, objfmt.RingLargePrefix):
			if of, name, _, ok := objfmt.ParseLargeName(fn); ok {
				in.Kind, in.Format, in.Name, in.Of = "large", "ipcchan", name, of
			}
		}
		fillShm(&in)
		infos = append(infos, in)
	}
	return infos, nil
}

// fillShm reads the owner, mode, size and contents of a /dev/shm file.
func fillShm(in *Info) {
	var st unix.Stat_t
	if err := unix.Stat(in.Path, &st); err != nil {
		in.Problem = err.Error()
		return
	}
	in.UID, in.Owner, in.Mode, in.Size = int(st.Uid), userName(int(st.Uid)), fs.FileMode(st.Mode&0o777), st.Size
	b, err := readHead(in.Path, objfmt.HeaderSize+objfmt.RingCtlSize)
	if err != nil {
		in.Problem = err.Error()
		return
	}
	switch in.Kind {
	case "semaphore":
		var ok bool
		if in.Value, in.Waiters, ok = objfmt.ReadSem(b); !ok {
			in.Problem = "too short for a sem_t"
		}
		return
	case "temp":
		in.CreatorAlive = in.Creator > 0 && posix.Alive(in.Creator)
		return
	}
	h, err := objfmt.Parse(b)
	if err != nil {
		if in.Format == "ipcchan" {
			in.Problem = "no ipcchan header"
		}
		return // a plain POSIX shm object
	}
	in.Format, in.Creator, in.Type, in.Overflow = "ipcchan", int(h.Creator), h.Type, h.Overflow
	in.Registered = nil
	for _, pid := range h.Users {
		if pid != 0 && posix.Alive(int(pid)) {
			in.Registered = append(in.Registered, int(pid))
		}
	}
	p := objfmt.Payload(b)
	switch h.Kind {
	case objfmt.Shm:
		in.Kind = "shm"
	case objfmt.Mutex:
		in.Holder, in.State = objfmt.ReadMutex(p)
		in.HolderAlive = in.Holder > 0 && posix.Alive(in.Holder)
	case objfmt.WaitGroup:
		in.Count = objfmt.ReadWaitGroup(p)
	case objfmt.Large:
		if li, err := objfmt.ParseLarge(b); err == nil {
			in.MsgBytes, in.Creator, in.State = li.Size, li.Sender, objfmt.LargeStateName(li.State)
			in.CreatorAlive = posix.Alive(li.Sender)
		}
	case objfmt.Ring:
		g, st := objfmt.ReadRingGeometry(p), objfmt.ReadRingStats(p)
		in.Capacity, in.MsgSize, in.Len, in.Recovered, in.Ended = int(g.Capacity), int(g.MaxLen), st.Len, st.Recovered, st.Ended
	}
}

// readHead reads up to n bytes from the start of a file.
func readHead(path string, n int) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b := make([]byte, n)
	m, err := io.ReadFull(f, b)
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		err = nil
	}
	return b[:m], err
}

// listQueues reads the mqueue filesystem, and each queue's attributes.
func listQueues() ([]Info, error) {
	qs, err := posix.ListQueues()
	infos := make([]Info, 0, len(qs))
	for _, q := range qs {
		in := Info{Kind: "queue", Format: "posix", Name: q.Name, Path: "mqueue:" + q.Name, Value: -1, Count: -1, Len: -1,
			UID: q.UID, Owner: userName(q.UID), Mode: fs.FileMode(q.Mode), Size: q.QSize, NotifyPID: q.NotifyPID}
		if q.AttrErr != nil {
			in.Problem = "cannot open it to read its attributes: " + q.AttrErr.Error()
		} else {
			in.Len, in.Capacity, in.MsgSize, in.Charge = int(q.Attr.CurMsgs), int(q.Attr.MaxMsg), int(q.Attr.MsgSize), q.Charge()
		}
		infos = append(infos, in)
	}
	if err != nil {
		return infos, &ipcchan.Error{Kind: "queue", Op: "list", Err: ipcchan.ErrPermission, Sys: err, Detail: err.Error()}
	}
	return infos, nil
}

// countLarge adds up the large messages among infos to their queues and
// rings.
func countLarge(infos []Info) {
	byName := map[string]*Info{}
	for i, in := range infos {
		if in.Kind == "queue" || in.Kind == "ring" {
			byName[in.Kind+" "+in.Name] = &infos[i]
		}
	}
	for _, f := range infos {
		if o := byName[f.Of+" "+f.Name]; o != nil && f.Kind == "large" {
			o.Large++
			o.LargeBytes += f.Size
		}
	}
}

// shmUsers maps each /dev/shm file to the processes that have it mapped,
// from /proc/PID/maps, matching files by device and inode: a creator maps
// the temporary file it built, which maps show under that name, deleted. It
// also returns how many processes' maps it could not read (without root,
// other users' processes).
func shmUsers() (map[string][]int, int) {
	// Device and inode of every /dev/shm file, as maps print them.
	byInode := map[string]string{}
	ents, _ := os.ReadDir(posix.ShmDir)
	for _, e := range ents {
		var st unix.Stat_t
		if unix.Stat(posix.ShmDir+e.Name(), &st) == nil {
			key := fmt.Sprintf("%02x:%02x %d", unix.Major(st.Dev), unix.Minor(st.Dev), st.Ino)
			byInode[key] = posix.ShmDir + e.Name()
		}
	}
	users := map[string][]int{}
	procs, _ := os.ReadDir("/proc")
	hidden := 0
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil {
			continue
		}
		f, err := os.Open("/proc/" + p.Name() + "/maps")
		if err != nil {
			if !errors.Is(err, fs.ErrNotExist) {
				hidden++
			}
			continue
		}
		seen := map[string]bool{}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			// address perms offset dev inode path
			fields := strings.Fields(sc.Text())
			if len(fields) < 6 {
				continue
			}
			path, ok := byInode[fields[3]+" "+fields[4]]
			if ok && !seen[path] {
				seen[path] = true
				users[path] = append(users[path], pid)
			}
		}
		if err := sc.Err(); err != nil && errors.Is(err, syscall.EACCES) {
			hidden++
		}
		f.Close()
	}
	return users, hidden
}

var userNames sync.Map // uid -> name

func userName(uid int) string {
	if n, ok := userNames.Load(uid); ok {
		return n.(string)
	}
	n := strconv.Itoa(uid)
	if u, err := user.LookupId(n); err == nil {
		n = u.Username
	}
	userNames.Store(uid, n)
	return n
}

// Stale returns the objects of ipcchan's own format that nothing uses any
// more: Mutex, WaitGroup, Ring and Shm objects whose users table lists no
// live process (and that no process whose /proc/PID/maps can be read has
// mapped), temporary files of creators that died before linking them, and
// the large messages that no queue refers to (see staleLarge).
// An object whose table once overflowed is never stale. Stale never returns
// queues, glibc semaphores or plain POSIX shm, which carry no record of who
// uses them. (A queue has no byte to spare for one without changing what C
// sees; a companion file would cost every open a file and a mapping and
// still not see C's users; and a queue nobody has open is often meant to
// be there, holding messages for the next run.)
func Stale() ([]Info, error) {
	users, _ := shmUsers()
	infos, err := listShm(users)
	if err != nil {
		return nil, err
	}
	var stale []Info
	for _, in := range infos {
		switch {
		case in.Kind == "large": // judged by staleLarge
		case in.Format != "ipcchan" || len(in.Users) > 0 || in.Problem != "":
		case in.Kind == "temp":
			if in.Creator > 0 && !in.CreatorAlive {
				stale = append(stale, in)
			}
		case len(in.Registered) == 0 && !in.Overflow:
			stale = append(stale, in)
		}
	}
	return append(stale, staleLarge(infos)...), nil
}

// largeGrace is how long a large message must stay unreferenced to be
// stale: longer than a live receiver takes from getting its reference to
// removing its file (microseconds).
var largeGrace = 200 * time.Millisecond

// staleLarge returns the large messages among files that no queue or ring
// refers to: those of a queue or ring that is gone, and, in one that is
// empty, those whose sender is not sending them (it marked them queued, or
// died). The reference of such a message was taken by a receiver that died
// before it removed the file, or was never sent; a message whose sender
// died just after sending it waits in its queue and is not stale while the
// queue holds messages. A receiver is given largeGrace to take a message
// it has just received. Nothing is judged when the queues cannot be listed.
func staleLarge(files []Info) []Info {
	candidates := func() map[string]Info {
		queues, err := listQueues()
		if err != nil {
			return nil
		}
		byName := map[string]Info{} // "queue /jobs", "ring /ticks": now, with their length
		for _, q := range queues {
			byName["queue "+q.Name] = q
		}
		for _, f := range files {
			if f.Kind == "ring" {
				if fillShm(&f); f.Problem == "" {
					byName["ring "+f.Name] = f
				}
			}
		}
		found := map[string]Info{}
		for _, f := range files {
			if f.Kind != "large" {
				continue
			}
			if b, err := readHead(f.Path, objfmt.LargeHead); err == nil { // now, not when files was listed
				li, err := objfmt.ParseLarge(b)
				if err != nil {
					continue
				}
				f.State, f.CreatorAlive = objfmt.LargeStateName(li.State), posix.Alive(li.Sender)
			} else {
				continue // gone: received
			}
			q, ok := byName[f.Of+" "+f.Name]
			if !ok || (q.Len == 0 && (f.State == "queued" || !f.CreatorAlive)) {
				found[f.Path] = f
			}
		}
		return found
	}
	first := candidates()
	if len(first) == 0 {
		return nil
	}
	time.Sleep(largeGrace)
	var stale []Info
	for path, f := range candidates() {
		if _, ok := first[path]; ok {
			stale = append(stale, f)
		}
	}
	sort.Slice(stale, func(i, j int) bool { return stale[i].Path < stale[j].Path })
	return stale
}

// Remove removes the object in (a queue, a semaphore or a /dev/shm file).
func Remove(in Info) error {
	switch in.Kind {
	case "queue":
		return ipcchan.UnlinkQueue(in.Name)
	case "semaphore":
		return ipcchan.UnlinkSemaphore(in.Name)
	case "mutex":
		return ipcchan.UnlinkMutex(in.Name)
	case "waitgroup":
		return ipcchan.UnlinkWaitGroup(in.Name)
	case "ring":
		return ipcchan.UnlinkRing(in.Name)
	case "large":
		if err := os.Remove(in.Path); err != nil {
			return &ipcchan.Error{Kind: "queue", Name: in.Name, Op: "remove a large message", Sys: err, Detail: err.Error()}
		}
		return nil
	}
	return ipcchan.UnlinkShm(in.Name) // shm, and temporary files in /dev/shm
}

// A Budget is what a user's queues are charged against the
// RLIMIT_MSGQUEUE of this process (ulimit -q): the kernel refuses to
// create a queue that would take the user's total over it.
type Budget struct {
	UID    int
	Queues int    // the user's queues
	Used   int64  // bytes they are charged
	Limit  uint64 // this process's RLIMIT_MSGQUEUE; unix.RLIM_INFINITY for none
}

// QueueBudget adds up what the queues in infos that belong to the user
// uid are charged.
func QueueBudget(infos []Info, uid int) Budget {
	b := Budget{UID: uid, Limit: unix.RLIM_INFINITY}
	var lim unix.Rlimit
	if unix.Getrlimit(unix.RLIMIT_MSGQUEUE, &lim) == nil {
		b.Limit = lim.Cur
	}
	for _, in := range infos {
		if in.Kind == "queue" && in.UID == uid {
			b.Queues++
			b.Used += in.Charge
		}
	}
	return b
}
