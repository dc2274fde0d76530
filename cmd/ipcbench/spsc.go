package main

import (
	"fmt"
	"os"
	"strconv"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The ring's ceilings: single-producer single-consumer rings in shared
// memory, in C and in Go, against which ipcchan's MPMC Ring is measured
// (see table.go). Go's atomic.Store is sequentially consistent (an XCHG
// here), where C can store with release order (a plain MOV): publishing
// the index once per several messages is how Go gets under that price.

// spscScenarios are the rings at the machine's ceiling.
var spscScenarios = []scenario{{
	name: "SPSC ring ceilings, 64-byte messages, busy-polling, per message", unit: "message",
	impls: []impl{
		{name: "ipcchan Ring[Tick]", ipcchan: true, ops: 400000, run: tickRingStream},
		{name: "C, SPSC ring, release/acquire index stores", ops: 2000000, run: inC("ring-relacq %d")},
		{name: "C, SPSC ring, seq_cst index stores", ops: 2000000, run: inC("ring-busy %d")},
		{name: "Go SPSC ring, atomic.Store per message", ops: 2000000, run: goSPSC(1)},
		{name: "Go SPSC ring, atomic.Store per 8 messages", ops: 2000000, run: goSPSC(8)},
		{name: "Go SPSC ring, atomic.Store per 32 messages", ops: 2000000, run: goSPSC(32)},
	},
}}

// spscCap is the slots of the Go SPSC ring, of 64 bytes each, after its
// two indices, each on a cache line of its own.
const spscCap = 4096

// An spsc is the Go SPSC ring mapped from its file.
type spsc struct {
	mem        []byte
	head, tail *uint64
}

// openSPSC maps the ring's file at path, making it if create.
func openSPSC(path string, create bool) (*spsc, error) {
	flags := os.O_RDWR
	if create {
		flags |= os.O_CREATE | os.O_EXCL
	}
	f, err := os.OpenFile(path, flags, 0o600)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	size := 128 + spscCap*64
	if create {
		if err := f.Truncate(int64(size)); err != nil {
			return nil, err
		}
	}
	mem, err := unix.Mmap(int(f.Fd()), 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		return nil, err
	}
	return &spsc{mem: mem, head: (*uint64)(unsafe.Pointer(&mem[0])), tail: (*uint64)(unsafe.Pointer(&mem[64]))}, nil
}

func (r *spsc) slot(pos uint64) []byte {
	off := 128 + int(pos%spscCap)*64
	return r.mem[off : off+64 : off+64]
}

// goSPSC has a peer send n+1 messages on a Go SPSC ring, publishing its
// index every every messages (and at the last), and receives them here,
// publishing its own index as often: time per message, from the first.
func goSPSC(every int) measurement {
	return func(b *bench, n int) (float64, error) {
		path := fmt.Sprintf("/dev/shm/.ipcbench-spsc-%d-%d", os.Getpid(), every)
		r, err := openSPSC(path, true)
		if err != nil {
			return 0, err
		}
		defer os.Remove(path)
		defer unix.Munmap(r.mem)
		cmd, err := b.start("go-spsc-send", path, strconv.Itoa(n), strconv.Itoa(every))
		if err != nil {
			return 0, err
		}
		var buf [64]byte
		var tail uint64
		var start time.Time
		for h := uint64(0); h <= uint64(n); h++ {
			for h == tail {
				tail = atomic.LoadUint64(r.tail)
			}
			copy(buf[:], r.slot(h))
			if buf[0] != byte(h) {
				return 0, fmt.Errorf("the Go SPSC ring delivered %d at %d", buf[0], h)
			}
			if (h+1)%uint64(every) == 0 || h == uint64(n) {
				atomic.StoreUint64(r.head, h+1)
			}
			if h == 0 {
				start = time.Now()
			}
		}
		ns := nsPer(start, n)
		return ns, cmd.Wait()
	}
}

// goSPSCSend is the role PATH N EVERY: send N+1 messages on the Go SPSC
// ring at PATH, publishing the index every EVERY messages and at the last.
func goSPSCSend(a peerArgs) error {
	r, err := openSPSC(a[0], false)
	if err != nil {
		return err
	}
	n, every := uint64(a.int(1)), uint64(a.int(2))
	var msg [64]byte
	var head uint64
	for t := uint64(0); t <= n; t++ {
		for t-head >= spscCap {
			head = atomic.LoadUint64(r.head)
		}
		msg[0] = byte(t)
		copy(r.slot(t), msg[:])
		if (t+1)%every == 0 || t == n {
			atomic.StoreUint64(r.tail, t+1)
		}
	}
	return nil
}
