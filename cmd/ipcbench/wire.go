package main

import (
	"bufio"
	"encoding/binary"
	"encoding/gob"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"

	"github.com/ipcchan/ipcchan/codec"
)

// The baselines of the typed scenarios: values over a Unix stream socket,
// as a Go program without ipcchan would send them.

// A wire is how the values are encoded on the socket.
type wire int

const (
	msgpackFrames wire = iota // MessagePack, each value after its length (4 bytes, little-endian)
	gobValues                 // encoding/gob
)

// packFrame replaces the contents of buf with v as a length-prefixed
// MessagePack frame.
func packFrame(buf []byte, v any) ([]byte, error) {
	buf, err := codec.Msgpack.Append(append(buf[:0], 0, 0, 0, 0), v)
	if err != nil {
		return buf, err
	}
	binary.LittleEndian.PutUint32(buf, uint32(len(buf)-4))
	return buf, nil
}

// typedConn carries values of T over a stream socket on a wire.
type typedConn[T any] struct {
	r     *bufio.Reader
	w     *bufio.Writer
	enc   *gob.Encoder
	dec   *gob.Decoder
	frame []byte
}

// newTypedConn reads c through a buffer of readBuf bytes.
func newTypedConn[T any](c net.Conn, w wire, readBuf int) *typedConn[T] {
	tc := &typedConn[T]{r: bufio.NewReaderSize(c, readBuf), w: bufio.NewWriter(c)}
	if w == gobValues {
		tc.enc, tc.dec = gob.NewEncoder(tc.w), gob.NewDecoder(tc.r)
	}
	return tc
}

// write sends one value and flushes it: a request or a reply.
func (tc *typedConn[T]) write(v *T) error {
	if tc.enc != nil {
		if err := tc.enc.Encode(v); err != nil {
			return err
		}
		return tc.w.Flush()
	}
	var err error
	if tc.frame, err = packFrame(tc.frame, v); err != nil {
		return err
	}
	tc.w.Write(tc.frame)
	return tc.w.Flush()
}

func (tc *typedConn[T]) read(v *T) error {
	if tc.dec != nil {
		return tc.dec.Decode(v)
	}
	var hdr [4]byte
	if _, err := io.ReadFull(tc.r, hdr[:]); err != nil {
		return err
	}
	tc.frame = append(tc.frame[:0], make([]byte, binary.LittleEndian.Uint32(hdr[:]))...)
	if _, err := io.ReadFull(tc.r, tc.frame); err != nil {
		return err
	}
	return codec.Msgpack.Decode(tc.frame, v)
}

// socketPingPong times one-way trips of sampleOrder to an echo peer
// (role) over a Unix socket.
func socketPingPong(role string, w wire) measurement {
	return func(b *bench, n int) (float64, error) {
		c, cmd, err := b.listen(role)
		if err != nil {
			return 0, err
		}
		tc := newTypedConn[Order](c, w, 4096)
		rt, err := roundTrips(n, func() error {
			if err := tc.write(&sampleOrder); err != nil {
				return err
			}
			var reply Order
			if err := tc.read(&reply); err != nil || reply.ID != sampleOrder.ID {
				return fmt.Errorf("reply %v, %v", reply.ID, err)
			}
			return nil
		})
		if err != nil {
			return 0, err
		}
		c.Close()
		return rt / 2, cmd.Wait()
	}
}

// socketStream times a stream of values of T that a peer (role) sends
// over a Unix socket, the clock starting at the first; check, if not nil,
// inspects each.
func socketStream[T any](role string, w wire, check func(T) error) measurement {
	return func(b *bench, n int) (float64, error) {
		c, cmd, err := b.listen(role, strconv.Itoa(n))
		if err != nil {
			return 0, err
		}
		defer c.Close()
		tc := newTypedConn[T](c, w, 64<<10)
		var v T
		if err := tc.read(&v); err != nil {
			return 0, err
		}
		start := time.Now()
		got := 0
		for {
			var v T
			if err := tc.read(&v); err != nil {
				break
			}
			if check != nil {
				if err := check(v); err != nil {
					return 0, err
				}
			}
			got++
		}
		ns := nsPer(start, got)
		return ns, cmd.Wait()
	}
}

// tickGob is the stream of Ticks with encoding/gob.
var tickGob = socketStream("tick-gob", gobValues, checkTick)

// socketSends is the role PATH N: send v N+1 times over a Unix socket,
// through a buffer, then close it.
func socketSends[T any](v T, w wire) func(peerArgs) error {
	return func(a peerArgs) error {
		c, err := net.Dial("unix", a[0])
		if err != nil {
			return err
		}
		bw := bufio.NewWriter(c)
		enc := gob.NewEncoder(bw)
		var buf []byte
		for range a.int(1) + 1 {
			if w == gobValues {
				err = enc.Encode(&v)
			} else if buf, err = packFrame(buf, v); err == nil {
				bw.Write(buf)
			}
			if err != nil {
				return err
			}
		}
		bw.Flush()
		return c.Close()
	}
}

// socketEcho is the role PATH: echo Orders over a Unix socket until the
// other side closes it.
func socketEcho(w wire) func(peerArgs) error {
	return func(a peerArgs) error {
		c, err := net.Dial("unix", a[0])
		if err != nil {
			return err
		}
		tc := newTypedConn[Order](c, w, 4096)
		for {
			var o Order
			if err := tc.read(&o); err != nil {
				return nil // the other side closed
			}
			if err := tc.write(&o); err != nil {
				return err
			}
		}
	}
}
