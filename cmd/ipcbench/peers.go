package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/gob"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ipcchan/ipcchan/codec"
	"github.com/ipcchan/ipcchan/ipcchan"
	"github.com/ipcchan/ipcchan/natsq"
)

// Order is the "10-field struct" of the typed-message scenario.
type Order struct {
	ID       int64
	Customer string
	Item     string
	Quantity int32
	Price    float64
	Currency string
	Express  bool
	Created  int64
	Tags     []string
	Note     string
}

// Tick is the 64-byte pointer-free struct of the Layout (and ring)
// scenarios: ten number fields, with explicit padding, as a C struct.
type Tick struct {
	Seq   int64
	Time  int64
	Price float64
	Qty   float64
	Bid   float64
	Ask   float64
	Venue int32
	Flags uint32
	Side  int16
	Kind  uint16
	_     [4]byte
}

var sampleTick = Tick{Seq: 42, Time: 1764000000123, Price: 101.25, Qty: 3.5, Bid: 101.2, Ask: 101.3, Venue: 7, Flags: 0x11, Side: -1, Kind: 2}

var sampleOrder = Order{ID: 123456, Customer: "ada@example.com", Item: "widget-42", Quantity: 3, Price: 19.99,
	Currency: "EUR", Express: true, Created: 1764000000, Tags: []string{"gift", "fragile"}, Note: "leave at the door"}

// runPeer runs one of the processes the measurements talk to.
func runPeer(role string, args []string) error {
	if ok, err := largePeer(role, args); ok {
		return err
	}
	if ok, err := rawJSPeer(role, args); ok {
		return err
	}
	atoi := func(i int) int { n, _ := strconv.Atoi(args[i]); return n }
	ctx := context.Background()
	switch role {
	case "queue-echo": // IN OUT: echo with ipcchan until the end of the stream
		in, out, err := open2[[]byte](args[0], args[1])
		if err != nil {
			return err
		}
		return echo(in, out)
	case "nats-echo": // URL IN OUT: echo over NATS JetStream until the end of the stream
		js, err := natsConnect(args[0])
		if err != nil {
			return err
		}
		in, out, err := natsOpen2(js, args[1], args[2])
		if err != nil {
			return err
		}
		return echo(in, out)
	case "nats-flood": // URL NAME N SIZE: send N+1 messages over NATS, then the end
		js, err := natsConnect(args[0])
		if err != nil {
			return err
		}
		q, err := natsq.Open[[]byte](ctx, js, args[1])
		if err != nil {
			return err
		}
		return flood(q, atoi(2), atoi(3))
	case "raw-echo": // IN OUT: echo with blocking mq syscalls until a zero-byte message
		in, out, err := rawOpen2(args[0], args[1])
		if err != nil {
			return err
		}
		buf := make([]byte, 8192)
		for {
			n, prio, err := rawReceive(in, buf)
			if err != nil || n == 0 {
				return err
			}
			if err := rawSend(out, buf[:n], prio); err != nil {
				return err
			}
		}
	case "unix-echo": // PATH SIZE: echo fixed-size frames over a Unix socket
		c, err := net.Dial("unix", args[0])
		if err != nil {
			return err
		}
		buf := make([]byte, atoi(1))
		for {
			if _, err := io.ReadFull(c, buf); err != nil {
				return nil // the other side closed
			}
			if _, err := c.Write(buf); err != nil {
				return err
			}
		}
	case "queue-flood": // NAME N SIZE: send N+1 messages with ipcchan, then the end
		q, err := ipcchan.OpenQueue[[]byte](args[0])
		if err != nil {
			return err
		}
		return flood(q, atoi(1), atoi(2))
	case "raw-flood": // NAME N SIZE
		fd, err := rawOpen(args[0], unix.O_WRONLY)
		if err != nil {
			return err
		}
		msg := make([]byte, atoi(2))
		for range atoi(1) + 1 {
			if err := rawSend(fd, msg, 0); err != nil {
				return err
			}
		}
		return rawSend(fd, nil, 0)
	case "unix-flood": // PATH N SIZE
		c, err := net.Dial("unix", args[0])
		if err != nil {
			return err
		}
		w := bufio.NewWriterSize(c, 64<<10)
		msg := make([]byte, atoi(2))
		for range atoi(1) + 1 {
			w.Write(msg)
		}
		w.Flush()
		return c.Close()
	case "typed-queue": // NAME N
		q, err := ipcchan.OpenQueue[Order](args[0])
		if err != nil {
			return err
		}
		for range atoi(1) + 1 {
			if err := q.Send(ctx, sampleOrder); err != nil {
				return err
			}
		}
		return q.CloseSend(ctx)
	case "tick-queue": // NAME N: send N+1 Ticks as their bytes (codec.Layout), then the end
		q, err := ipcchan.OpenQueue[Tick](args[0], ipcchan.WithCodec(codec.Layout))
		if err != nil {
			return err
		}
		for range atoi(1) + 1 {
			if err := q.Send(ctx, sampleTick); err != nil {
				return err
			}
		}
		return q.CloseSend(ctx)
	case "ring-tick-flood": // NAME N SENDERS: send N+1 Ticks on a ring; the last sender to finish ends the stream
		r, err := ipcchan.OpenRing[Tick](args[0])
		if err != nil {
			return err
		}
		return ringFlood(r, sampleTick, atoi(1), args[0], atoi(2))
	case "ring-bytes-flood": // NAME N SENDERS: the same with 64-byte []byte messages
		r, err := ipcchan.OpenRing[[]byte](args[0])
		if err != nil {
			return err
		}
		return ringFlood(r, make([]byte, 64), atoi(1), args[0], atoi(2))
	case "ring-tick-echo": // IN OUT: echo Ticks until the end of the stream
		in, err := ipcchan.OpenRing[Tick](args[0])
		if err != nil {
			return err
		}
		out, err := ipcchan.OpenRing[Tick](args[1])
		if err != nil {
			return err
		}
		return echo(in, out)
	case "ring-block": // NAME: wait a second for a message that does not come; print the CPU ns it took
		r, err := ipcchan.OpenRing[Tick](args[0])
		if err != nil {
			return err
		}
		before := cpuTime()
		wctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		if _, err := r.Receive(wctx); !errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("a receive on an empty ring: %v", err)
		}
		fmt.Println(cpuTime() - before)
		return nil
	case "tick-gob": // PATH N: N+1 Ticks with encoding/gob over a Unix socket
		return gobFlood(args[0], atoi(1), &sampleTick)
	case "typed-msgpack": // PATH N: length-prefixed MessagePack frames
		c, err := net.Dial("unix", args[0])
		if err != nil {
			return err
		}
		w := bufio.NewWriter(c)
		var frame []byte
		for range atoi(1) + 1 {
			frame, err = codec.Msgpack.Append(append(frame[:0], 0, 0, 0, 0), sampleOrder)
			if err != nil {
				return err
			}
			binary.LittleEndian.PutUint32(frame, uint32(len(frame)-4))
			w.Write(frame)
		}
		w.Flush()
		return c.Close()
	case "typed-gob": // PATH N
		return gobFlood(args[0], atoi(1), &sampleOrder)
	case "typed-queue-echo": // IN OUT: decode each Order and send it back
		in, out, err := open2[Order](args[0], args[1])
		if err != nil {
			return err
		}
		return echo(in, out)
	case "typed-msgpack-echo", "typed-gob-echo": // PATH: the same over a Unix socket
		c, err := net.Dial("unix", args[0])
		if err != nil {
			return err
		}
		tc := newTypedConn(c, role == "typed-gob-echo")
		for {
			var o Order
			if err := tc.read(&o); err != nil {
				return nil // the other side closed
			}
			if err := tc.write(&o); err != nil {
				return err
			}
		}
	case "sem-echo": // A B N: Acquire A, Release B, N+1 times
		a, err := ipcchan.OpenSemaphore(args[0])
		if err != nil {
			return err
		}
		b, err := ipcchan.OpenSemaphore(args[1])
		if err != nil {
			return err
		}
		for range atoi(2) + 1 {
			if err := a.Acquire(ctx); err != nil {
				return err
			}
			b.Release()
		}
		return nil
	case "mutex-contend": // NAME N: "ready", wait for a line, then N lock+unlock
		m, err := ipcchan.OpenMutex(args[0])
		if err != nil {
			return err
		}
		fmt.Println("ready")
		bufio.NewReader(os.Stdin).ReadString('\n')
		for range atoi(1) {
			if err := m.LockContext(ctx); err != nil {
				return err
			}
			m.Unlock()
		}
		return nil
	}
	return errors.New("unknown peer role " + role)
}

func open2[T any](a, b string) (*ipcchan.Queue[T], *ipcchan.Queue[T], error) {
	qa, err := ipcchan.OpenQueue[T](a)
	if err != nil {
		return nil, nil, err
	}
	qb, err := ipcchan.OpenQueue[T](b)
	return qa, qb, err
}

// typedConn carries Orders over a stream socket, as a Go program without
// ipcchan would: gob, or length-prefixed MessagePack frames.
type typedConn struct {
	r     *bufio.Reader
	w     *bufio.Writer
	enc   *gob.Encoder
	dec   *gob.Decoder
	frame []byte
}

func newTypedConn(c net.Conn, useGob bool) *typedConn {
	tc := &typedConn{r: bufio.NewReader(c), w: bufio.NewWriter(c)}
	if useGob {
		tc.enc, tc.dec = gob.NewEncoder(tc.w), gob.NewDecoder(tc.r)
	}
	return tc
}

// write sends one Order and flushes it: a request or a reply.
func (tc *typedConn) write(o *Order) error {
	if tc.enc != nil {
		if err := tc.enc.Encode(o); err != nil {
			return err
		}
		return tc.w.Flush()
	}
	var err error
	tc.frame, err = codec.Msgpack.Append(append(tc.frame[:0], 0, 0, 0, 0), o)
	if err != nil {
		return err
	}
	binary.LittleEndian.PutUint32(tc.frame, uint32(len(tc.frame)-4))
	tc.w.Write(tc.frame)
	return tc.w.Flush()
}

func (tc *typedConn) read(o *Order) error {
	if tc.dec != nil {
		return tc.dec.Decode(o)
	}
	var hdr [4]byte
	if _, err := io.ReadFull(tc.r, hdr[:]); err != nil {
		return err
	}
	tc.frame = append(tc.frame[:0], make([]byte, binary.LittleEndian.Uint32(hdr[:]))...)
	if _, err := io.ReadFull(tc.r, tc.frame); err != nil {
		return err
	}
	return codec.Msgpack.Decode(tc.frame, o)
}

// ringFlood sends n+1 messages (the first starts the clock), then, as the
// last of the senders to finish (a counter in a WaitGroup of the ring's
// name), ends the stream.
func ringFlood[T any](r *ipcchan.Ring[T], v T, n int, name string, senders int) error {
	for range n + 1 {
		if err := r.Send(ctx, v); err != nil {
			return err
		}
	}
	if senders == 1 {
		return r.CloseSend(ctx)
	}
	wg, err := ipcchan.OpenWaitGroup(name+"-senders", ipcchan.Create())
	if err != nil {
		return err
	}
	defer wg.Close()
	if err := wg.Add(1); err != nil {
		return err
	}
	if c, _ := wg.Count(); c == senders {
		ipcchan.UnlinkWaitGroup(name + "-senders")
		return r.CloseSend(ctx)
	}
	return nil
}

// cpuTime is the CPU time this process has used, in nanoseconds.
func cpuTime() float64 {
	var ru unix.Rusage
	unix.Getrusage(unix.RUSAGE_SELF, &ru)
	return float64(ru.Utime.Nano() + ru.Stime.Nano())
}

// gobFlood sends n+1 values *v with encoding/gob over a Unix socket to
// path, then closes it.
func gobFlood[T any](path string, n int, v *T) error {
	c, err := net.Dial("unix", path)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(c)
	enc := gob.NewEncoder(w)
	for range n + 1 {
		if err := enc.Encode(v); err != nil {
			return err
		}
	}
	w.Flush()
	return c.Close()
}

// echo sends back every message until the end of the stream.
func echo[T any](in ipcchan.Receiver[T], out ipcchan.Sender[T]) error {
	for {
		m, err := in.Receive(ctx)
		if err == io.EOF {
			return nil
		} else if err != nil {
			return err
		}
		if err := out.Send(ctx, m); err != nil {
			return err
		}
	}
}

// flood sends n+1 messages of size bytes (the first starts the clock),
// then the end of the stream.
func flood(q ipcchan.Sender[[]byte], n, size int) error {
	msg := make([]byte, size)
	for range n + 1 {
		if err := q.Send(ctx, msg); err != nil {
			return err
		}
	}
	return q.CloseSend(ctx)
}
