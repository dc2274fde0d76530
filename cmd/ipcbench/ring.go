package main

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"runtime"
	"strconv"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ipcchan/ipcchan/ipcchan"
)

// ringScenarios are ipcchan's Ring[T] against C's rings and futexes in
// shared memory, and against the queue (see table.go).
var ringScenarios = []scenario{{
	name: "ring stream of a 64-byte struct (10 number fields), per message", unit: "message",
	impls: []impl{
		{name: "ipcchan Ring[Tick]", ipcchan: true, ops: 400000, run: tickRingStream},
		{name: "ipcchan Queue[Tick] (codec.Layout)", ipcchan: true, ops: 20000, run: tickQueue},
		{name: "Unix socket + encoding/gob", ops: 20000, run: tickGob},
		{name: "C, SPSC ring in shm, busy-polling", ops: 2000000, run: inC("ring-busy %d")},
		{name: "C, SPSC ring in shm, futex wake-ups", ops: 2000000, run: inC("ring-futex %d")},
	},
}, {
	name: "ring stream of 64 B []byte, per message", unit: "message",
	impls: []impl{
		{name: "ipcchan Ring[[]byte]", ipcchan: true, ops: 400000, run: ringStream("ring-bytes-flood", 1, checkLen(64), ipcchan.MsgSize(64))},
		{name: "C, SPSC ring in shm, futex wake-ups", ops: 2000000, run: inC("ring-futex %d")},
	},
}, {
	name: "ring, 2 senders x 2 receivers, total per message", unit: "message",
	impls: []impl{
		{name: "ipcchan Ring[Tick], 2 x 2", ipcchan: true, ops: 400000, run: ringStream("ring-tick-flood", 2, checkTick)},
		{name: "ipcchan Ring[Tick], 1 x 1", ipcchan: true, ops: 400000, run: tickRingStream},
	},
}, {
	name: "ring ping-pong (a 64-byte struct), one-way latency", unit: "one-way trip",
	impls: []impl{
		{name: "ipcchan Ring[Tick]", ipcchan: true, ops: 20000, run: ringPingPong},
		{name: "C, futex ping-pong in shm", ops: 20000, run: oneWay(inC("futex-pingpong %d"))},
		{name: "ipcchan Queue[[]byte] 64 B", ipcchan: true, ops: 4000, run: queuePingPong64},
	},
}, {
	name: "a ring receiver blocked for 1 s, CPU time", unit: "second blocked",
	impls: []impl{
		{name: "ipcchan Ring[Tick].Receive", ipcchan: true, once: true, run: ringBlocked},
	},
}}

// tickRingStream is a stream of Ticks from one sender to one receiver.
var tickRingStream = ringStream("ring-tick-flood", 1, checkTick)

// ringStream has senders peers (role) flood a ring of T of 4096 slots (and
// opts), drains it with as many receivers in this process, each message
// inspected by check, and returns the time per message of all of them
// together, the clock starting at the first message.
func ringStream[T any](role string, senders int, check func(T) error, opts ...ipcchan.Option) measurement {
	return ringStreamOf(role, nil, senders, func(r *ipcchan.Ring[T]) (int, error) { return drainCount(r, check) }, opts...)
}

// ringStreamOf is ringStream with the peers' role given more arguments
// (after NAME N SENDERS), and each receiver a drain that returns how many
// messages it took.
func ringStreamOf[T any](role string, more []string, senders int, drain func(*ipcchan.Ring[T]) (int, error), opts ...ipcchan.Option) measurement {
	return func(b *bench, n int) (float64, error) {
		r, done, err := create(b, "ring", ipcchan.OpenRing[T], ipcchan.UnlinkRing, append([]ipcchan.Option{ipcchan.Capacity(4096)}, opts...)...)
		if err != nil {
			return 0, err
		}
		defer done()
		defer ipcchan.UnlinkWaitGroup(r.Name() + "-senders") // if a run fails before its senders remove it
		per := n / senders
		var cmds []*exec.Cmd
		for range senders {
			cmd, err := b.start(role, append([]string{r.Name(), strconv.Itoa(per), strconv.Itoa(senders)}, more...)...)
			if err != nil {
				return 0, err
			}
			cmds = append(cmds, cmd)
		}
		type res struct {
			got int
			err error
		}
		results := make(chan res, senders)
		if err := awaitFirst(r); err != nil {
			return 0, err
		}
		start := time.Now()
		for range senders { // as many receivers as senders
			go func() { got, err := drain(r); results <- res{got, err} }()
		}
		total := 0
		for range senders {
			d := <-results
			if d.err != nil {
				return 0, d.err
			}
			total += d.got
		}
		ns := nsPer(start, total)
		for _, c := range cmds {
			if err := c.Wait(); err != nil {
				return 0, err
			}
		}
		return ns, nil
	}
}

// awaitFirst waits, spinning, until a sender has claimed the ring's first
// slot, so that the clock starts at the first message, as it does for the
// SPSC rings and the C rings, not at the senders' start (exec, the Go
// runtime, opening the ring: a few milliseconds, 10 to 20 ns on each of
// 400,000 messages).
func awaitFirst[T any](r *ipcchan.Ring[T]) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		a, err := r.Attr()
		if err != nil || a.Len > 0 || a.Ended {
			return err
		}
		if time.Now().After(deadline) {
			return errors.New("no sender sent a message in 30 s")
		}
		runtime.Gosched()
	}
}

// checkLen returns a check of a []byte message's length.
func checkLen(size int) func([]byte) error {
	return func(m []byte) error {
		if len(m) != size {
			return fmt.Errorf("a message of %d bytes, not %d", len(m), size)
		}
		return nil
	}
}

// ringSends is the role NAME N SENDERS: send v N+1 times on the ring (the
// first starts the clock), then, as the last of the senders to finish (a
// counter in a WaitGroup of the ring's name), end the stream.
func ringSends[T any](v T) func(peerArgs) error {
	return func(a peerArgs) error {
		name, senders := a[0], a.int(2)
		r, err := ipcchan.OpenRing[T](name)
		if err != nil {
			return err
		}
		if err := sendAll(r, v, a.int(1)); err != nil {
			return err
		}
		return endStream(r, name, senders)
	}
}

// endStream ends the stream of the ring name as the last of its senders
// to finish: counted in a WaitGroup of the ring's name.
func endStream[T any](r *ipcchan.Ring[T], name string, senders int) error {
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

// ringPingPong is queuePingPong on two rings of 16 Ticks.
func ringPingPong(b *bench, n int) (float64, error) {
	out, doneOut, err := create(b, "rping", ipcchan.OpenRing[Tick], ipcchan.UnlinkRing, ipcchan.Capacity(16))
	if err != nil {
		return 0, err
	}
	defer doneOut()
	in, doneIn, err := create(b, "rpong", ipcchan.OpenRing[Tick], ipcchan.UnlinkRing, ipcchan.Capacity(16))
	if err != nil {
		return 0, err
	}
	defer doneIn()
	cmd, err := b.start("ring-tick-echo", out.Name(), in.Name())
	if err != nil {
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
func ringBlocked(b *bench, _ int) (float64, error) {
	r, done, err := create(b, "rblock", ipcchan.OpenRing[Tick], ipcchan.UnlinkRing)
	if err != nil {
		return 0, err
	}
	defer done()
	return b.peerSays("ring-block", r.Name())
}

// ringBlock is the role NAME: wait a second for a message that does not
// come, and print the CPU ns it took.
func ringBlock(a peerArgs) error {
	r, err := ipcchan.OpenRing[Tick](a[0])
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
}

// cpuTime is the CPU time this process has used, in nanoseconds.
func cpuTime() float64 {
	var ru unix.Rusage
	unix.Getrusage(unix.RUSAGE_SELF, &ru)
	return float64(ru.Utime.Nano() + ru.Stime.Nano())
}
