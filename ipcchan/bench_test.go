package ipcchan_test

import (
	"context"
	"io"
	"strconv"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/ipcchan/ipcchan/internal/posix"
	"github.com/ipcchan/ipcchan/ipcchan"
)

// The benchmarks run between two processes: this one and a helper started
// from the same binary. Each ipcchan figure has a baseline measured in the
// same run: the same exchange with blocking mq system calls from Go and no
// library ("raw"). Compare the two as a ratio; absolute figures depend on
// the machine.

var benchJob = Job{ID: 12345, Name: "resize image 0042.png", Weights: []float64{0.25, 0.5, 0.75}, Tags: map[string]string{"user": "ada", "pri": "high"}, Done: false}

// pingPongPair creates the two queues of a ping-pong and starts the echo
// helper; stop ends it.
func pingPongPair(b *testing.B, helper string, args ...string) (ping, pong string, stop func()) {
	ping, pong = queueName(b), queueName(b)
	for _, n := range []string{ping, pong} {
		q, err := ipcchan.OpenQueue[[]byte](n, ipcchan.Create(), ipcchan.Capacity(10), ipcchan.MsgSize(8192))
		if err != nil {
			b.Fatal(err)
		}
		q.Close()
	}
	cmd := helperCmd(b, helper, append([]string{ping, pong}, args...)...)
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	return ping, pong, func() {
		q, _ := ipcchan.OpenQueue[[]byte](ping)
		q.CloseSend(context.Background())
		q.Close()
		if err := cmd.Wait(); err != nil {
			b.Errorf("echo helper: %v", err)
		}
	}
}

// BenchmarkPingPong measures a round trip of a 64-byte message between two
// processes; one-way latency is half of ns/op.
func BenchmarkPingPong(b *testing.B) {
	msg := make([]byte, 64)
	b.Run("raw", func(b *testing.B) {
		ping, pong, stop := pingPongPair(b, "echo-raw")
		defer stop()
		out, err1 := posix.MqOpen(ping, unix.O_WRONLY|unix.O_CLOEXEC, 0, nil)
		in, err2 := posix.MqOpen(pong, unix.O_RDONLY|unix.O_CLOEXEC, 0, nil)
		if err1 != nil || err2 != nil {
			b.Fatal(err1, err2)
		}
		defer unix.Close(out)
		defer unix.Close(in)
		buf := make([]byte, 8192)
		blockingSend(out, msg, 0) // the helper has started once it answers
		blockingReceive(in, buf)
		b.ResetTimer()
		for range b.N {
			if err := blockingSend(out, msg, 0); err != nil {
				b.Fatal(err)
			}
			if _, _, err := blockingReceive(in, buf); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("queue", func(b *testing.B) {
		ping, pong, stop := pingPongPair(b, "echo", "bytes")
		defer stop()
		out, in := openQueue[[]byte](b, ping), openQueue[[]byte](b, pong)
		ctx := context.Background()
		out.Send(ctx, msg) // the helper has started once it answers
		in.Receive(ctx)
		b.ResetTimer()
		for range b.N {
			if err := out.Send(ctx, msg); err != nil {
				b.Fatal(err)
			}
			if _, err := in.Receive(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("queue-typed", func(b *testing.B) {
		ping, pong, stop := pingPongPair(b, "echo", "job")
		defer stop()
		out, in := openQueue[Job](b, ping), openQueue[Job](b, pong)
		ctx := context.Background()
		out.Send(ctx, benchJob) // the helper has started once it answers
		in.Receive(ctx)
		b.ResetTimer()
		for range b.N {
			if err := out.Send(ctx, benchJob); err != nil {
				b.Fatal(err)
			}
			if _, err := in.Receive(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkThroughput measures one-way streaming from a sender process to
// this one: ns/op is the time per message received.
func BenchmarkThroughput(b *testing.B) {
	for _, size := range []int{64, 1024, 8192} {
		b.Run("raw/"+strconv.Itoa(size), func(b *testing.B) {
			name := floodQueue(b, size)
			fd, err := posix.MqOpen(name, unix.O_RDONLY|unix.O_CLOEXEC, 0, nil)
			if err != nil {
				b.Fatal(err)
			}
			defer unix.Close(fd)
			cmd := helperCmd(b, "flood-raw", name, strconv.Itoa(b.N+1), strconv.Itoa(size))
			buf := make([]byte, 8192)
			b.SetBytes(int64(size))
			if err := cmd.Start(); err != nil {
				b.Fatal(err)
			}
			blockingReceive(fd, buf) // the clock starts at the first message
			b.ResetTimer()
			for {
				n, _, err := blockingReceive(fd, buf)
				if err != nil {
					b.Fatal(err)
				}
				if n == 0 {
					break
				}
			}
			b.StopTimer()
			cmd.Wait()
		})
		b.Run("queue/"+strconv.Itoa(size), func(b *testing.B) {
			name := floodQueue(b, size)
			q := openQueue[[]byte](b, name)
			cmd := helperCmd(b, "flood", name, strconv.Itoa(b.N+1), strconv.Itoa(size), "bytes")
			b.SetBytes(int64(size))
			if err := cmd.Start(); err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			q.Receive(ctx) // the clock starts at the first message
			b.ResetTimer()
			for {
				if _, err := q.Receive(ctx); err == io.EOF {
					break
				} else if err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			cmd.Wait()
		})
	}
	for _, size := range []int{64, 1024, 8192} {
		b.Run("queue-append/"+strconv.Itoa(size), func(b *testing.B) {
			name := floodQueue(b, size)
			q := openQueue[[]byte](b, name)
			cmd := helperCmd(b, "flood", name, strconv.Itoa(b.N+1), strconv.Itoa(size), "bytes")
			b.SetBytes(int64(size))
			if err := cmd.Start(); err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			buf := make([]byte, 0, 8192)
			q.ReceiveAppend(ctx, buf) // the clock starts at the first message
			b.ResetTimer()
			for {
				var err error
				if buf, _, err = q.ReceiveAppend(ctx, buf[:0]); err == io.EOF {
					break
				} else if err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			cmd.Wait()
		})
	}
	b.Run("queue-typed", func(b *testing.B) {
		name := floodQueue(b, 8192)
		q := openQueue[Job](b, name)
		cmd := helperCmd(b, "flood", name, strconv.Itoa(b.N+1), "0", "job")
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		ctx := context.Background()
		q.Receive(ctx) // the clock starts at the first message
		b.ResetTimer()
		for {
			if _, err := q.Receive(ctx); err == io.EOF {
				break
			} else if err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		cmd.Wait()
	})
}

func floodQueue(b *testing.B, size int) string {
	name := queueName(b)
	q, err := ipcchan.OpenQueue[[]byte](name, ipcchan.Create(), ipcchan.Capacity(10), ipcchan.MsgSize(max(size, 8192)))
	if err != nil {
		b.Fatal(err)
	}
	q.Close()
	return name
}
