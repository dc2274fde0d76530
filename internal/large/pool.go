package large

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/ipcchan/ipcchan/internal/futex"
	"github.com/ipcchan/ipcchan/internal/ipcerr"
	"github.com/ipcchan/ipcchan/internal/objfmt"
	"github.com/ipcchan/ipcchan/internal/posix"
)

// A Pool is one process's view of the shared memory that an object's
// large messages are written into and read from (objfmt's pool layout):
// blocks allocated once, with the object, and reused, so that after
// warm-up no page is allocated, cleared or freed per message. Its methods
// are safe for concurrent use.
type Pool struct {
	obj       ipcerr.Object
	mem       []byte // the file's mapping
	w         objfmt.PoolWords
	table     []byte
	blockSize int
	blocks    int
	dataOff   int
	pid       uint32
	waiters   *futex.Set
	// Live, when set, reports whether the slot of a position still
	// refers to a run Queued at it (a ring's: ring.Ring.Holds); a pool
	// without it keeps Queued runs until their receiver takes them.
	Live func(pos uint64) bool
	// Done, when set, reports whether the message of a run Queued at pos
	// (and Live) is done with: a topic's, that every subscription has
	// read. Its run goes back to the pool when an allocation needs the
	// room, not counted as recovered.
	Done func(pos uint64) bool
	// Wipe clears a run's bytes before it goes back to the pool.
	Wipe bool
}

// DefaultPoolSize is the size of a pool made without PoolSize: 16 MiB,
// allocated in /dev/shm when the pool is made.
const DefaultPoolSize = 16 << 20

// BlockSize is the unit a pool's messages take: 64 KiB.
const BlockSize = 64 << 10

// OwnerCheck is how long a wait for room sleeps before it looks for runs
// that dead processes held: half the 10 ms within which they come back.
const OwnerCheck = 5 * time.Millisecond

// A Run is a message's blocks in the pool.
type Run struct{ Block, Blocks uint32 }

// PoolPath is the file of the pool of obj.
func PoolPath(obj ipcerr.Object) string { return posix.ShmDir + objfmt.PoolName(obj.Kind, obj.Name) }

// MakePool makes the pool of obj, of size bytes (0: DefaultPoolSize),
// with mode perm, for the object's file that this process has just made,
// whose inode is owner. A pool of that name left over from an object
// removed without its pool is replaced.
func MakePool(obj ipcerr.Object, size int, perm uint32, owner uint64, waiters *futex.Set) (*Pool, error) {
	for range 100 {
		p, err := makePool(obj, size, perm, owner, waiters)
		if err != errExists {
			return p, err
		}
		unix.Unlink(PoolPath(obj)) // left over: the object it was made for is gone
	}
	return nil, obj.Err("open", ipcerr.ErrExist, "its pool "+PoolPath(obj)+" keeps coming back as it is made")
}

// makePool makes the pool of obj and maps it, or returns errExists.
func makePool(obj ipcerr.Object, size int, perm uint32, owner uint64, waiters *futex.Set) (*Pool, error) {
	if size == 0 {
		size = DefaultPoolSize
	}
	blocks, dataOff, fileSize := objfmt.PoolGeometry(size, BlockSize)
	fd, mem, err := posix.CreateShm(PoolPath(obj), perm, fileSize, func(mem []byte) {
		h := objfmt.Header{Kind: objfmt.Pool, Size: uint64(fileSize - objfmt.HeaderSize), Align: 4096, Creator: uint32(os.Getpid()), Type: "pool"}
		hb := h.Marshal()
		copy(mem, hb[:])
		objfmt.PoolInit(objfmt.Payload(mem), BlockSize, blocks, dataOff, owner)
	})
	if err == syscall.EEXIST {
		return nil, errExists
	}
	if err != nil {
		e := obj.Fail("open", nil, err, fmt.Sprintf("cannot make its pool of %s in %s: %v", Bytes(int64(fileSize)), posix.ShmDir, err))
		if errors.Is(err, syscall.ENOSPC) {
			e.Err, e.Hint = ipcerr.ErrLimit, "choose a smaller ipcchan.PoolSize, or free /dev/shm (ipcchan rm --stale)"
		}
		return nil, e
	}
	unix.Munmap(mem)
	p, err := mapPool(obj, fd, 0, owner, waiters)
	unix.Close(fd)
	return p, err
}

// MakeWait is how long OpenPool waits for the maker of an object to make
// its pool.
const MakeWait = 2 * time.Second

// OpenPool opens the pool of obj, whose file has inode owner and says it
// has a pool: its maker makes the pool just after the object, and
// OpenPool waits (up to MakeWait) for it to be there. With size (not 0),
// a pool of another size is ErrExist.
func OpenPool(obj ipcerr.Object, size int, owner uint64, waiters *futex.Set) (*Pool, error) {
	return openPoolWithin(obj, size, owner, waiters, MakeWait)
}

// openPoolWithin is OpenPool, waiting up to wait for the pool.
func openPoolWithin(obj ipcerr.Object, size int, owner uint64, waiters *futex.Set, wait time.Duration) (*Pool, error) {
	path := PoolPath(obj)
	deadline := time.Now().Add(wait)
	for {
		fd, err := posix.OpenShm(path)
		if err != nil && err != syscall.ENOENT {
			return nil, obj.Fail("open", nil, err, "cannot open its pool "+path+": "+err.Error())
		}
		if err == nil {
			p, err := mapPool(obj, fd, size, owner, waiters)
			unix.Close(fd)
			if err != errNotOwner {
				return p, err
			}
		}
		if time.Now().After(deadline) {
			e := obj.Err("open", ipcerr.ErrCorrupt, "it was made with a pool of large messages, and "+path+" is not there or not its own: its maker died making it")
			e.Hint = "remove the " + obj.Kind + " and make it again"
			return nil, e
		}
		time.Sleep(time.Millisecond) // its maker is making it: the object is a few microseconds old
	}
}

// OpenOrMakePool opens the pool of obj, an object whose senders make its
// pool when they first need it (a queue), whose file has inode owner:
// making it, of size bytes (0: DefaultPoolSize) with mode perm, if there
// is none, and replacing one left over from an earlier object of that
// name. With size (not 0), a pool of another size is ErrExist.
func OpenOrMakePool(obj ipcerr.Object, size int, perm uint32, owner uint64, waiters *futex.Set) (*Pool, error) {
	path := PoolPath(obj)
	for range 100 {
		fd, err := posix.OpenShm(path)
		switch {
		case err == nil:
			p, err := mapPool(obj, fd, size, owner, waiters)
			unix.Close(fd)
			if err != errNotOwner {
				return p, err
			}
			unix.Unlink(path) // left over: the object it was made for is gone
			continue
		case err != syscall.ENOENT:
			return nil, obj.Fail("open", nil, err, "cannot open its pool "+path+": "+err.Error())
		}
		p, err := makePool(obj, size, perm, owner, waiters)
		if err != errExists {
			return p, err
		}
	}
	return nil, obj.Err("open", ipcerr.ErrExist, "its pool "+path+" keeps appearing and vanishing")
}

// errExists is makePool's: a pool of that name is there.
var errExists = errors.New("a pool exists")

// errNotOwner is mapPool's: the pool was made for another file of the
// object's name (one removed since, or one being replaced).
var errNotOwner = errors.New("not the object's pool")

// mapPool maps the pool open as fd and checks it.
func mapPool(obj ipcerr.Object, fd, size int, owner uint64, waiters *futex.Set) (*Pool, error) {
	path := PoolPath(obj)
	n, err := posix.FileSize(fd)
	if err != nil {
		return nil, obj.Fail("open", nil, err, "")
	}
	damaged := func(why string) (*Pool, error) {
		return nil, obj.Err("open", ipcerr.ErrCorrupt, fmt.Sprintf("its pool %s %s; remove the %s and make it again", path, why, obj.Kind))
	}
	if n < objfmt.HeaderSize+objfmt.PoolCtlSize {
		return damaged("is too short")
	}
	mem, err := posix.Mmap(fd, int(n))
	if err != nil {
		return nil, obj.Fail("open", nil, err, "cannot map its pool "+path)
	}
	h, err := objfmt.Parse(mem)
	payload := objfmt.Payload(mem)
	layout, bs, blocks, dataOff := objfmt.ReadPoolGeometry(payload)
	_, wantDataOff, fileSize := objfmt.PoolGeometry(int(blocks)*int(bs), int(bs))
	switch {
	case err != nil || h.Kind != objfmt.Pool:
		unix.Munmap(mem)
		return damaged("is not a pool")
	case objfmt.PoolOwner(payload) != owner:
		unix.Munmap(mem)
		return nil, errNotOwner
	case layout != objfmt.PoolLayout || bs == 0 || bs%4096 != 0 || blocks == 0 || int(dataOff) != wantDataOff || int64(fileSize) != n:
		unix.Munmap(mem)
		return damaged(fmt.Sprintf("says %d blocks of %d bytes (layout %d), which its file of %d bytes does not hold", blocks, bs, layout, n))
	case size != 0 && int(blocks) != (size+int(bs)-1)/int(bs):
		unix.Munmap(mem)
		e := obj.Err("open", ipcerr.ErrExist, fmt.Sprintf("its pool exists with %s, not the PoolSize(%d) asked for", Bytes(int64(blocks)*int64(bs)), size))
		e.Hint = "open it without PoolSize, or remove it first"
		return nil, e
	}
	p := &Pool{obj: obj, mem: mem, w: objfmt.PoolWordsOf(payload), blockSize: int(bs), blocks: int(blocks), dataOff: int(dataOff),
		pid: uint32(os.Getpid()), waiters: waiters}
	p.table = payload[objfmt.PoolCtlSize : objfmt.PoolCtlSize+p.blocks*objfmt.PoolEntrySize]
	return p, nil
}

// Mem is the pool's mapping, to unmap (Close) when no call uses it.
func (p *Pool) Mem() []byte { return p.mem }

// BlockSize is the bytes of the pool's blocks.
func (p *Pool) BlockSize() int { return p.blockSize }

// Close unmaps the pool; no call may use it after.
func (p *Pool) Close() { unix.Munmap(p.mem) }

// Size is the pool's bytes: the largest message it holds.
func (p *Pool) Size() int { return p.blocks * p.blockSize }

// Recovered is how many runs were taken back from dead processes.
func (p *Pool) Recovered() uint64 { return atomic.LoadUint64(p.w.Recovered) }

// InUse is how many of the pool's bytes messages hold now.
func (p *Pool) InUse() int {
	n := 0
	for i := 0; i < p.blocks; {
		_, k, _ := objfmt.ParsePoolWord(atomic.LoadUint64(p.word(i)))
		if k == 0 {
			i++
			continue
		}
		n += int(k)
		i += int(k)
	}
	return n * p.blockSize
}

func (p *Pool) word(i int) *uint64 {
	return (*uint64)(unsafe.Pointer(&p.table[i*objfmt.PoolEntrySize]))
}

func (p *Pool) aux(i int) *uint64 {
	return (*uint64)(unsafe.Pointer(&p.table[i*objfmt.PoolEntrySize+8]))
}

// Bytes is the first n bytes of the run.
func (p *Pool) Bytes(r Run, n int) []byte {
	off := p.dataOff + int(r.Block)*p.blockSize
	return p.mem[off : off+n : off+n]
}

// Errors of Alloc.
var (
	ErrPoolFull = errors.New("pool full")
	ErrClosed   = errors.New("closed")
)

// Alloc takes a run of blocks for a message of n bytes (0 < n <= Size),
// Loaned by this process, waiting while the pool has no room if block
// (until ctx ends or the waiters' Close).
func (p *Pool) Alloc(ctx context.Context, n int, block bool) (Run, error) {
	k := (n + p.blockSize - 1) / p.blockSize
	k = max(k, 1)
	announced := false
	for {
		v := atomic.LoadUint32(p.w.Room)
		if announced && v&objfmt.PoolSleepers == 0 {
			if !atomic.CompareAndSwapUint32(p.w.Room, v, v|objfmt.PoolSleepers) {
				continue
			}
			v |= objfmt.PoolSleepers
		}
		if err := p.lock(ctx); err != nil {
			return Run{}, err
		}
		i := p.find(k)
		if i < 0 {
			p.recover()
			i = p.find(k)
		}
		if i >= 0 {
			atomic.StoreUint64(p.aux(i), 0)
			atomic.StoreUint64(p.word(i), objfmt.PoolWord(objfmt.PoolLoaned, uint32(k), p.pid))
		}
		p.unlock()
		if i >= 0 {
			at(PoolLoaned)
			return Run{uint32(i), uint32(k)}, nil
		}
		if !block {
			return Run{}, ErrPoolFull
		}
		if !announced {
			announced = true
			continue // announce, and look again
		}
		switch p.waiters.Wait(ctx, p.w.Room, v, -1, OwnerCheck) {
		case futex.ByContext:
			return Run{}, context.Cause(ctx)
		case futex.ByClose:
			return Run{}, ErrClosed
		}
	}
}

// find returns the first block of the first run of k free blocks, or -1.
// The caller holds the lock.
func (p *Pool) find(k int) int {
	free := 0
	for i := 0; i < p.blocks; {
		_, n, _ := objfmt.ParsePoolWord(atomic.LoadUint64(p.word(i)))
		if n == 0 {
			if free++; free == k {
				return i + 1 - k
			}
			i++
			continue
		}
		free = 0
		i += int(n)
	}
	return -1
}

// recover takes back every run that a dead process held, and every run
// Queued at a position whose slot no longer refers to it. The caller holds
// the lock, so that no run is allocated meanwhile: a run seen Queued is
// the same message until it is freed.
func (p *Pool) recover() {
	freed := false
	for i := 0; i < p.blocks; {
		w := atomic.LoadUint64(p.word(i))
		st, n, pid := objfmt.ParsePoolWord(w)
		if n == 0 {
			i++
			continue
		}
		dead, done := false, false
		switch st {
		case objfmt.PoolLoaned, objfmt.PoolViewed:
			dead = pid != p.pid && !posix.Alive(int(pid))
		case objfmt.PoolQueued:
			pos := atomic.LoadUint64(p.aux(i))
			dead = p.Live != nil && !p.Live(pos)
			done = !dead && p.Done != nil && p.Done(pos)
		}
		if (dead || done) && atomic.CompareAndSwapUint64(p.word(i), w, 0) {
			if dead {
				atomic.AddUint64(p.w.Recovered, 1)
			}
			freed = true
		}
		i += int(n)
	}
	if freed {
		futex.WakeSleepers(p.w.Room) // other allocators waiting for room
	}
}

// Queue marks the run, Loaned by this process, Queued at the ring
// position pos, whose slot this process claimed.
func (p *Pool) Queue(r Run, pos uint64) {
	atomic.StoreUint64(p.aux(int(r.Block)), pos)
	atomic.StoreUint64(p.word(int(r.Block)), objfmt.PoolWord(objfmt.PoolQueued, r.Blocks, 0))
	at(PoolQueued)
}

// View moves the run that a reference names, Queued at pos (a ring's
// position, a queue's message number), to Viewed by this process, and
// reports false if it is not that (a reference that does not follow the
// protocol, or whose run was taken back).
func (p *Pool) View(r Run, pos uint64) bool {
	if r.Blocks == 0 || int(r.Block) >= p.blocks || int(r.Block)+int(r.Blocks) > p.blocks {
		return false
	}
	queued, viewed := objfmt.PoolWord(objfmt.PoolQueued, r.Blocks, 0), objfmt.PoolWord(objfmt.PoolViewed, r.Blocks, p.pid)
	if atomic.LoadUint64(p.aux(int(r.Block))) != pos || !atomic.CompareAndSwapUint64(p.word(int(r.Block)), queued, viewed) {
		return false
	}
	if atomic.LoadUint64(p.aux(int(r.Block))) != pos {
		// Between the look and the swap the run was freed and queued
		// again, for another message: it is that one's.
		atomic.CompareAndSwapUint64(p.word(int(r.Block)), viewed, queued)
		return false
	}
	at(PoolViewed)
	return true
}

// QueuedAt reports whether the run is Queued at pos (a topic's message,
// which its subscribers read without taking it: they look, copy, and then
// check that the slot still holds pos).
func (p *Pool) QueuedAt(r Run, pos uint64) bool {
	if r.Blocks == 0 || int(r.Block) >= p.blocks || int(r.Block)+int(r.Blocks) > p.blocks {
		return false
	}
	return atomic.LoadUint64(p.aux(int(r.Block))) == pos && atomic.LoadUint64(p.word(int(r.Block))) == objfmt.PoolWord(objfmt.PoolQueued, r.Blocks, 0)
}

// NextSeq numbers a message of a queue: the number its run is Queued at.
func (p *Pool) NextSeq() uint64 { return atomic.AddUint64(p.w.Seq, 1) }

// Free gives the run, which this process holds, back to the pool.
func (p *Pool) Free(r Run) {
	if p.Wipe {
		clear(p.Bytes(r, int(r.Blocks)*p.blockSize))
	}
	atomic.StoreUint64(p.word(int(r.Block)), 0)
	futex.WakeSleepers(p.w.Room)
}

// lock takes the pool's allocation lock, from a dead holder if it must.
func (p *Pool) lock(ctx context.Context) error {
	for {
		v := atomic.LoadUint32(p.w.Lock)
		if v == 0 {
			if atomic.CompareAndSwapUint32(p.w.Lock, 0, p.pid) {
				return nil
			}
			continue
		}
		if v&objfmt.PoolSleepers == 0 {
			if !atomic.CompareAndSwapUint32(p.w.Lock, v, v|objfmt.PoolSleepers) {
				continue
			}
			v |= objfmt.PoolSleepers
		}
		switch p.waiters.Wait(ctx, p.w.Lock, v, -1, OwnerCheck) {
		case futex.ByContext:
			return context.Cause(ctx)
		case futex.ByClose:
			return ErrClosed
		case futex.ByTimeout:
			if holder := v &^ objfmt.PoolSleepers; holder != p.pid && !posix.Alive(int(holder)) {
				// Its holder died allocating: a run it took is Loaned by it
				// and goes back at the next recovery.
				if atomic.CompareAndSwapUint32(p.w.Lock, v, p.pid|objfmt.PoolSleepers) {
					return nil
				}
			}
		}
	}
}

func (p *Pool) unlock() {
	if atomic.SwapUint32(p.w.Lock, 0)&objfmt.PoolSleepers != 0 {
		futex.Wake(p.w.Lock, futex.WakeAll)
	}
}

// RemovePool removes the pool of obj, if it has one.
func RemovePool(obj ipcerr.Object) { unix.Unlink(PoolPath(obj)) }

// Reclaim takes back what dead processes held in the pool, as a wait for
// room does.
func (p *Pool) Reclaim() {
	if p.lock(context.Background()) == nil {
		p.recover()
		p.unlock()
	}
}
