package objfmt

import (
	"encoding/binary"
	"strings"
	"unsafe"
)

// A pool is the shared memory that the large messages of one ring (or
// queue, or topic) are written into and read from, reused message after
// message: the file PoolPrefix + kind + "." + the object's name without its
// slash ("ipcchan.pool.ring.frames"), made by the process that made its
// object (a ring with RingPooled in its flags), just after it, with the
// object's owner and mode, and removed with it. Its payload (after the object header, Kind Pool) is
//
//	offset   0  layout     uint32, PoolLayout
//	offset   4  blockSize  uint32, bytes of a block (a multiple of 4096)
//	offset   8  blocks     uint32, how many
//	offset  12  dataOff    uint32, file offset of block 0 (a multiple of 4096)
//	offset  16  recovered  uint64, runs taken back from processes that died holding them
//	offset  24  owner      uint64, the inode number of its object's file (a pool whose owner is not the file's is left over)
//	offset  32  sequence   uint64, the last number given to a queue's message (a queue's run is Queued at its number)
//	offset  64  lockWord   uint32, futex: 0, or the pid of the process that allocates (bit 31: sleepers)
//	offset 128  roomWord   uint32, futex: allocators that found no room sleep on it (bit 31, as a ring's words)
//	offset 192  the block table: blocks entries of 16 bytes
//
// and block i at file offset dataOff + i*blockSize. A message takes a run of
// contiguous blocks; the entry of a run's first block says what the run is
// (the entries of its other blocks stay 0):
//
//	offset 0  word  uint64: state (bits 0-2), blocks in the run (bits 3-31), pid (bits 32-63); 0: free
//	offset 8  aux   uint64: while Queued, the ring position whose slot refers to the run (a queue's: the message's number)
//
// States: Loaned(pid) — the sender pid writes into it; Queued(aux) — sent,
// the slot of ring position aux holds its reference; Viewed(pid) — the
// receiver pid reads it. A sender takes the lock (compare-and-swap 0 -> its
// pid), finds the first run of free entries long enough, stores
// Loaned(pid) in its first entry and unlocks. To send, it claims a slot,
// stores aux then Queued, and publishes the slot with a reference (see
// PoolRef). The receiver that claims the slot moves the run Queued ->
// Viewed(me) (compare-and-swap, aux checked) before it frees the slot, and
// stores 0 in the entry when done. A process that holds the lock takes
// back, before it waits for room, every run Loaned or Viewed by a dead pid,
// and every run Queued whose slot no longer holds position aux; a lock held
// by a dead pid is taken over. Every access is atomic (seq_cst).
const (
	PoolLayout    = 1
	PoolPrefix    = "ipcchan.pool."
	PoolCtlSize   = 192
	PoolEntrySize = 16
	PoolSleepers  = RingSleepers

	offPoolLayout    = 0
	offPoolBlockSize = 4
	offPoolBlocks    = 8
	offPoolDataOff   = 12
	offPoolRecovered = 16
	offPoolOwner     = 24
	offPoolSeq       = 32
	offPoolLock      = 64
	offPoolRoom      = 128
)

// Pool is the kind of a pool's file.
const Pool Kind = 7

// The states of a run of pool blocks.
const (
	PoolFree   = 0
	PoolLoaned = 1
	PoolQueued = 2
	PoolViewed = 3
)

// PoolName is the file name of the pool of the object name ("/frames") of
// kind ("ring", "queue", "topic").
func PoolName(kind, name string) string {
	return PoolPrefix + kind + "." + strings.TrimPrefix(name, "/")
}

// ParsePoolName returns the kind and the object of a pool's file name, and
// false if fn is not one.
func ParsePoolName(fn string) (kind, name string, ok bool) {
	rest, ok := strings.CutPrefix(fn, PoolPrefix)
	kind, name, ok2 := strings.Cut(rest, ".")
	if !ok || !ok2 || kind == "" || name == "" {
		return "", "", false
	}
	return kind, "/" + name, true
}

// PoolWord makes the word of a run's first entry.
func PoolWord(state uint64, blocks uint32, pid uint32) uint64 {
	return state&7 | uint64(blocks)<<3&0xFFFF_FFF8 | uint64(pid)<<32
}

// ParsePoolWord splits a run's word.
func ParsePoolWord(w uint64) (state uint64, blocks uint32, pid uint32) {
	return w & 7, uint32(w>>3) & (1<<29 - 1), uint32(w >> 32)
}

// PoolGeometry is the shape of a pool of size bytes of blocks of
// blockSize: its blocks, the file offset of the first, and the file's size.
func PoolGeometry(size, blockSize int) (blocks, dataOff, fileSize int) {
	blocks = max((size+blockSize-1)/blockSize, 1)
	dataOff = (HeaderSize + PoolCtlSize + blocks*PoolEntrySize + 4095) &^ 4095
	return blocks, dataOff, dataOff + blocks*blockSize
}

// PoolInit fills the control block of a new pool (its table is zero) of
// the object whose file has inode owner.
func PoolInit(payload []byte, blockSize, blocks, dataOff int, owner uint64) {
	le := binary.LittleEndian
	le.PutUint64(payload[offPoolOwner:], owner)
	le.PutUint32(payload[offPoolLayout:], PoolLayout)
	le.PutUint32(payload[offPoolBlockSize:], uint32(blockSize))
	le.PutUint32(payload[offPoolBlocks:], uint32(blocks))
	le.PutUint32(payload[offPoolDataOff:], uint32(dataOff))
}

// ReadPoolGeometry reads a pool's shape from its payload.
func ReadPoolGeometry(payload []byte) (layout, blockSize, blocks, dataOff uint32) {
	le := binary.LittleEndian
	return le.Uint32(payload[offPoolLayout:]), le.Uint32(payload[offPoolBlockSize:]), le.Uint32(payload[offPoolBlocks:]), le.Uint32(payload[offPoolDataOff:])
}

// PoolOwner is the inode number of the file of the object the pool was
// made for.
func PoolOwner(payload []byte) uint64 { return binary.LittleEndian.Uint64(payload[offPoolOwner:]) }

// PoolWords are the shared words of a mapped pool.
type PoolWords struct {
	Lock, Room     *uint32
	Recovered, Seq *uint64
}

// PoolWordsOf returns the shared words of the pool whose payload starts
// payload.
func PoolWordsOf(payload []byte) PoolWords {
	return PoolWords{
		Lock:      (*uint32)(unsafe.Pointer(&payload[offPoolLock])),
		Room:      (*uint32)(unsafe.Pointer(&payload[offPoolRoom])),
		Recovered: (*uint64)(unsafe.Pointer(&payload[offPoolRecovered])),
		Seq:       (*uint64)(unsafe.Pointer(&payload[offPoolSeq])),
	}
}

// A pool reference is what a slot holds for a message in the pool:
//
//	offset  0  0xC1 'L' 'P' 1  magic and version
//	offset  4  0               4 bytes
//	offset  8  size            uint64: the message's bytes
//	offset 16  block           uint32: the run's first block
//	offset 20  blocks          uint32: the run's blocks
//	offset 24  seq             uint64: a queue's: the message's number, at which its run is Queued; a ring's: 0
const PoolRefSize = 32

var poolRefMagic = [4]byte{0xC1, 'L', 'P', 1}

// PoolRef makes the reference to a message of size bytes in the run of
// blocks from block, numbered seq (a queue's; a ring's is 0), in b
// (PoolRefSize bytes).
func PoolRef(b []byte, size int, block, blocks uint32, seq uint64) {
	clear(b[:PoolRefSize])
	copy(b, poolRefMagic[:])
	le := binary.LittleEndian
	le.PutUint64(b[8:], uint64(size))
	le.PutUint32(b[16:], block)
	le.PutUint32(b[20:], blocks)
	le.PutUint64(b[24:], seq)
}

// ParsePoolRef reads a pool reference, and reports false if msg is not one.
func ParsePoolRef(msg []byte) (size int, block, blocks uint32, seq uint64, ok bool) {
	if len(msg) != PoolRefSize || [4]byte(msg[:4]) != poolRefMagic {
		return 0, 0, 0, 0, false
	}
	le := binary.LittleEndian
	return int(le.Uint64(msg[8:])), le.Uint32(msg[16:]), le.Uint32(msg[20:]), le.Uint64(msg[24:]), true
}
