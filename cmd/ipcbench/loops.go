package main

import (
	"io"
	"time"

	"github.com/ipcchan/ipcchan/ipcchan"
)

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
	ns := float64(time.Since(start).Nanoseconds()) / float64(n) / 2
	out.CloseSend(ctx)
	return ns, nil
}

// drain receives a flooding peer's stream and returns the time per
// message, the clock starting at the first message. check, if not nil,
// inspects each message.
func drain[T any](q ipcchan.Receiver[T], check func(T) error) (float64, error) {
	q.Receive(ctx)
	start := time.Now()
	got := 0
	for {
		v, err := q.Receive(ctx)
		if err == io.EOF {
			break
		}
		if err == nil && check != nil {
			err = check(v)
		}
		if err != nil {
			return 0, err
		}
		got++
	}
	return float64(time.Since(start).Nanoseconds()) / float64(got), nil
}
