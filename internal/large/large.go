// Package large carries the messages of a queue that do not fit in its
// MsgSize. Each one travels in a file of its own in /dev/shm (objfmt's
// large-message layout), and the queue carries a 32-byte reference to it
// at the message's priority, so that order, priorities and the end of the
// stream stay the queue's.
//
// Why one file per message rather than a reusable pool of shared memory:
// a file is freed by the kernel the moment nobody holds it, so nothing
// outlives its message. The sender builds it unnamed (O_TMPFILE): a sender
// that dies while writing leaves nothing. The receiver removes the name
// before it reads: a receiver that dies while reading leaves nothing
// either. A pool would save the page allocation of each message but would
// need its own recovery of the space held by dead processes, a size chosen
// in advance, and a lock shared by every sender.
//
// The copies are those of a socket: the sender writes the message into the
// file (pwrite), the receiver reads it out (pread) into the slice it
// returns. Neither maps it, so the receiver's memory holds the message
// once.
//
// Who may read it: the file belongs to the queue's owner and has the
// queue's mode narrowed to the owner's bits, under a name that holds 128
// random bits, linked with link(2), which never replaces a file. Because
// /dev/shm is sticky (mode 1777, as Linux mounts it), no other user can
// remove or replace it; a file planted under a name is never used (the
// sender draws another name) and a receiver checks the owner, the kind and
// the token of the file it opens. (On a /dev/shm without the sticky bit,
// another user could remove a message, which its receiver reports as
// ErrNotExist, but not read it or pass a file of their own for it.)
// Only processes of the queue's owner (or root) send and receive large
// messages.
package large

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"slices"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/ipcchan/ipcchan/internal/ipcerr"
	"github.com/ipcchan/ipcchan/internal/objfmt"
	"github.com/ipcchan/ipcchan/internal/posix"
)

// Max is the largest message carried: 1 GiB. It bounds what one message
// may take of /dev/shm (by default half of the machine's memory) and of
// the receiver's memory, which holds the message whole.
const Max = 1 << 30

// A reference is what the queue carries in place of a large message:
//
//	offset  0  0xC1 'L' 'M' 1  magic and version (0xC1 never starts MessagePack,
//	                           and typed messages start 0xC1 'Q')
//	offset  4  0               4 bytes
//	offset  8  size            uint64, little endian: the message's bytes
//	offset 16  token           16 bytes: the file's name is objfmt.LargeName(queue, token)
const RefSize = 32

var refMagic = [4]byte{0xC1, 'L', 'M', 1}

// IsRef reports whether msg is a reference to a large message.
func IsRef(msg []byte) bool { return len(msg) == RefSize && [4]byte(msg[:4]) == refMagic }

func parseRef(ref []byte) (size int64, token [objfmt.LargeTokenSize]byte) {
	copy(token[:], ref[16:])
	return int64(binary.LittleEndian.Uint64(ref[8:])), token
}

// A Step is a point of a large message's journey, where At is called.
type Step int

// The steps, in order.
const (
	Built    Step = iota // the sender wrote the unnamed file
	Linked               // the sender linked it under its name
	Sent                 // the sender's queue took the reference; the file is not marked queued yet
	Received             // a receiver got the reference; it has not opened the file yet
	Taken                // the receiver removed the name and is about to read

	// The steps of a message in a pool.
	PoolLoaned    // a run is Loaned to the sender
	PoolQueued    // the sender marked it Queued at its slot's position, not published yet
	PoolPublished // the slot holds the reference
	PoolViewed    // a receiver marked it Viewed; its slot is not freed yet
	PoolReleased  // the receiver freed the slot, and holds the run
)

// At, when set (by tests only), is called at each step, in the process
// that takes it: where a test kills a sender or a receiver.
var At func(Step)

// Reached calls At with s, if it is set: for the steps that other
// packages take (a ring's use of its pool).
func Reached(s Step) { at(s) }

func at(s Step) {
	if At != nil {
		At(s)
	}
}

// NewToken draws the random part of a new file's name. Tests replace it to
// plant a file under the next name.
var NewToken = func() (t [objfmt.LargeTokenSize]byte) {
	rand.Read(t[:])
	return t
}

// A Store is where one queue handle keeps and finds its large messages.
type Store struct {
	obj      ipcerr.Object
	uid, gid uint32
	mode     uint32
	refusal  string // why this process may not send large messages, or ""
}

// NewStore returns the store of the queue or ring obj, whose file is st:
// its messages' files get the object's owner and the owner's bits of its
// mode.
func NewStore(obj ipcerr.Object, st *unix.Stat_t) *Store {
	s := &Store{obj: obj, uid: st.Uid, gid: st.Gid, mode: st.Mode & 0o600}
	if euid := os.Geteuid(); euid != 0 && uint32(euid) != st.Uid {
		s.refusal = fmt.Sprintf("a large message travels in a /dev/shm file that belongs to the %s's owner (uid %d), and this process (uid %d) cannot make one", obj.Kind, st.Uid, euid)
	}
	if len(s.fileName([objfmt.LargeTokenSize]byte{})) > posix.NameMax {
		s.refusal = fmt.Sprintf("the %s's name is too long to name its large messages' files (at most %d characters)",
			obj.Kind, posix.NameMax-len(objfmt.LargeName(obj.Kind, "/", [objfmt.LargeTokenSize]byte{})))
	}
	return s
}

// fileName is the name in /dev/shm of the message token.
func (s *Store) fileName(token [objfmt.LargeTokenSize]byte) string {
	return objfmt.LargeName(s.obj.Kind, s.obj.Name, token)
}

// An Outgoing is a large message linked under its name, whose reference
// is to be sent.
type Outgoing struct {
	Ref  []byte // what to send in the queue
	fd   int
	path string
}

// Put writes msg into a new file and links it, in state pending, and
// returns the reference to send. Then exactly one of Sent or Drop must be
// called.
func (s *Store) Put(msg []byte) (*Outgoing, error) {
	if s.refusal != "" {
		return nil, s.obj.Err("send", ipcerr.ErrPermission, s.refusal)
	}
	fd, err := unix.Open(posix.ShmDir, unix.O_RDWR|unix.O_TMPFILE|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, s.sysErr(err, len(msg))
	}
	o := &Outgoing{fd: fd}
	if err := s.build(fd, msg); err != nil {
		unix.Close(fd)
		return nil, s.sysErr(err, len(msg))
	}
	at(Built)
	for range 100 {
		token := NewToken()
		head := objfmt.LargeHeader(len(msg), token, os.Getpid())
		if err = posix.WriteAt(fd, head, 0); err != nil {
			break
		}
		o.path = posix.ShmDir + s.fileName(token)
		err = unix.Linkat(unix.AT_FDCWD, fmt.Sprintf("/proc/self/fd/%d", fd), unix.AT_FDCWD, o.path, unix.AT_SYMLINK_FOLLOW)
		if err == nil {
			o.Ref = make([]byte, RefSize)
			copy(o.Ref, refMagic[:])
			binary.LittleEndian.PutUint64(o.Ref[8:], uint64(len(msg)))
			copy(o.Ref[16:], token[:])
			break
		}
		if err != syscall.EEXIST { // EEXIST: a file under that name is someone else's; never use it, draw another
			break
		}
	}
	if err != nil {
		unix.Close(fd)
		return nil, s.sysErr(err, len(msg))
	}
	at(Linked)
	return o, nil
}

// build gives the unnamed file fd the queue's owner and mode, reserves
// its memory, and writes msg.
func (s *Store) build(fd int, msg []byte) error {
	if err := unix.Fchmod(fd, s.mode); err != nil {
		return err
	}
	if uint32(os.Geteuid()) != s.uid { // root, for another user's queue
		if err := unix.Fchown(fd, int(s.uid), int(s.gid)); err != nil {
			return err
		}
	}
	// No fallocate first: tmpfs clears the pages it reserves, and writing
	// whole pages allocates them without; a full /dev/shm is ENOSPC from
	// the write, before anything is sent.
	return posix.WriteAt(fd, msg, objfmt.LargeDataOff)
}

// Sent marks the message queued: its reference is in the queue.
func (o *Outgoing) Sent() {
	at(Sent)
	unix.Pwrite(o.fd, []byte{objfmt.LargeQueued}, objfmt.LargeStateOff)
	unix.Close(o.fd)
}

// Drop removes a message whose reference was not sent.
func (o *Outgoing) Drop() {
	unix.Unlink(o.path)
	unix.Close(o.fd)
}

// sysErr is the error of a failed Put.
func (s *Store) sysErr(err error, size int) error {
	e := s.obj.Fail("send", nil, err, "")
	switch {
	case errors.Is(err, syscall.ENOSPC):
		var fs unix.Statfs_t
		free := "an unknown amount"
		if unix.Statfs(posix.ShmDir, &fs) == nil {
			free = Bytes(int64(fs.Bavail) * fs.Bsize)
		}
		e.Err, e.Detail = ipcerr.ErrLimit, fmt.Sprintf("a large message of %s needs %s of %s, which has %s free",
			Bytes(int64(size)), Bytes(int64(size+objfmt.LargeDataOff)), posix.ShmDir, free)
		e.Hint = "remove unused objects from it (ipcchan rm --stale), send smaller messages, or make it larger (mount -o remount,size=N /dev/shm)"
	case errors.Is(err, syscall.EROFS):
		e.Err, e.Detail = ipcerr.ErrLimit, posix.ShmDir+" is mounted read-only, and large messages travel through it"
	case errors.Is(err, syscall.EMFILE), errors.Is(err, syscall.ENFILE):
		e.Err, e.Detail = ipcerr.ErrLimit, "out of file descriptors for a large message's file"
	case errors.Is(err, syscall.EPERM), errors.Is(err, syscall.EACCES):
		e.Err, e.Detail = ipcerr.ErrPermission, "cannot make a large message's file in "+posix.ShmDir+": "+err.Error()
	default:
		e.Detail = "cannot make a large message's file in " + posix.ShmDir + ": " + err.Error()
	}
	return e
}

// Take reads the large message that ref, received at priority prio,
// refers to, appending it to dst, and removes its file. A reference whose
// file is gone, or is not the sender's, is a *ipcerr.MessageError holding
// the reference.
func (s *Store) Take(ref []byte, prio uint, dst []byte) ([]byte, error) {
	at(Received)
	size, token := parseRef(ref)
	path := posix.ShmDir + s.fileName(token)
	refuse := func(sentinel error, detail string) ([]byte, error) {
		return dst, &ipcerr.MessageError{Kind: s.obj.Kind, Queue: s.obj.Name, Op: "receive", Priority: prio, Data: slices.Clone(ref), Err: sentinel,
			Detail: "a reference to a large message of " + Bytes(size) + " in " + path + ", " + detail}
	}
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	switch {
	case err == syscall.ENOENT:
		return refuse(ipcerr.ErrNotExist, "which is gone: its "+s.obj.Kind+" was removed, or its sender died sending it and ipcchan rm --stale removed it")
	case err == syscall.EACCES:
		return refuse(ipcerr.ErrPermission, "which this process may not read: only the "+s.obj.Kind+"'s owner (or root) receives large messages")
	case err != nil:
		return refuse(ipcerr.ErrCorrupt, "which cannot be opened: "+err.Error())
	}
	defer unix.Close(fd)
	if why := s.check(fd, size, token); why != "" {
		return refuse(ipcerr.ErrCorrupt, "refused: "+why)
	}
	// The name goes first: from here, the file lives only as long as this
	// descriptor, so a receiver that dies reading leaves nothing.
	if err := unix.Unlink(path); err != nil {
		return refuse(ipcerr.ErrPermission, "which this process may not remove: "+err.Error())
	}
	at(Taken)
	n := len(dst)
	dst = slices.Grow(dst, int(size))[:n+int(size)]
	if err := posix.ReadFullAt(fd, dst[n:], objfmt.LargeDataOff); err != nil {
		return refuse(ipcerr.ErrCorrupt, "whose reading failed: "+err.Error())
	}
	return dst, nil
}

// check explains why the file open as fd is not the large message of the
// reference, or returns "".
func (s *Store) check(fd int, size int64, token [objfmt.LargeTokenSize]byte) string {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return err.Error()
	}
	switch {
	case st.Mode&unix.S_IFMT != unix.S_IFREG:
		return "it is not a regular file"
	case st.Uid != s.uid:
		return fmt.Sprintf("it belongs to uid %d, not to the %s's owner (uid %d)", st.Uid, s.obj.Kind, s.uid)
	case st.Size < objfmt.LargeDataOff+size:
		return fmt.Sprintf("it has %d bytes, too few for the message", st.Size)
	}
	head := make([]byte, objfmt.LargeHead)
	if err := posix.ReadFullAt(fd, head, 0); err != nil {
		return err.Error()
	}
	in, err := objfmt.ParseLarge(head)
	switch {
	case err != nil:
		return err.Error()
	case in.Token != token || in.Size != size:
		return "its header is another message's"
	}
	return ""
}

// Bytes writes a size for people: "67108864 bytes (64.0 MiB)".
func Bytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%d bytes (%.1f GiB)", n, float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%d bytes (%.1f MiB)", n, float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%d bytes (%.1f KiB)", n, float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}

// RemoveAll removes every large message of the object name ("/jobs") of
// kind ("queue" or "ring"): what goes with the object when it is removed.
func RemoveAll(kind, name string) error {
	ents, err := os.ReadDir(posix.ShmDir)
	if err != nil {
		return err
	}
	var first error
	for _, e := range ents {
		if k, n, _, ok := objfmt.ParseLargeName(e.Name()); ok && k == kind && n == name {
			if err := unix.Unlink(posix.ShmDir + e.Name()); err != nil && err != syscall.ENOENT && first == nil {
				first = err
			}
		}
	}
	return first
}
