package objfmt

import (
	"encoding/hex"
	"fmt"
	"strings"
)

// A large message (a message of a queue or a ring beyond its MsgSize)
// lives in a file of its own in /dev/shm, named after its object: for a
// queue LargePrefix + the queue's name without its slash + "." + 32
// hexadecimal digits of a random token ("ipcchan.large.jobs.9f0c..."), for
// a ring the same with RingLargePrefix ("ipcchan.large-ring.ticks.9f0c...").
// The file is the object header (Kind Large,
// Size the message's bytes, Creator the sender's pid), then
//
//	offset 192  state   uint8: LargePending or LargeQueued
//	offset 193  0       7 bytes
//	offset 200  token   16 bytes, as in the file's name and in the reference
//	offset 4096 the message's bytes
//
// The message starts on a page so that it is copied in and out of the
// file in whole pages. The sender builds the file unnamed (O_TMPFILE),
// links it under its name in state LargePending, sends the reference, and
// stores LargeQueued; the receiver that gets the reference opens the file,
// checks it, removes its name and reads it. See package internal/large.
const (
	LargeDataOff = 4096
	LargeHead    = offLargeToken + LargeTokenSize // what a reader of the state needs
	// LargeTokenSize is the size of a large message's token.
	LargeTokenSize = 16

	offLargeState = HeaderSize
	offLargeToken = HeaderSize + 8
)

// Large is the kind of a large message's file.
const Large Kind = 5

// The states of a large message.
const (
	LargePending = 1 // linked by its sender, whose reference may not be in the queue yet
	LargeQueued  = 2 // its reference was sent
)

// LargeStateOff is the file offset of a large message's state byte.
const LargeStateOff = offLargeState

// LargeName is the file name of the large message token of the object
// name ("/jobs") of kind ("queue" or "ring").
func LargeName(kind, name string, token [LargeTokenSize]byte) string {
	return largePrefix(kind) + strings.TrimPrefix(name, "/") + "." + hex.EncodeToString(token[:])
}

func largePrefix(kind string) string {
	if kind == "ring" {
		return RingLargePrefix
	}
	return LargePrefix
}

// ParseLargeName returns the kind ("queue" or "ring"), the object ("/jobs")
// and the token of the file name of a large message, and false if fn is
// not one.
func ParseLargeName(fn string) (kind, name string, token [LargeTokenSize]byte, ok bool) {
	kind = "queue"
	rest, ok := strings.CutPrefix(fn, LargePrefix)
	if !ok {
		kind = "ring"
		rest, ok = strings.CutPrefix(fn, RingLargePrefix)
	}
	i := strings.LastIndexByte(rest, '.')
	if !ok || i < 1 || len(rest)-i-1 != 2*LargeTokenSize {
		return "", "", token, false
	}
	if _, err := hex.Decode(token[:], []byte(rest[i+1:])); err != nil {
		return "", "", token, false
	}
	return kind, "/" + rest[:i], token, true
}

// LargeHeader returns the first LargeHead bytes of the file of a large
// message of size bytes, with its token, sent by pid, in state LargePending.
func LargeHeader(size int, token [LargeTokenSize]byte, pid int) []byte {
	h := Header{Kind: Large, Size: uint64(size), Creator: uint32(pid), Type: "large message"}
	b := make([]byte, LargeHead)
	hb := h.Marshal()
	copy(b, hb[:])
	b[offLargeState] = LargePending
	copy(b[offLargeToken:], token[:])
	return b
}

// A LargeInfo is what the head of a large message's file says.
type LargeInfo struct {
	Size   int64
	Sender int // pid
	State  uint8
	Token  [LargeTokenSize]byte
}

// ParseLarge reads the head of a large message's file (its first
// LargeHead bytes at least).
func ParseLarge(b []byte) (LargeInfo, error) {
	h, err := Parse(b)
	if err != nil {
		return LargeInfo{}, err
	}
	if h.Kind != Large || len(b) < LargeHead {
		return LargeInfo{}, fmt.Errorf("it is an ipcchan %v, not a large message", h.Kind)
	}
	in := LargeInfo{Size: int64(h.Size), Sender: int(h.Creator), State: b[offLargeState]}
	copy(in.Token[:], b[offLargeToken:])
	return in, nil
}

// LargeStateName names a state, as ipcchan ls shows it.
func LargeStateName(s uint8) string {
	switch s {
	case LargePending:
		return "pending"
	case LargeQueued:
		return "queued"
	}
	return fmt.Sprintf("state %d", s)
}
