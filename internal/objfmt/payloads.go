package objfmt

import (
	"encoding/binary"
	"unsafe"
)

// A Mutex's payload is two uint32 futex words: the lock (0 when free,
// else the holder's pid, with MutexWaiters set when someone may sleep)
// and the state of what it protects.
const (
	MutexPayload = 8
	MutexWaiters = 1 << 31
	MutexPidMask = 1<<30 - 1
)

// The states of a Mutex.
const (
	MutexConsistent     = 0
	MutexOwnerDied      = 1 // the holder took it over from a dead one and has not repaired yet
	MutexNotRecoverable = 2
)

// MutexWords returns the lock and state words of a Mutex payload.
func MutexWords(payload []byte) (lock, state *uint32) {
	return (*uint32)(unsafe.Pointer(&payload[0])), (*uint32)(unsafe.Pointer(&payload[4]))
}

// ReadMutex reads a Mutex payload: the holder's pid (0 if free) and the
// state's name.
func ReadMutex(payload []byte) (holder int, state string) {
	if len(payload) < MutexPayload {
		return 0, "?"
	}
	w, s := binary.LittleEndian.Uint32(payload), binary.LittleEndian.Uint32(payload[4:])
	return int(w & MutexPidMask), [...]string{"consistent", "owner died", "not recoverable", "?"}[min(s, 3)]
}

// A WaitGroup's payload: the count (int32, also the futex word Wait sleeps
// on) and the number of sleeping waiters (uint32).
const WaitGroupPayload = 8

// WaitGroupWords returns the count and sleepers words of a WaitGroup
// payload.
func WaitGroupWords(payload []byte) (count *int32, sleepers *uint32) {
	return (*int32)(unsafe.Pointer(&payload[0])), (*uint32)(unsafe.Pointer(&payload[4]))
}

// ReadWaitGroup reads a WaitGroup payload's count.
func ReadWaitGroup(payload []byte) int {
	if len(payload) < WaitGroupPayload {
		return -1
	}
	return int(int32(binary.LittleEndian.Uint32(payload)))
}
