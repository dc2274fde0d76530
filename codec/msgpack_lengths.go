package codec

import (
	"encoding/binary"
	"fmt"
)

// checkLengths walks the first msgpack value in data and refuses any
// array, map, string, binary or extension header that claims more
// elements or bytes than data has left. The msgpack decoder allocates
// what a header claims before reading the elements (its allocation limit
// is not applied to slices in v5.4.1), so a 6-byte message claiming 3.7
// billion elements would otherwise exhaust memory. The walk is linear in
// len(data); anything malformed that it does not measure is left to the
// decoder to report.
func checkLengths(data []byte) error {
	pos, pending := 0, 1
	for pending > 0 && pos < len(data) {
		pending--
		b := data[pos]
		pos++
		var n, size int // n items to follow, or size bytes to skip
		switch {
		case b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3:
		case b <= 0x8f:
			n = 2 * int(b&0x0f)
		case b <= 0x9f:
			n = int(b & 0x0f)
		case b <= 0xbf:
			size = int(b & 0x1f)
		default:
			var ok bool
			if n, size, pos, ok = header(data, b, pos); !ok {
				return nil
			}
		}
		if left := len(data) - pos; n > left || size > left {
			return fmt.Errorf("a header at byte %d claims %d items and %d bytes, but only %d bytes follow", pos, n, size, left)
		}
		pending += n
		pos += size
	}
	return nil
}

// header reads the length part of the msgpack header whose first byte b
// is at pos-1, and returns the items (n) and bytes (size) that follow it
// and the position after the length. ok is false when data ends first or
// b is not a valid first byte.
func header(data []byte, b byte, pos int) (n, size, next int, ok bool) {
	lenBytes, fixed, items := 0, 0, 1
	switch b {
	case 0xc4, 0xd9: // bin8, str8
		lenBytes = 1
	case 0xc5, 0xda: // bin16, str16
		lenBytes = 2
	case 0xc6, 0xdb: // bin32, str32
		lenBytes = 4
	case 0xc7, 0xc8, 0xc9: // ext8/16/32: length, then a type byte
		lenBytes, fixed = 1<<(b-0xc7), 1
	case 0xca, 0xd2, 0xce: // float32, int32, uint32
		fixed = 4
	case 0xcb, 0xd3, 0xcf: // float64, int64, uint64
		fixed = 8
	case 0xcc, 0xd0:
		fixed = 1
	case 0xcd, 0xd1:
		fixed = 2
	case 0xd4, 0xd5, 0xd6, 0xd7, 0xd8: // fixext 1/2/4/8/16 and a type byte
		fixed = 1 + 1<<(b-0xd4)
	case 0xdc, 0xde: // array16, map16
		lenBytes, items = 2, 0
	case 0xdd, 0xdf: // array32, map32
		lenBytes, items = 4, 0
	default: // 0xc1: never used
		return 0, 0, pos, false
	}
	if len(data)-pos < lenBytes {
		return 0, 0, pos, false
	}
	var l int
	switch lenBytes {
	case 1:
		l = int(data[pos])
	case 2:
		l = int(binary.BigEndian.Uint16(data[pos:]))
	case 4:
		l = int(binary.BigEndian.Uint32(data[pos:]))
	}
	pos += lenBytes
	switch {
	case items == 0 && (b == 0xde || b == 0xdf):
		return 2 * l, 0, pos, true
	case items == 0:
		return l, 0, pos, true
	}
	return 0, fixed + l, pos, true
}
