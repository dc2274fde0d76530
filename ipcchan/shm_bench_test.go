package ipcchan_test

import (
	"testing"

	"github.com/ipcchan/ipcchan/ipcchan"
)

var sink int64

// BenchmarkShmFieldRead reads the fields of a struct through Shm.Ptr and
// through a pointer to a plain Go struct: shared memory is ordinary memory.
func BenchmarkShmFieldRead(b *testing.B) {
	read := func(b *testing.B, s *Stats) {
		var sum int64
		for i := range b.N {
			sum += s.Hist[i&15]
		}
		sink = sum
	}
	b.Run("shm", func(b *testing.B) {
		sh, err := ipcchan.OpenShm[Stats](shmName(b), ipcchan.Create())
		if err != nil {
			b.Fatal(err)
		}
		defer sh.Close()
		read(b, sh.Ptr())
	})
	b.Run("plain", func(b *testing.B) {
		read(b, new(Stats))
	})
}

// BenchmarkShmOpenClose opens and closes an existing object.
func BenchmarkShmOpenClose(b *testing.B) {
	name := shmName(b)
	keep, err := ipcchan.OpenShm[Stats](name, ipcchan.Create())
	if err != nil {
		b.Fatal(err)
	}
	defer keep.Close()
	for range b.N {
		sh, err := ipcchan.OpenShm[Stats](name)
		if err != nil {
			b.Fatal(err)
		}
		sh.Close()
	}
}
