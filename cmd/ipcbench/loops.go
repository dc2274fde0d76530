package main

import (
	"io"
	"time"

	"github.com/ipcchan/ipcchan/ipcchan"
)

// The timing loops that the measurements share.

// nsPer is the time since start per operation, of n.
func nsPer(start time.Time, n int) float64 {
	return float64(time.Since(start).Nanoseconds()) / float64(n)
}

// roundTrips times n calls of trip, after one untimed call that waits for
// the peer, and returns the time per call.
func roundTrips(n int, trip func() error) (float64, error) {
	if err := trip(); err != nil {
		return 0, err
	}
	start := time.Now()
	for range n {
		if err := trip(); err != nil {
			return 0, err
		}
	}
	return nsPer(start, n), nil
}

// pingPong times n round trips of v to an echo peer, sending on out and
// receiving the reply on in, after one untimed trip that waits for the
// peer; it returns the time of a one-way trip and ends the stream. check,
// if not nil, inspects each reply. Any transport's queues will do.
func pingPong[T any](out ipcchan.Sender[T], in ipcchan.Receiver[T], v T, n int, check func(T) error) (float64, error) {
	out.Send(ctx, v) // warm-up: the peer runs once it answers
	in.Receive(ctx)
	start := time.Now()
	for range n {
		if err := out.Send(ctx, v); err != nil {
			return 0, err
		}
		r, err := in.Receive(ctx)
		if err == nil && check != nil {
			err = check(r)
		}
		if err != nil {
			return 0, err
		}
	}
	ns := nsPer(start, n) / 2
	out.CloseSend(ctx)
	return ns, nil
}

// drain receives a flooding peer's stream and returns the time per
// message, the clock starting at the first message. check, if not nil,
// inspects each message.
func drain[T any](q ipcchan.Receiver[T], check func(T) error) (float64, error) {
	q.Receive(ctx)
	start := time.Now()
	got, err := drainCount(q, check)
	if err != nil {
		return 0, err
	}
	return nsPer(start, got), nil
}

// drainCount receives until the end of the stream and counts. check, if
// not nil, inspects each message.
func drainCount[T any](q ipcchan.Receiver[T], check func(T) error) (int, error) {
	got := 0
	for {
		v, err := q.Receive(ctx)
		if err == io.EOF {
			return got, nil
		}
		if err == nil && check != nil {
			err = check(v)
		}
		if err != nil {
			return got, err
		}
		got++
	}
}

// drainPeer starts a peer (role, args) that floods q, and drains it (see
// drain).
func drainPeer[T any](b *bench, q ipcchan.Receiver[T], check func(T) error, role string, args ...string) (float64, error) {
	cmd, err := b.start(role, args...)
	if err != nil {
		return 0, err
	}
	ns, err := drain(q, check)
	if err != nil {
		return 0, err
	}
	return ns, cmd.Wait()
}
