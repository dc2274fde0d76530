package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/gob"
	"fmt"
	"io"
	"net"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ipcchan/ipcchan/codec"
	"github.com/ipcchan/ipcchan/ipcchan"
)

func scenarios(b *bench) []scenario {
	cfg := b.cfg
	noC := ""
	if b.cc == "" {
		noC = "gcc not found"
	}
	sizes := []int{64, 1024, 8192}
	scs := []scenario{{
		name: "queue ping-pong 64 B, one-way latency", unit: "one-way trip",
		impls: []impl{
			{name: "ipcchan Queue[[]byte]", ipcchan: true, n: cfg.n(4000), run: b.queuePingPong},
			{name: "raw mq syscalls from Go", n: cfg.n(4000), run: b.rawPingPong},
			{name: "C, glibc mq_send/mq_receive", n: cfg.n(4000), skip: noC, run: func(n int) (float64, error) { return b.c("mq-pingpong", strconv.Itoa(n), "64") }},
			{name: "Go net, Unix socket", n: cfg.n(4000), run: b.unixPingPong},
			{name: "Go channel, one process", n: cfg.n(200000), run: chanPingPong},
			{name: "natsq Queue[[]byte], NATS JetStream on loopback", n: cfg.n(1000), run: b.natsPingPong},
		},
	}}
	for _, size := range sizes {
		scs = append(scs, scenario{
			name: fmt.Sprintf("queue throughput %s, per message", byteSize(size)), unit: "message",
			impls: []impl{
				{name: "ipcchan Queue[[]byte].Receive", ipcchan: true, n: cfg.n(20000), run: func(n int) (float64, error) { return b.queueStream(n, size, false) }},
				{name: "ipcchan Queue[[]byte].ReceiveAppend", ipcchan: true, n: cfg.n(20000), run: func(n int) (float64, error) { return b.queueStream(n, size, true) }},
				{name: "raw mq syscalls from Go", n: cfg.n(20000), run: func(n int) (float64, error) { return b.rawStream(n, size) }},
				{name: "C, glibc mq_send/mq_receive", n: cfg.n(20000), skip: noC, run: func(n int) (float64, error) { return b.c("mq-stream", strconv.Itoa(n), strconv.Itoa(size)) }},
				{name: "Go net, Unix socket", n: cfg.n(20000), run: func(n int) (float64, error) { return b.unixStream(n, size) }},
				{name: "Go channel, one process", n: cfg.n(200000), run: func(n int) (float64, error) { return chanStream(n, size) }},
				{name: "natsq Queue[[]byte], NATS JetStream on loopback", n: cfg.n(2000), run: func(n int) (float64, error) { return b.natsStream(n, size) }},
			},
		})
	}
	scs = append(scs, scenario{
		name: "typed request/response (a 10-field struct), one-way latency", unit: "one-way trip",
		impls: []impl{
			{name: "ipcchan Queue[Order] (msgpack)", ipcchan: true, n: cfg.n(4000), run: b.typedQueuePingPong},
			{name: "Unix socket + msgpack", n: cfg.n(4000), run: func(n int) (float64, error) { return b.typedSocketPingPong(n, "typed-msgpack-echo") }},
			{name: "Unix socket + encoding/gob", n: cfg.n(4000), run: func(n int) (float64, error) { return b.typedSocketPingPong(n, "typed-gob-echo") }},
		},
	}, scenario{
		name: "typed stream (a 10-field struct), per message", unit: "message",
		impls: []impl{
			{name: "ipcchan Queue[Order] (msgpack)", ipcchan: true, n: cfg.n(10000), run: b.typedQueue},
			{name: "Unix socket + msgpack", n: cfg.n(10000), run: func(n int) (float64, error) { return b.typedSocket(n, "typed-msgpack") }},
			{name: "Unix socket + encoding/gob", n: cfg.n(10000), run: func(n int) (float64, error) { return b.typedSocket(n, "typed-gob") }},
		},
	}, scenario{
		name: "typed stream of a 64-byte struct (10 number fields), per message", unit: "message",
		impls: []impl{
			{name: "ipcchan Queue[Tick] (codec.Layout)", ipcchan: true, n: cfg.n(20000), run: b.tickQueue},
			{name: "raw mq syscalls from Go, 64 B", n: cfg.n(20000), run: func(n int) (float64, error) { return b.rawStream(n, 64) }},
			{name: "Unix socket + encoding/gob", n: cfg.n(20000), run: func(n int) (float64, error) { return b.typedSocket(n, "tick-gob") }},
		},
	}, scenario{
		name: "ring stream of a 64-byte struct (10 number fields), per message", unit: "message",
		impls: []impl{
			{name: "ipcchan Ring[Tick]", ipcchan: true, n: cfg.n(400000), run: func(n int) (float64, error) { return b.ringStream(n, "ring-tick-flood", 1) }},
			{name: "ipcchan Queue[Tick] (codec.Layout)", ipcchan: true, n: cfg.n(20000), run: b.tickQueue},
			{name: "Unix socket + encoding/gob", n: cfg.n(20000), run: func(n int) (float64, error) { return b.typedSocket(n, "tick-gob") }},
			{name: "C, SPSC ring in shm, busy-polling", n: cfg.n(2000000), skip: noC, run: func(n int) (float64, error) { return b.c("ring-busy", strconv.Itoa(n)) }},
			{name: "C, SPSC ring in shm, futex wake-ups", n: cfg.n(2000000), skip: noC, run: func(n int) (float64, error) { return b.c("ring-futex", strconv.Itoa(n)) }},
		},
	}, scenario{
		name: "ring stream of 64 B []byte, per message", unit: "message",
		impls: []impl{
			{name: "ipcchan Ring[[]byte]", ipcchan: true, n: cfg.n(400000), run: func(n int) (float64, error) { return b.ringStream(n, "ring-bytes-flood", 1) }},
			{name: "C, SPSC ring in shm, futex wake-ups", n: cfg.n(2000000), skip: noC, run: func(n int) (float64, error) { return b.c("ring-futex", strconv.Itoa(n)) }},
		},
	}, scenario{
		name: "ring, 2 senders x 2 receivers, total per message", unit: "message",
		impls: []impl{
			{name: "ipcchan Ring[Tick], 2 x 2", ipcchan: true, n: cfg.n(400000), run: func(n int) (float64, error) { return b.ringStream(n, "ring-tick-flood", 2) }},
			{name: "ipcchan Ring[Tick], 1 x 1", ipcchan: true, n: cfg.n(400000), run: func(n int) (float64, error) { return b.ringStream(n, "ring-tick-flood", 1) }},
		},
	}, scenario{
		name: "ring ping-pong (a 64-byte struct), one-way latency", unit: "one-way trip",
		impls: []impl{
			{name: "ipcchan Ring[Tick]", ipcchan: true, n: cfg.n(20000), run: b.ringPingPong},
			{name: "C, futex ping-pong in shm", n: cfg.n(20000), skip: noC, run: func(n int) (float64, error) {
				rt, err := b.c("futex-pingpong", strconv.Itoa(n))
				return rt / 2, err
			}},
			{name: "ipcchan Queue[[]byte] 64 B", ipcchan: true, n: cfg.n(4000), run: b.queuePingPong},
		},
	}, scenario{
		name: "a ring receiver blocked for 1 s, CPU time", unit: "second blocked",
		impls: []impl{
			{name: "ipcchan Ring[Tick].Receive", ipcchan: true, n: 1, run: b.ringBlocked},
		},
	}, scenario{
		name: "semaphore ping-pong, round trip", unit: "round trip",
		impls: []impl{
			{name: "ipcchan Semaphore", ipcchan: true, n: cfg.n(4000), run: b.semPingPong},
			{name: "C, glibc sem_post/sem_wait", n: cfg.n(4000), skip: noC, run: func(n int) (float64, error) { return b.c("sem-pingpong", strconv.Itoa(n)) }},
			{name: "C, raw futex", n: cfg.n(4000), skip: noC, run: func(n int) (float64, error) { return b.c("futex-pingpong", strconv.Itoa(n)) }},
		},
	}, scenario{
		name: "mutex lock+unlock, uncontended", unit: "lock+unlock",
		impls: []impl{
			{name: "ipcchan Mutex", ipcchan: true, n: cfg.n(2000000), run: b.mutexUncontended},
			{name: "sync.Mutex, one process", n: cfg.n(2000000), run: syncMutexUncontended},
			{name: "C, robust pthread mutex in shm", n: cfg.n(2000000), skip: noC, run: func(n int) (float64, error) { return b.c("mutex-uncontended", strconv.Itoa(n)) }},
		},
	}, scenario{
		name: "mutex lock+unlock, 2 processes contending", unit: "lock+unlock",
		impls: []impl{
			{name: "ipcchan Mutex", ipcchan: true, n: cfg.n(200000), run: b.mutexContended},
			{name: "sync.Mutex, 2 goroutines", n: cfg.n(200000), run: syncMutexContended},
			{name: "C, robust pthread mutex, 2 processes", n: cfg.n(200000), skip: noC, run: func(n int) (float64, error) { return b.c("mutex-contended", strconv.Itoa(n)) }},
		},
	}, scenario{
		name: "shm field read+write", unit: "read+write",
		impls: []impl{
			{name: "ipcchan Shm[T].Ptr()", ipcchan: true, n: cfg.n(20000000), run: b.shmField},
			{name: "plain Go struct", n: cfg.n(20000000), run: plainField},
		},
	})
	for _, k := range []struct{ kind, c string }{{"queue", "queue"}, {"semaphore", "sem"}, {"shm (4 KiB)", "shm"}} {
		scs = append(scs, scenario{
			name: "create + close + unlink: " + k.kind, unit: "object",
			impls: []impl{
				{name: "ipcchan", ipcchan: true, n: cfg.n(1000), run: func(n int) (float64, error) { return b.openClose(k.c, n) }},
				{name: "C", n: cfg.n(1000), skip: noC, run: func(n int) (float64, error) { return b.c("open-close", k.c, strconv.Itoa(n)) }},
			},
		})
	}
	scs = append(scs, largeScenarios(b)...)
	return append(scs, natsScenarios(b)...)
}

func byteSize(n int) string {
	if n >= 1024 {
		return fmt.Sprintf("%d KiB", n/1024)
	}
	return fmt.Sprintf("%d B", n)
}

var ctx = context.Background()

// pair makes the two queues of a ping-pong and starts the echo peer.
func (b *bench) pair(role string) (ping, pong string, cmd *exec.Cmd, err error) {
	ping, pong = b.name("ping"), b.name("pong")
	for _, n := range []string{ping, pong} {
		q, err := ipcchan.OpenQueue[[]byte](n, ipcchan.Create(), ipcchan.Exclusive(), ipcchan.Capacity(10), ipcchan.MsgSize(8192))
		if err != nil {
			return "", "", nil, err
		}
		q.Close()
	}
	cmd = b.peer(role, ping, pong)
	return ping, pong, cmd, cmd.Start()
}

func (b *bench) unpair(ping, pong string, cmd *exec.Cmd) error {
	err := cmd.Wait()
	ipcchan.UnlinkQueue(ping)
	ipcchan.UnlinkQueue(pong)
	return err
}

func (b *bench) queuePingPong(n int) (float64, error) {
	ping, pong, cmd, err := b.pair("queue-echo")
	if err != nil {
		return 0, err
	}
	out, _ := ipcchan.OpenQueue[[]byte](ping)
	in, _ := ipcchan.OpenQueue[[]byte](pong)
	defer out.Close()
	defer in.Close()
	ns, err := pingPong(out, in, make([]byte, 64), n, nil)
	if err != nil {
		return 0, err
	}
	return ns, b.unpair(ping, pong, cmd)
}

func (b *bench) rawPingPong(n int) (float64, error) {
	ping, pong, cmd, err := b.pair("raw-echo")
	if err != nil {
		return 0, err
	}
	in, out, err := rawOpen2(pong, ping) // we read pong and write ping
	if err != nil {
		return 0, err
	}
	defer closeFds(out, in)
	msg, buf := make([]byte, 64), make([]byte, 8192)
	rawSend(out, msg, 0)
	rawReceive(in, buf)
	start := time.Now()
	for range n {
		if err := rawSend(out, msg, 0); err != nil {
			return 0, err
		}
		if _, _, err := rawReceive(in, buf); err != nil {
			return 0, err
		}
	}
	ns := float64(time.Since(start).Nanoseconds()) / float64(n) / 2
	rawSend(out, nil, 0)
	return ns, b.unpair(ping, pong, cmd)
}

// listen makes a Unix socket and starts a peer that connects to it.
func (b *bench) listen(role string, args ...string) (net.Conn, *exec.Cmd, error) {
	b.seq++
	path := filepath.Join(b.dir, fmt.Sprintf("s%d.sock", b.seq))
	l, err := net.Listen("unix", path)
	if err != nil {
		return nil, nil, err
	}
	defer l.Close()
	cmd := b.peer(role, append([]string{path}, args...)...)
	if err := cmd.Start(); err != nil {
		return nil, nil, err
	}
	c, err := l.Accept()
	return c, cmd, err
}

func (b *bench) unixPingPong(n int) (float64, error) {
	c, cmd, err := b.listen("unix-echo", "64")
	if err != nil {
		return 0, err
	}
	msg := make([]byte, 64)
	c.Write(msg)
	io.ReadFull(c, msg)
	start := time.Now()
	for range n {
		if _, err := c.Write(msg); err != nil {
			return 0, err
		}
		if _, err := io.ReadFull(c, msg); err != nil {
			return 0, err
		}
	}
	ns := float64(time.Since(start).Nanoseconds()) / float64(n) / 2
	c.Close()
	return ns, cmd.Wait()
}

func chanPingPong(n int) (float64, error) {
	in, out := make(chan []byte), make(chan []byte)
	go func() {
		for m := range in {
			out <- m
		}
		close(out)
	}()
	msg := make([]byte, 64)
	start := time.Now()
	for range n {
		in <- msg
		<-out
	}
	ns := float64(time.Since(start).Nanoseconds()) / float64(n) / 2
	close(in)
	return ns, nil
}

func (b *bench) streamQueue() (string, error) {
	name := b.name("stream")
	q, err := ipcchan.OpenQueue[[]byte](name, ipcchan.Create(), ipcchan.Exclusive(), ipcchan.Capacity(10), ipcchan.MsgSize(8192))
	if err != nil {
		return "", err
	}
	return name, q.Close()
}

func (b *bench) queueStream(n, size int, appendBuf bool) (float64, error) {
	return b.queueStreamWith(n, size, appendBuf, false)
}

// queueStreamWith has a peer send n messages of size bytes, and receives
// them, on queues opened with LargeMessages if large.
func (b *bench) queueStreamWith(n, size int, appendBuf, large bool) (float64, error) {
	name, err := b.streamQueue()
	if err != nil {
		return 0, err
	}
	defer ipcchan.UnlinkQueue(name)
	var opts []ipcchan.Option
	role := "queue-flood"
	if large {
		opts, role = append(opts, ipcchan.LargeMessages()), "queue-flood-large"
	}
	q, err := ipcchan.OpenQueue[[]byte](name, opts...)
	if err != nil {
		return 0, err
	}
	defer q.Close()
	cmd := b.peer(role, name, strconv.Itoa(n), strconv.Itoa(size))
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	buf := make([]byte, 0, max(size, 8192))
	q.ReceiveAppend(ctx, buf) // the clock starts at the first message
	start := time.Now()
	got := 0
	for {
		if appendBuf {
			buf, _, err = q.ReceiveAppend(ctx, buf[:0])
		} else {
			_, err = q.Receive(ctx)
		}
		if err == io.EOF {
			break
		} else if err != nil {
			return 0, err
		}
		got++
	}
	ns := float64(time.Since(start).Nanoseconds()) / float64(got)
	return ns, cmd.Wait()
}

func (b *bench) rawStream(n, size int) (float64, error) {
	name, err := b.streamQueue()
	if err != nil {
		return 0, err
	}
	defer ipcchan.UnlinkQueue(name)
	fd, err := rawOpen(name, 0)
	if err != nil {
		return 0, err
	}
	defer closeFds(fd)
	cmd := b.peer("raw-flood", name, strconv.Itoa(n), strconv.Itoa(size))
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	buf := make([]byte, 8192)
	rawReceive(fd, buf)
	start := time.Now()
	got := 0
	for {
		m, _, err := rawReceive(fd, buf)
		if err != nil {
			return 0, err
		}
		if m == 0 {
			break
		}
		got++
	}
	ns := float64(time.Since(start).Nanoseconds()) / float64(got)
	return ns, cmd.Wait()
}

func (b *bench) unixStream(n, size int) (float64, error) {
	c, cmd, err := b.listen("unix-flood", strconv.Itoa(n), strconv.Itoa(size))
	if err != nil {
		return 0, err
	}
	defer c.Close()
	buf := make([]byte, size)
	r := bufio.NewReaderSize(c, 64<<10)
	io.ReadFull(r, buf)
	start := time.Now()
	got := 0
	for {
		if _, err := io.ReadFull(r, buf); err != nil {
			break
		}
		got++
	}
	ns := float64(time.Since(start).Nanoseconds()) / float64(got)
	return ns, cmd.Wait()
}

func chanStream(n, size int) (float64, error) {
	ch := make(chan []byte, 10)
	go func() {
		msg := make([]byte, size)
		for range n {
			ch <- msg
		}
		close(ch)
	}()
	start := time.Now()
	got := 0
	for range ch {
		got++
	}
	return float64(time.Since(start).Nanoseconds()) / float64(got), nil
}

func (b *bench) typedQueue(n int) (float64, error) {
	name, err := b.streamQueue()
	if err != nil {
		return 0, err
	}
	defer ipcchan.UnlinkQueue(name)
	q, err := ipcchan.OpenQueue[Order](name)
	if err != nil {
		return 0, err
	}
	defer q.Close()
	cmd := b.peer("typed-queue", name, strconv.Itoa(n))
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	ns, err := drain(q, checkOrder)
	if err != nil {
		return 0, err
	}
	return ns, cmd.Wait()
}

// checkOrder tells a typed reply that is not sampleOrder.
func checkOrder(o Order) error {
	if o.ID != sampleOrder.ID {
		return fmt.Errorf("bad order %d", o.ID)
	}
	return nil
}

// tickQueue drains a stream of Ticks, their bytes on the queue, made for
// them (its MsgSize is the size of a Tick).
func (b *bench) tickQueue(n int) (float64, error) {
	name := b.name("ticks")
	defer ipcchan.UnlinkQueue(name)
	q, err := ipcchan.OpenQueue[Tick](name, ipcchan.Create(), ipcchan.Exclusive(), ipcchan.Capacity(10), ipcchan.WithCodec(codec.Layout))
	if err != nil {
		return 0, err
	}
	defer q.Close()
	cmd := b.peer("tick-queue", name, strconv.Itoa(n))
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	ns, err := drain(q, checkTick)
	if err != nil {
		return 0, err
	}
	return ns, cmd.Wait()
}

// checkTick tells a Tick that is not sampleTick.
func checkTick(t Tick) error {
	if t != sampleTick {
		return fmt.Errorf("bad tick %+v", t)
	}
	return nil
}

func (b *bench) typedSocket(n int, role string) (float64, error) {
	c, cmd, err := b.listen(role, strconv.Itoa(n))
	if err != nil {
		return 0, err
	}
	defer c.Close()
	r := bufio.NewReaderSize(c, 64<<10)
	if role == "tick-gob" {
		return gobStream(r, cmd, checkTick)
	}
	var next func(*Order) error
	if role == "typed-gob" {
		dec := gob.NewDecoder(r)
		next = func(o *Order) error { return dec.Decode(o) }
	} else {
		var hdr [4]byte
		var frame []byte
		next = func(o *Order) error {
			if _, err := io.ReadFull(r, hdr[:]); err != nil {
				return err
			}
			frame = append(frame[:0], make([]byte, binary.LittleEndian.Uint32(hdr[:]))...)
			if _, err := io.ReadFull(r, frame); err != nil {
				return err
			}
			return codec.Msgpack.Decode(frame, o)
		}
	}
	var o Order
	if err := next(&o); err != nil {
		return 0, err
	}
	start := time.Now()
	got := 0
	for {
		var o Order
		if err := next(&o); err != nil {
			break
		}
		got++
	}
	ns := float64(time.Since(start).Nanoseconds()) / float64(got)
	return ns, cmd.Wait()
}

// gobStream times a stream of values of T decoded with gob from r, the
// clock starting at the first; check inspects each.
func gobStream[T any](r io.Reader, cmd *exec.Cmd, check func(T) error) (float64, error) {
	dec := gob.NewDecoder(r)
	var v T
	if err := dec.Decode(&v); err != nil {
		return 0, err
	}
	start := time.Now()
	got := 0
	for {
		var v T
		if err := dec.Decode(&v); err != nil {
			break
		}
		if err := check(v); err != nil {
			return 0, err
		}
		got++
	}
	ns := float64(time.Since(start).Nanoseconds()) / float64(got)
	return ns, cmd.Wait()
}

func (b *bench) typedQueuePingPong(n int) (float64, error) {
	ping, pong, cmd, err := b.pair("typed-queue-echo")
	if err != nil {
		return 0, err
	}
	out, _ := ipcchan.OpenQueue[Order](ping)
	in, _ := ipcchan.OpenQueue[Order](pong)
	defer out.Close()
	defer in.Close()
	ns, err := pingPong(out, in, sampleOrder, n, checkOrder)
	if err != nil {
		return 0, err
	}
	return ns, b.unpair(ping, pong, cmd)
}

func (b *bench) typedSocketPingPong(n int, role string) (float64, error) {
	c, cmd, err := b.listen(role)
	if err != nil {
		return 0, err
	}
	tc := newTypedConn(c, role == "typed-gob-echo")
	o := sampleOrder
	tc.write(&o)
	tc.read(&o)
	start := time.Now()
	for range n {
		if err := tc.write(&sampleOrder); err != nil {
			return 0, err
		}
		var reply Order
		if err := tc.read(&reply); err != nil || reply.ID != sampleOrder.ID {
			return 0, fmt.Errorf("reply %v, %v", reply.ID, err)
		}
	}
	ns := float64(time.Since(start).Nanoseconds()) / float64(n) / 2
	c.Close()
	return ns, cmd.Wait()
}

func (b *bench) semPingPong(n int) (float64, error) {
	an, bn := b.name("sa"), b.name("sb")
	a, err := ipcchan.OpenSemaphore(an, ipcchan.Create(), ipcchan.Exclusive())
	if err != nil {
		return 0, err
	}
	defer func() { a.Close(); ipcchan.UnlinkSemaphore(an) }()
	back, err := ipcchan.OpenSemaphore(bn, ipcchan.Create(), ipcchan.Exclusive())
	if err != nil {
		return 0, err
	}
	defer func() { back.Close(); ipcchan.UnlinkSemaphore(bn) }()
	cmd := b.peer("sem-echo", an, bn, strconv.Itoa(n))
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	a.Release()
	back.Acquire(ctx)
	start := time.Now()
	for range n {
		a.Release()
		if err := back.Acquire(ctx); err != nil {
			return 0, err
		}
	}
	ns := float64(time.Since(start).Nanoseconds()) / float64(n)
	return ns, cmd.Wait()
}

func (b *bench) mutexUncontended(n int) (float64, error) {
	name := b.name("mu")
	m, err := ipcchan.OpenMutex(name, ipcchan.Create(), ipcchan.Exclusive())
	if err != nil {
		return 0, err
	}
	defer func() { m.Close(); ipcchan.UnlinkMutex(name) }()
	start := time.Now()
	for range n {
		m.Lock()
		m.Unlock() //lint:ignore SA2001 the lock itself is measured
	}
	return float64(time.Since(start).Nanoseconds()) / float64(n), nil
}

func syncMutexUncontended(n int) (float64, error) {
	var m sync.Mutex
	start := time.Now()
	for range n {
		m.Lock()
		m.Unlock() //lint:ignore SA2001 the lock itself is measured
	}
	return float64(time.Since(start).Nanoseconds()) / float64(n), nil
}

func (b *bench) mutexContended(n int) (float64, error) {
	name := b.name("mc")
	m, err := ipcchan.OpenMutex(name, ipcchan.Create(), ipcchan.Exclusive())
	if err != nil {
		return 0, err
	}
	defer func() { m.Close(); ipcchan.UnlinkMutex(name) }()
	cmd := b.peer("mutex-contend", name, strconv.Itoa(n))
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	if l, _ := bufio.NewReader(stdout).ReadString('\n'); l != "ready\n" {
		return 0, fmt.Errorf("peer said %q", l)
	}
	start := time.Now()
	stdin.Write([]byte("go\n"))
	for range n {
		if err := m.LockContext(ctx); err != nil {
			return 0, err
		}
		m.Unlock()
	}
	if err := cmd.Wait(); err != nil {
		return 0, err
	}
	return float64(time.Since(start).Nanoseconds()) / float64(2*n), nil
}

func syncMutexContended(n int) (float64, error) {
	var m sync.Mutex
	var wg sync.WaitGroup
	start := time.Now()
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range n {
				m.Lock()
				m.Unlock() //lint:ignore SA2001 the lock itself is measured
			}
		}()
	}
	wg.Wait()
	return float64(time.Since(start).Nanoseconds()) / float64(2*n), nil
}

type record struct{ A [8]int64 }

func (b *bench) shmField(n int) (float64, error) {
	name := b.name("shm")
	sh, err := ipcchan.OpenShm[record](name, ipcchan.Create(), ipcchan.Exclusive())
	if err != nil {
		return 0, err
	}
	defer func() { sh.Close(); ipcchan.UnlinkShm(name) }()
	return readWrite(sh.Ptr(), n), nil
}

func plainField(n int) (float64, error) { return readWrite(new(record), n), nil }

func readWrite(p *record, n int) float64 {
	start := time.Now()
	for i := range n { // the writes go to memory others may see: kept
		p.A[i&7]++
	}
	return float64(time.Since(start).Nanoseconds()) / float64(n)
}

func (b *bench) openClose(kind string, n int) (float64, error) {
	name := b.name("oc")
	start := time.Now()
	for range n {
		var err error
		switch kind {
		case "queue":
			var q *ipcchan.Queue[[]byte]
			if q, err = ipcchan.OpenQueue[[]byte](name, ipcchan.Create(), ipcchan.Exclusive(), ipcchan.MsgSize(8192)); err == nil {
				q.Close()
				err = ipcchan.UnlinkQueue(name)
			}
		case "sem":
			var s *ipcchan.Semaphore
			if s, err = ipcchan.OpenSemaphore(name, ipcchan.Create(), ipcchan.Exclusive()); err == nil {
				s.Close()
				err = ipcchan.UnlinkSemaphore(name)
			}
		case "shm":
			var s *ipcchan.ShmSlice[byte]
			if s, err = ipcchan.OpenShmSlice[byte](name, 4096-192, ipcchan.Create(), ipcchan.Exclusive()); err == nil {
				s.Slice()[0] = 1
				s.Close()
				err = ipcchan.UnlinkShm(name)
			}
		}
		if err != nil {
			return 0, err
		}
	}
	return float64(time.Since(start).Nanoseconds()) / float64(n), nil
}

// ringStream drains the ring of senders flooding peers (role), as many
// receivers in this process, and returns the time per message of all of
// them together, the clock starting at the first message.
func (b *bench) ringStream(n int, role string, senders int) (float64, error) {
	name := b.name("ring")
	defer ipcchan.UnlinkRing(name)
	defer ipcchan.UnlinkWaitGroup(name + "-senders") // if a run fails before its senders remove it
	var drainOne func() (int, error)
	var closer interface{ Close() error }
	if role == "ring-bytes-flood" {
		r, err := ipcchan.OpenRing[[]byte](name, ipcchan.Create(), ipcchan.Exclusive(), ipcchan.Capacity(4096), ipcchan.MsgSize(64))
		if err != nil {
			return 0, err
		}
		closer = r
		drainOne = func() (int, error) { return drainCount(r, func(m []byte) bool { return len(m) == 64 }) }
	} else {
		r, err := ipcchan.OpenRing[Tick](name, ipcchan.Create(), ipcchan.Exclusive(), ipcchan.Capacity(4096))
		if err != nil {
			return 0, err
		}
		closer = r
		drainOne = func() (int, error) { return drainCount(r, func(t Tick) bool { return t == sampleTick }) }
	}
	defer closer.Close()
	per := n / senders
	var cmds []*exec.Cmd
	for range senders {
		cmd := b.peer(role, name, strconv.Itoa(per), strconv.Itoa(senders))
		if err := cmd.Start(); err != nil {
			return 0, err
		}
		cmds = append(cmds, cmd)
	}
	type res struct {
		got int
		err error
	}
	results := make(chan res, senders)
	start := time.Now()
	for range senders { // as many receivers as senders
		go func() { got, err := drainOne(); results <- res{got, err} }()
	}
	total := 0
	for range senders {
		r := <-results
		if r.err != nil {
			return 0, r.err
		}
		total += r.got
	}
	ns := float64(time.Since(start).Nanoseconds()) / float64(total)
	for _, c := range cmds {
		if err := c.Wait(); err != nil {
			return 0, err
		}
	}
	return ns, nil
}

// drainCount receives until the end of the stream and counts, checking
// each message.
func drainCount[T any](r ipcchan.Receiver[T], ok func(T) bool) (int, error) {
	got := 0
	for {
		v, err := r.Receive(ctx)
		if err == io.EOF {
			return got, nil
		}
		if err != nil {
			return got, err
		}
		if !ok(v) {
			return got, fmt.Errorf("a bad message: %v", v)
		}
		got++
	}
}

func (b *bench) ringPingPong(n int) (float64, error) {
	ping, pong := b.name("rping"), b.name("rpong")
	defer ipcchan.UnlinkRing(ping)
	defer ipcchan.UnlinkRing(pong)
	out, err := ipcchan.OpenRing[Tick](ping, ipcchan.Create(), ipcchan.Exclusive(), ipcchan.Capacity(16))
	if err != nil {
		return 0, err
	}
	defer out.Close()
	in, err := ipcchan.OpenRing[Tick](pong, ipcchan.Create(), ipcchan.Exclusive(), ipcchan.Capacity(16))
	if err != nil {
		return 0, err
	}
	defer in.Close()
	cmd := b.peer("ring-tick-echo", ping, pong)
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	ns, err := pingPong(out, in, sampleTick, n, checkTick)
	if err != nil {
		return 0, err
	}
	return ns, cmd.Wait()
}

// ringBlocked has a peer wait for a message that does not come for a
// second, and returns the CPU time it spent meanwhile, as it measured it.
func (b *bench) ringBlocked(int) (float64, error) {
	name := b.name("rblock")
	defer ipcchan.UnlinkRing(name)
	r, err := ipcchan.OpenRing[Tick](name, ipcchan.Create(), ipcchan.Exclusive())
	if err != nil {
		return 0, err
	}
	defer r.Close()
	out, err := b.peer("ring-block", name).Output()
	if err != nil {
		return 0, err
	}
	return strconv.ParseFloat(strings.TrimSpace(string(out)), 64)
}
