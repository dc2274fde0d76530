package ipcchan_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/ipcchan/ipcchan/ipcchan"
)

func init() {
	helpers["sem-echo"] = helperSemEcho
	helpers["sem-hammer"] = helperSemHammer
	helpers["mutex-hold"] = helperMutexHold
	helpers["mutex-count"] = helperMutexCount
	helpers["wg-done"] = helperWGDone
}

// helperSemEcho: A B N — N times: Acquire(A), Release(B).
func helperSemEcho(args []string) error {
	a, err := ipcchan.OpenSemaphore(args[0])
	if err != nil {
		return err
	}
	b, err := ipcchan.OpenSemaphore(args[1])
	if err != nil {
		return err
	}
	n, _ := strconv.Atoi(args[2])
	for range n {
		if err := a.Acquire(context.Background()); err != nil {
			return err
		}
		if err := b.Release(); err != nil {
			return err
		}
	}
	return nil
}

// helperSemHammer: SEM COUNTER N — says "ready", waits for a line on stdin,
// then N times: Acquire, count itself among the holders in COUNTER (a
// /dev/shm file), Release.
func helperSemHammer(args []string) error {
	s, err := ipcchan.OpenSemaphore(args[0])
	if err != nil {
		return err
	}
	c, release, err := mapCounters(args[1])
	if err != nil {
		return err
	}
	defer release()
	n, _ := strconv.Atoi(args[2])
	fmt.Println("ready")
	bufio.NewReader(os.Stdin).ReadString('\n')
	return hammer(s, c, n)
}

// helperMutexHold: NAME — locks the mutex, says "locked", and holds it
// until killed.
func helperMutexHold(args []string) error {
	m, err := ipcchan.OpenMutex(args[0])
	if err != nil {
		return err
	}
	if err := m.LockContext(context.Background()); err != nil {
		fmt.Println("lock:", err)
	}
	fmt.Println("locked")
	for { // hold it until killed (a bare select{} would be a "deadlock")
		time.Sleep(time.Hour)
	}
}

// helperMutexCount: NAME COUNTER N — says "ready", waits for a line on
// stdin (so that all workers start together), then N times: lock, read the
// counter, give the scheduler a chance, write it back plus one, unlock.
func helperMutexCount(args []string) error {
	m, err := ipcchan.OpenMutex(args[0])
	if err != nil {
		return err
	}
	c, release, err := mapCounters(args[1])
	if err != nil {
		return err
	}
	defer release()
	n, _ := strconv.Atoi(args[2])
	fmt.Println("ready")
	bufio.NewReader(os.Stdin).ReadString('\n')
	return countUnderLock(m, c, n)
}

// helperWGDone: NAME — reads one line from stdin (the go-ahead), then Done.
func helperWGDone(args []string) error {
	wg, err := ipcchan.OpenWaitGroup(args[0])
	if err != nil {
		return err
	}
	bufio.NewReader(os.Stdin).ReadString('\n')
	return wg.Done()
}

// counters is a little shared memory for the tests (ipcchan's Shm is
// tested apart): a plain counter and a holders count.
type counters struct {
	plain   *uint64
	holders *int64
	max     *int64
}

func mapCounters(path string) (counters, func(), error) {
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_CREAT|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return counters{}, nil, err
	}
	defer unix.Close(fd)
	unix.Ftruncate(fd, 4096)
	mem, err := unix.Mmap(fd, 0, 4096, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return counters{}, nil, err
	}
	return counters{
		plain:   (*uint64)(unsafe.Pointer(&mem[0])),
		holders: (*int64)(unsafe.Pointer(&mem[8])),
		max:     (*int64)(unsafe.Pointer(&mem[16])),
	}, func() { unix.Munmap(mem) }, nil
}

func countUnderLock(m *ipcchan.Mutex, c counters, n int) error {
	for range n {
		if err := m.LockContext(context.Background()); err != nil {
			return err
		}
		v := *c.plain // not atomic: only the lock keeps increments apart
		runtime.Gosched()
		*c.plain = v + 1
		m.Unlock()
	}
	return nil
}
