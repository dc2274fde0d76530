package main

import (
	"fmt"
	"io"
	"runtime"
	"strconv"
	"time"

	"github.com/ipcchan/ipcchan/ipcchan"
)

// Zero-copy loans and a ring's pool of large messages, against a Unix
// socket and the ring's own small messages.

// loanPool is the pool of the rings of these scenarios: room for every
// message of a ring of 8 slots, and more.
const loanPool = 16 * mib

// loanScenarios are the ring's large messages (see table.go).
var loanScenarios = []scenario{{
	name: "ring 1 MiB stream, every byte written and read, per message", unit: "message",
	impls: []impl{
		{name: "ipcchan Ring[[]byte] Loan / ReceiveView", ipcchan: true, ops: 400, run: ringLargeStream("loan")},
		{name: "ipcchan Ring[[]byte] Send / Receive", ipcchan: true, ops: 400, run: ringLargeStream("copy")},
		{name: "Go net, Unix socket", ops: 400, run: unixStream(mib)},
	},
}, {
	name: "ring ping-pong, 1 MiB loaned (a byte a page each side) vs 64 B, one-way latency", unit: "one-way trip",
	impls: []impl{
		{name: "ipcchan Ring[[]byte] 1 MiB Loan / ReceiveView", ipcchan: true, ops: 4000, run: oneWay(loanPingPong("loan", mib))},
		{name: "ipcchan Ring[[]byte] 64 B Send / Receive", ipcchan: true, ops: 20000, run: oneWay(loanPingPong("copy", 64))},
	},
}, {
	name: "ring stream of 64 B []byte, with a pool and without, per message", unit: "message",
	impls: []impl{
		{name: "ipcchan Ring[[]byte] with a pool", ipcchan: true, ops: 400000,
			run: ringStream("ring-bytes-flood", 1, checkLen(64), ipcchan.MsgSize(64), ipcchan.LargeMessages(), ipcchan.PoolSize(loanPool))},
		{name: "ipcchan Ring[[]byte]", ipcchan: true, ops: 400000, run: ringStream("ring-bytes-flood", 1, checkLen(64), ipcchan.MsgSize(64))},
	},
}}

// loanTargets are the goals of loans and the ring's pool.
func loanTargets(ratio func(name, scenario, a, b string, limit float64, atMost bool, note string)) {
	const st, pp = "ring 1 MiB stream", "ring ping-pong, 1 MiB loaned"
	ratio("1 MiB ring stream via loans vs Unix socket (rate)", st, "ipcchan Ring[[]byte] Loan / ReceiveView", "Go net, Unix socket", 2, false,
		"the receiver copies each message out of the pool: one copy a side, where the socket makes one a side and two system calls")
	ratio("1 MiB ring Send/Receive vs Unix socket", st, "ipcchan Ring[[]byte] Send / Receive", "Go net, Unix socket", 0.8, true,
		"Receive returns new memory: 1 MiB a message for the garbage collector, which runs every few messages (profiled: GC and page faults)")
	ratio("1 MiB loan ping-pong vs 64 B ring ping-pong", pp, "ipcchan Ring[[]byte] 1 MiB Loan / ReceiveView", "ipcchan Ring[[]byte] 64 B Send / Receive", 2, true,
		"256 pages touched on each side per trip; and a wait that outlasts the ring's adaptive spin sleeps on a futex")
	ratio("64 B ring stream with a pool vs without", "ring stream of 64 B []byte, with a pool", "ipcchan Ring[[]byte] with a pool", "ipcchan Ring[[]byte]", 0.95, false, "")
}

// ringLargeStream has a peer send 1 MiB messages on a ring with a pool,
// loaned and written in place (how "loan") or sent by copy (how "copy"),
// and receives them here, viewed and copied out (every byte read) or
// received.
func ringLargeStream(how string) measurement {
	return func(b *bench, n int) (float64, error) {
		r, done, err := create(b, "lstream", ipcchan.OpenRing[[]byte], ipcchan.UnlinkRing, ipcchan.Capacity(8), ipcchan.MsgSize(64),
			ipcchan.LargeMessages(), ipcchan.PoolSize(loanPool))
		if err != nil {
			return 0, err
		}
		defer done()
		cmd, err := b.start("ring-large-flood", how, r.Name(), strconv.Itoa(n), strconv.Itoa(mib))
		if err != nil {
			return 0, err
		}
		buf := make([]byte, mib)
		receive := func() error {
			if how == "copy" {
				m, err := r.Receive(ctx)
				if err == nil && len(m) != mib {
					err = fmt.Errorf("a message of %d bytes, not %d", len(m), mib)
				}
				return err
			}
			v, err := r.ReceiveView(ctx)
			if err != nil {
				return err
			}
			copy(buf, v.Bytes())
			v.Release()
			return nil
		}
		if err := receive(); err != nil { // the clock starts at the first message
			return 0, err
		}
		start := time.Now()
		got := 0
		for {
			if err := receive(); err == io.EOF {
				break
			} else if err != nil {
				return 0, err
			}
			got++
		}
		ns := nsPer(start, got)
		return ns, cmd.Wait()
	}
}

// ringLargeFlood is the role HOW NAME N SIZE: send N+1 messages of SIZE
// bytes on the ring, each loaned and filled (HOW "loan") or sent from a
// buffer (HOW "copy"), then the end.
func ringLargeFlood(a peerArgs) error {
	r, err := ipcchan.OpenRing[[]byte](a[1])
	if err != nil {
		return err
	}
	msg := make([]byte, a.int(3))
	for i := range msg {
		msg[i] = byte(i)
	}
	for range a.int(2) + 1 {
		if a[0] == "copy" {
			err = r.Send(ctx, msg)
		} else {
			var l *ipcchan.Loan
			if l, err = r.Loan(ctx, len(msg)); err == nil {
				copy(l.Bytes(), msg)
				err = l.Send(ctx)
			}
		}
		if err != nil {
			return err
		}
	}
	return r.CloseSend(ctx)
}

// loanPingPong times round trips of size bytes with a peer on two rings
// of 8 slots: loaned and viewed, a byte a page written and read on each
// side (how "loan"), or sent and received (how "copy").
func loanPingPong(how string, size int) measurement {
	return func(b *bench, n int) (float64, error) {
		opts := []ipcchan.Option{ipcchan.Capacity(8), ipcchan.MsgSize(64)}
		if how == "loan" {
			opts = append(opts, ipcchan.LargeMessages(), ipcchan.PoolSize(loanPool))
		}
		out, doneOut, err := create(b, "lping", ipcchan.OpenRing[[]byte], ipcchan.UnlinkRing, opts...)
		if err != nil {
			return 0, err
		}
		defer doneOut()
		in, doneIn, err := create(b, "lpong", ipcchan.OpenRing[[]byte], ipcchan.UnlinkRing, opts...)
		if err != nil {
			return 0, err
		}
		defer doneIn()
		cmd, err := b.start("ring-loan-echo", how, out.Name(), in.Name())
		if err != nil {
			return 0, err
		}
		ns, err := roundTrips(n, func() error {
			if err := sendSized(how, out, size); err != nil {
				return err
			}
			_, err := receiveSized(how, in)
			return err
		})
		if err != nil {
			return 0, err
		}
		out.CloseSend(ctx)
		return ns, cmd.Wait()
	}
}

// sendSized sends a message of size bytes: loaned, a byte a page written
// (how "loan"), or by copy.
func sendSized(how string, r *ipcchan.Ring[[]byte], size int) error {
	if how == "copy" {
		return r.Send(ctx, make([]byte, size))
	}
	l, err := r.Loan(ctx, size)
	if err != nil {
		return err
	}
	b := l.Bytes()
	for i := 0; i < len(b); i += 4096 {
		b[i] = byte(i)
	}
	return l.Send(ctx)
}

// receiveSized receives a message and returns its size: viewed, a byte a
// page read (how "loan"), or by copy.
func receiveSized(how string, r *ipcchan.Ring[[]byte]) (int, error) {
	if how == "copy" {
		m, err := r.Receive(ctx)
		return len(m), err
	}
	v, err := r.ReceiveView(ctx)
	if err != nil {
		return 0, err
	}
	b := v.Bytes()
	var sink byte
	for i := 0; i < len(b); i += 4096 {
		sink += b[i]
	}
	runtime.KeepAlive(sink)
	v.Release()
	return len(b), nil
}

// ringLoanEcho is the role HOW IN OUT: answer each message of the ring IN
// with one of its size on OUT, as sendSized and receiveSized do, until the
// end of IN's stream.
func ringLoanEcho(a peerArgs) error {
	in, err := ipcchan.OpenRing[[]byte](a[1])
	if err != nil {
		return err
	}
	out, err := ipcchan.OpenRing[[]byte](a[2])
	if err != nil {
		return err
	}
	for {
		n, err := receiveSized(a[0], in)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if err := sendSized(a[0], out, n); err != nil {
			return err
		}
	}
}
