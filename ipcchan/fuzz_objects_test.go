package ipcchan_test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"testing"

	"github.com/ipcchan/ipcchan/internal/testutil"
	"github.com/ipcchan/ipcchan/ipcchan"
)

// FuzzOpenCorruptObjects: a file of any content under an object's name in
// /dev/shm opens as a working object or fails with a clear error; it never
// panics, hangs, or crashes the process with a bad memory access.
func FuzzOpenCorruptObjects(f *testing.F) {
	name := fmt.Sprintf("/%sfuzz-%d", testutil.Prefix, os.Getpid())
	files := []string{"/dev/shm/ipcchan.mutex." + name[1:], "/dev/shm/ipcchan.wg." + name[1:], "/dev/shm/" + name[1:], "/dev/shm/sem." + name[1:]}
	f.Cleanup(func() {
		for _, p := range files {
			os.Remove(p)
		}
	})
	// Seeds: real objects of each kind, and damaged versions of them.
	header := func(kind, size uint32) []byte {
		h := make([]byte, 192+int(size))
		copy(h, "ipcchan\x00")
		binary.LittleEndian.PutUint32(h[8:], 1)
		binary.LittleEndian.PutUint32(h[12:], kind)
		binary.LittleEndian.PutUint64(h[16:], uint64(size))
		binary.LittleEndian.PutUint32(h[24:], 4)
		return h
	}
	for kind := range uint8(4) {
		f.Add(kind, header(2, 8))
		f.Add(kind, header(3, 8))
		f.Add(kind, header(1, 16))
		f.Add(kind, header(2, 8)[:100])
		f.Add(kind, []byte{})
		f.Add(kind, make([]byte, 32))
	}
	big := header(2, 8)
	binary.LittleEndian.PutUint64(big[16:], 1<<40) // a size beyond the file
	f.Add(uint8(0), big)
	f.Fuzz(func(t *testing.T, kind uint8, content []byte) {
		path := files[kind%4]
		if err := os.WriteFile(path, content, 0o600); err != nil {
			t.Fatal(err)
		}
		defer os.Remove(path)
		check := func(err error) {
			if err != nil && !errors.Is(err, ipcchan.ErrTypeMismatch) && !errors.Is(err, ipcchan.ErrInvalid) {
				t.Fatalf("open of %d corrupt bytes: unexpected error %v", len(content), err)
			}
		}
		switch kind % 4 {
		case 0:
			m, err := ipcchan.OpenMutex(name)
			check(err)
			if err == nil {
				if m.TryLock() {
					m.Unlock()
				}
				m.Close()
			}
		case 1:
			wg, err := ipcchan.OpenWaitGroup(name)
			check(err)
			if err == nil {
				wg.Count()
				wg.Close()
			}
		case 2:
			sh, err := ipcchan.OpenShmSlice[int32](name, 0)
			check(err)
			if err == nil {
				var sum int32
				for _, v := range sh.Slice() {
					sum += v
				}
				sh.Close()
			}
		case 3:
			s, err := ipcchan.OpenSemaphore(name)
			check(err)
			if err == nil {
				if s.TryAcquire() {
					s.Release()
				}
				s.Value()
				s.Close()
			}
		}
	})
}
