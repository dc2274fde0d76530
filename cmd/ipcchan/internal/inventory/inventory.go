// Package inventory lists the POSIX IPC objects of the machine (queues,
// glibc semaphores, shared memory, and ipcchan's own objects), tells which
// are in use, idle or abandoned, and removes objects: what cmd/ipcchan's
// ls, stat and rm show and do.
package inventory

import (
	"encoding/binary"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/user"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/ipcchan/ipcchan/internal/kinds"
	"github.com/ipcchan/ipcchan/internal/objfmt"
	"github.com/ipcchan/ipcchan/internal/posix"
	"github.com/ipcchan/ipcchan/ipcchan"
)

// Info describes one POSIX IPC object of the machine (of this IPC and mount
// namespace), as List finds it. Fields that do not apply to the kind, or
// could not be read, are zero, and -1 for counts.
type Info struct {
	Kind   string      `json:"kind"`   // "queue", "semaphore", "shm", "mutex", "waitgroup", "ring", "topic", "service", "large" (a queue's large message), "pool" (a ring's pool of large messages), or "temp" (a half-built object)
	Name   string      `json:"name"`   // the name to open it by, "/jobs"; a large message's queue, a pool's ring
	Path   string      `json:"path"`   // its file: "/dev/shm/sem.jobs", or "mqueue:/jobs" for a queue
	Format string      `json:"format"` // "ipcchan" (ipcchan's own), "glibc" (sem_t), or "posix" (plain queue or shm)
	UID    int         `json:"uid"`
	Owner  string      `json:"owner"` // user name, or the uid
	Mode   fs.FileMode `json:"mode"`
	Size   int64       `json:"size"` // bytes: of the file, or queued messages' bytes for a queue

	// Queues, rings and topics.
	Len       int   `json:"len,omitempty"`      // messages waiting (not of a topic: each subscriber has its own, Subscribers' Lag)
	Capacity  int   `json:"capacity,omitempty"` // mq_maxmsg, or a ring's or topic's slots
	MsgSize   int   `json:"msgsize,omitempty"`  // mq_msgsize, or a ring's or topic's largest message
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

	// Pools, and the rings that have one (LargeMessages): the bytes of
	// its blocks, the largest message it holds; the bytes that messages,
	// loans and views hold now, as its table says (what a dead process
	// held counts until a sender takes it back); and the runs of blocks
	// taken back from processes that died holding them. A pool's Of is
	// the kind of object it belongs to, "ring", and Name its name.
	PoolSize      int64  `json:"pool_size,omitempty"`
	PoolInUse     int64  `json:"pool_in_use,omitempty"`
	PoolRecovered uint64 `json:"pool_recovered,omitempty"`
	// Orphan: a pool whose object no longer exists (its file was removed
	// without it). A pool whose object exists goes with it.
	Orphan bool `json:"orphan,omitempty"`

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
	Recovered    uint64 `json:"recovered,omitempty"` // Ring, Topic: slots (and a topic's subscriptions) taken back from processes that died holding them
	Ended        bool   `json:"ended,omitempty"`     // Ring, Topic: CloseSend was called

	// Topics: the messages a new subscription gets from before it, the
	// overflow policy ("block" or "dropoldest"), the messages published
	// (positions, counting any a dead publisher left half-written), the
	// most subscriptions it holds at once, and the used entries of its
	// subscription table.
	History        int          `json:"history,omitempty"`
	Policy         string       `json:"policy,omitempty"`
	Published      uint64       `json:"published,omitempty"`
	MaxSubscribers int          `json:"max_subscribers,omitempty"`
	Subscribers    []Subscriber `json:"subscribers,omitempty"`

	// Services: the live server processes, the other processes with the
	// service open (clients), the calls posted or being handled now, the
	// calls answered, those answered after their caller gave up (dropped),
	// and those whose server died handling them. Capacity is its records,
	// MsgSize its largest request, Recovered the records taken back from
	// dead processes.
	Servers      []int  `json:"servers,omitempty"`
	Clients      int    `json:"clients,omitempty"`
	InFlight     int    `json:"in_flight,omitempty"`
	Calls        uint64 `json:"calls,omitempty"`
	Late         uint64 `json:"late,omitempty"`
	ServerDeaths uint64 `json:"server_deaths,omitempty"`

	// Users are the processes that have the object mapped or open, as far
	// as their /proc/PID/maps and /proc/PID/fd can be read.
	Users []int `json:"users,omitempty"`
	// Registered are the live processes with a handle open, from the users
	// table of an ipcchan object (and of a topic, the live processes of its
	// subscription table); Died, the processes of those tables that died
	// without closing theirs. Overflow is set if the users table ever ran
	// out of slots, which leaves the users unknown.
	Registered []int `json:"registered,omitempty"`
	Died       []int `json:"died,omitempty"`
	Overflow   bool  `json:"overflow,omitempty"`

	// Use is what the object is to its users: InUse, Idle, Abandoned or
	// Unknown (see their doc); Why says why it is Unknown.
	Use string `json:"use"`
	Why string `json:"why,omitempty"`

	Problem string `json:"problem,omitempty"` // what could not be read, if anything

	id fileID // of a /dev/shm file: which file was judged
	// poolOwner: of a pool, the inode of the file of the object it was
	// made for (another file of that name: the pool was left over).
	poolOwner uint64
}

// A Subscriber is a used entry of a topic's subscription table.
type Subscriber struct {
	Entry  int    `json:"entry"`  // its index in the table
	Pid    int    `json:"pid"`    // the process that subscribed
	Alive  bool   `json:"alive"`  // whether that process lives
	Active bool   `json:"active"` // false while it is still subscribing (or its process died doing so)
	Cursor uint64 `json:"cursor"` // the next position it takes from the topic
	Lag    uint64 `json:"lag"`    // messages published from its cursor on (about; past the Capacity, under DropOldest, the excess is lost)
	Missed uint64 `json:"missed"` // messages it lost, overwritten before it read them (DropOldest)
}

// What an object is to its users (Info.Use).
const (
	// InUse: a live process has it mapped or open, or registered in its
	// users table or a topic's subscription table (a temporary file: its
	// creator lives; a large message: its queue or ring refers to it, or
	// may; a pool whose ring is gone: a process maps it or has it open). A
	// pool whose ring exists is what its ring is, or in use if a process
	// maps it.
	InUse = "in use"
	// Idle: nobody uses it, and everyone who did closed it cleanly (or
	// nothing records who did: queues, semaphores, plain shm). Objects are
	// kernel-persistent on purpose: an idle one is kept, for the next run
	// or a peer that opens it later.
	Idle = "idle"
	// Abandoned: its users table (and a topic's subscription table) lists
	// only processes that died without closing it, and nobody maps it or
	// has it open (a temporary file: its creator died before linking it; a
	// large message: nothing refers to it; a pool: its ring is gone, and
	// nobody maps it). ipcchan rm --stale removes these (a pool whose ring
	// exists only with its ring).
	Abandoned = "abandoned"
	// Unknown: who uses it cannot be told (its users table ran out of slots
	// once, it could not be read, or this process is in a PID namespace of
	// its own and cannot see every process), and no process visibly maps it
	// or has it open.
	Unknown = "unknown"
)

// Why an object's use is Unknown.
const (
	WhyOverflow   = "its users table ran out of slots once, so its users are not known"
	WhyUnreadable = "it could not be read"
	WhyPidNS      = "this process is in a PID namespace of its own (a container's): processes of other namespaces that share /dev/shm, and the pids in users tables, are not its to see"
)

// A Listing is every object of the machine (of this IPC and mount
// namespace), as List finds it.
type Listing struct {
	Objects []Info
	// Hidden counts the processes whose /proc/PID/maps or /proc/PID/fd
	// could not be read (other users', without root): an object that only
	// they use looks idle, or abandoned if its users table says so.
	Hidden int
}

// List returns every message queue, semaphore and shared memory object of
// the machine, sorted by name and kind. Queues are read from the mqueue
// filesystem of this IPC namespace (posix.WithMqueueDir); when it cannot be
// read, List returns the other objects and an error that says how to mount
// it.
func List() (Listing, error) {
	procs := scanProcs()
	infos, err := listShm(procs)
	if err != nil {
		return Listing{}, err
	}
	queues, qerr := listQueues(procs)
	infos = append(infos, queues...)
	countLarge(infos)
	judgeLarge(infos, qerr == nil)
	judgePools(infos, qerr == nil)
	if !posix.InitialPidNamespace() {
		for i := range infos {
			if in := &infos[i]; in.Use == Idle || in.Use == Abandoned {
				in.Use, in.Why = Unknown, WhyPidNS
			}
		}
	}
	sort.Slice(infos, func(i, j int) bool {
		if infos[i].Name != infos[j].Name {
			return infos[i].Name < infos[j].Name
		}
		return infos[i].Kind < infos[j].Kind
	})
	return Listing{Objects: infos, Hidden: procs.hidden}, qerr
}

// listShm reads /dev/shm: glibc semaphores, ipcchan objects, plain shm.
func listShm(procs procUsers) ([]Info, error) {
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
		in := Info{Path: path, Name: "/" + e.Name(), Format: "posix", Kind: "shm", Value: -1, Count: -1}
		switch fn := e.Name(); {
		case strings.HasPrefix(fn, posix.TempPrefix):
			in.Kind, in.Format = "temp", "ipcchan"
			in.Creator, _ = strconv.Atoi(strings.Split(strings.TrimPrefix(fn, posix.TempPrefix), "-")[0])
		case strings.HasPrefix(fn, objfmt.LargePrefix), strings.HasPrefix(fn, objfmt.RingLargePrefix):
			if of, name, _, ok := objfmt.ParseLargeName(fn); ok {
				in.Kind, in.Format, in.Name, in.Of = "large", "ipcchan", name, of
			}
		case strings.HasPrefix(fn, objfmt.PoolPrefix):
			if of, name, ok := objfmt.ParsePoolName(fn); ok {
				in.Kind, in.Format, in.Name, in.Of = "pool", "ipcchan", name, of
			}
		default:
			in.Kind, in.Name = kinds.OfFile(fn)
			switch in.Kind {
			case kinds.Semaphore:
				in.Format = "glibc"
			case kinds.Mutex, kinds.WaitGroup, kinds.Ring, kinds.Topic, kinds.Service:
				in.Format = "ipcchan"
			}
		}
		fillShm(&in)
		in.Users = procs.byFile[in.id]
		judge(&in)
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
	in.id = fileID{st.Dev, st.Ino}
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
	if in.Kind == "pool" && h.Kind != objfmt.Pool {
		in.Problem = "not a pool: its header says it is a " + h.Kind.String()
		return
	}
	in.Registered, in.Died = nil, nil
	for _, pid := range h.Users {
		switch {
		case pid == 0:
		case posix.Alive(int(pid)):
			in.Registered = append(in.Registered, int(pid))
		default:
			in.Died = addPid(in.Died, int(pid)) // a process of two handles died once
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
		g := objfmt.ReadRingGeometry(p)
		st := ringStats(in.Path, p, g)
		in.Capacity, in.MsgSize, in.Len, in.Recovered, in.Ended = int(g.Capacity), int(g.MaxLen), st.Len, st.Recovered, st.Ended
	case objfmt.Topic:
		fillTopic(in, p)
	case objfmt.Pool:
		fillPool(in, p)
	case objfmt.Service:
		fillService(in)
	}
}

// fillService reads a service's shape, counters, servers table and
// records from its file (read whole: a service is small, Capacity
// records).
func fillService(in *Info) {
	b, err := readHead(in.Path, int(min(in.Size, 1<<30)))
	if err != nil {
		in.Problem = err.Error()
		return
	}
	st, ok := objfmt.ReadServiceStats(objfmt.Payload(b))
	if !ok {
		in.Problem = "a damaged service: its control block is not one this version reads"
		return
	}
	in.Capacity, in.MsgSize, in.InFlight, in.Calls, in.Late, in.ServerDeaths, in.Recovered =
		int(st.Capacity), int(st.ReqMax), st.InFlight, st.Calls, st.Late, st.Died, st.Reclaimed
	for _, pid := range st.Servers {
		if posix.Alive(int(pid)) {
			in.Servers = addPid(in.Servers, int(pid))
		}
	}
	var clients []int // processes, not handles
	for _, pid := range in.Registered {
		if !slices.Contains(in.Servers, pid) {
			clients = addPid(clients, pid)
		}
	}
	in.Clients = len(clients)
}

// fillPool reads a pool's shape, its counter, and its block table, from p,
// the start of its payload, and the rest of the table from its file (read,
// not mapped, as a topic is).
func fillPool(in *Info, p []byte) {
	if in.Kind != "pool" {
		return // a pool's header on a file not named as one
	}
	if len(p) < objfmt.PoolCtlSize {
		in.Problem = "too short for a pool's control block"
		return
	}
	layout, blockSize, blocks, _ := objfmt.ReadPoolGeometry(p)
	if layout != objfmt.PoolLayout || blockSize == 0 || blocks == 0 {
		in.Problem = fmt.Sprintf("a damaged pool: it says %d blocks of %d bytes, layout %d", blocks, blockSize, layout)
		return
	}
	in.PoolSize, in.PoolRecovered, in.poolOwner = int64(blocks)*int64(blockSize), *objfmt.PoolWordsOf(p).Recovered, objfmt.PoolOwner(p)
	need := int64(objfmt.PoolCtlSize) + int64(blocks)*objfmt.PoolEntrySize
	if need > in.Size-objfmt.HeaderSize {
		in.Problem = fmt.Sprintf("a damaged pool: its file of %d bytes does not hold the table of its %d blocks", in.Size, blocks)
		return
	}
	if need > int64(len(p)) {
		b, err := readHead(in.Path, objfmt.HeaderSize+int(need))
		if err != nil {
			in.Problem = err.Error()
			return
		}
		if p = objfmt.Payload(b); int64(len(p)) < need {
			in.Problem = "its table could not be read whole"
			return
		}
	}
	table := p[objfmt.PoolCtlSize:need]
	used := int64(0)
	for i := int64(0); i < int64(blocks); {
		_, n, _ := objfmt.ParsePoolWord(binary.LittleEndian.Uint64(table[i*objfmt.PoolEntrySize:]))
		if n == 0 {
			i++
			continue
		}
		n = uint32(min(int64(n), int64(blocks)-i)) // a damaged entry may say more
		used += int64(n)
		i += int64(n)
	}
	in.PoolInUse = used * int64(blockSize)
}

// fillTopic reads a topic's shape, counters and subscription table, from
// p, the start of its payload (its control block), and the rest of the
// table from its file. Like every object, it is read with read(2), not
// mapped: a mapping would make this process one of its users in the eyes
// of another ipcchan ls or rm --stale running meanwhile. The pids of the
// subscription table count as the users table's do: a live one makes the
// topic in use, and a topic whose subscribers (and users) all died is
// abandoned.
func fillTopic(in *Info, p []byte) {
	if len(p) < objfmt.TopicCtlSize {
		in.Problem = "too short for a topic's control block"
		return
	}
	g := objfmt.ReadTopicGeometry(p)
	// The table, as far as the file holds it (a damaged control block may
	// say anything).
	if need := min(int64(objfmt.TopicCtlSize)+int64(g.SubsMax)*objfmt.TopicEntrySize, in.Size-objfmt.HeaderSize); need > int64(len(p)) {
		b, err := readHead(in.Path, objfmt.HeaderSize+int(need))
		if err != nil {
			in.Problem = err.Error()
			return
		}
		p = objfmt.Payload(b)
	}
	st := objfmt.ReadTopicStats(p)
	in.Capacity, in.MsgSize, in.History, in.MaxSubscribers = int(g.Capacity), int(g.MaxLen), int(g.History), int(g.SubsMax)
	in.Policy = "block"
	if g.Flags&objfmt.TopicDropOldest != 0 {
		in.Policy = "dropoldest"
	}
	in.Published, in.Recovered, in.Ended = st.Tail, st.Recovered, st.Ended
	for _, s := range st.Subscribers {
		sub := Subscriber{Entry: s.Entry, Pid: int(s.Pid), Alive: posix.Alive(int(s.Pid)), Active: s.Active, Cursor: s.Cursor, Lag: s.Lag, Missed: s.Missed}
		in.Subscribers = append(in.Subscribers, sub)
		if sub.Alive {
			in.Registered = addPid(in.Registered, sub.Pid)
		} else {
			in.Died = addPid(in.Died, sub.Pid)
		}
	}
}

// addPid adds pid to pids, unless it is there.
func addPid(pids []int, pid int) []int {
	if slices.Contains(pids, pid) {
		return pids
	}
	return append(pids, pid)
}

// ringStats reads the stats of the ring file at path, whose control block
// (a copy) is p and geometry g: its length from its counters, moved past
// the claims ahead of them, whose state words it reads from the file (a
// word it cannot read, 0, ends the walk).
func ringStats(path string, p []byte, g objfmt.RingGeometry) objfmt.RingStats {
	f, err := os.Open(path)
	if err != nil || g.Capacity == 0 {
		return objfmt.ReadRingStats(p, func(uint64) uint64 { return 0 })
	}
	defer f.Close()
	return objfmt.ReadRingStats(p, func(q uint64) uint64 {
		var b [8]byte
		off := int64(objfmt.HeaderSize) + int64(objfmt.RingCtlSize) + int64(q%uint64(g.Capacity))*int64(g.Stride)
		if _, err := f.ReadAt(b[:], off); err != nil {
			return 0
		}
		return binary.LittleEndian.Uint64(b[:])
	})
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
func listQueues(procs procUsers) ([]Info, error) {
	qs, err := posix.ListQueues()
	infos := make([]Info, 0, len(qs))
	for _, q := range qs {
		in := Info{Kind: "queue", Format: "posix", Name: q.Name, Path: "mqueue:" + q.Name, Value: -1, Count: -1, Len: -1,
			UID: q.UID, Owner: userName(q.UID), Mode: fs.FileMode(q.Mode), Size: q.QSize, NotifyPID: q.NotifyPID,
			Users: procs.byFile[fileID{q.Dev, q.Ino}], Use: Idle}
		if len(in.Users) > 0 {
			in.Use = InUse
		}
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
	case "topic":
		return ipcchan.UnlinkTopic(in.Name)
	case "service":
		return ipcchan.UnlinkService(in.Name)
	case "large":
		if err := os.Remove(in.Path); err != nil {
			return &ipcchan.Error{Kind: "queue", Name: in.Name, Op: "remove a large message", Sys: err, Detail: err.Error()}
		}
		return nil
	case "pool":
		if err := unix.Unlink(in.Path); err != nil {
			e := &ipcchan.Error{Kind: in.Of, Name: in.Name, Op: "remove its pool", Sys: err, Detail: "cannot remove " + in.Path + ": " + err.Error()}
			if err == unix.ENOENT {
				e.Err = ipcchan.ErrNotExist
			}
			return e
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
