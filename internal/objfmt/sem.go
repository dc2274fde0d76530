package objfmt

import (
	"encoding/binary"
	"math"
	"unsafe"
)

// A glibc named semaphore is the file /dev/shm/sem.NAME holding the sem_t
// of 64-bit glibc (since 2.21), little endian:
//
//	offset  0  data     uint64: the count in the low 32 bits, the number of
//	                    possibly sleeping waiters in the high 32
//	offset  8  private  int32, 128 (FUTEX_SHARED: the futex is not private)
//	offset 12  pad      int32, 0
//	offset 16  zeros    16 bytes
const (
	SemSize        = 32
	SemValueMax    = math.MaxInt32 // SEM_VALUE_MAX
	SemWaiterShift = 32            // of the waiter count in data
	SemValueMask   = 1<<32 - 1     // of the count in data
	SemWaiter      = 1 << SemWaiterShift

	offSemPrivate = 8
	futexShared   = 128
)

// SemInit fills a new sem_t with the count value.
func SemInit(mem []byte, value uint32) {
	binary.LittleEndian.PutUint64(mem[0:], uint64(value))
	binary.LittleEndian.PutUint32(mem[offSemPrivate:], futexShared)
}

// SemData returns the data word of the sem_t at mem; its low half is the
// futex word that waiters sleep on.
func SemData(mem []byte) *uint64 { return (*uint64)(unsafe.Pointer(&mem[0])) }

// ReadSem reads a sem_t: its count and its possibly sleeping waiters.
func ReadSem(mem []byte) (value, waiters int, ok bool) {
	if len(mem) < SemSize {
		return 0, 0, false
	}
	d := binary.LittleEndian.Uint64(mem)
	return int(d & SemValueMask), int(d >> SemWaiterShift), true
}
