package ipcchan_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/ipcchan/ipcchan/ipcchan"
)

func init() {
	helpers["large-sink"] = helperLargeSink
}

// helperLargeSink: HOW COUNT SIZE [RING] — receives COUNT messages of SIZE
// bytes, reading every byte into a buffer of its own (as a socket's reader
// does): from the socket on descriptor 3 (HOW "socket"), or from the ring
// RING copied out (Receive) or viewed in place (ReceiveView).
func helperLargeSink(args []string) error {
	count, _ := strconv.Atoi(args[1])
	size, _ := strconv.Atoi(args[2])
	buf := make([]byte, size)
	ctx := context.Background()
	if args[0] == "socket" {
		f := os.NewFile(3, "socket")
		for range count {
			if _, err := io.ReadFull(f, buf); err != nil {
				return err
			}
		}
		return nil
	}
	r, err := ipcchan.OpenRing[[]byte](args[3])
	if err != nil {
		return err
	}
	for i := range count {
		if args[0] == "view" {
			v, err := r.ReceiveView(ctx)
			if err != nil {
				return err
			}
			copy(buf, v.Bytes())
			v.Release()
		} else if m, err := r.Receive(ctx); err != nil || len(m) != size {
			return fmt.Errorf("message %d: %d bytes, %v", i, len(m), err)
		}
	}
	return nil
}

// BenchmarkLargeStream streams 1 MiB messages to another process, the
// sender writing every byte and the receiver reading every byte: through
// a Unix socket (the baseline of the same run), a ring with a pool copying
// (Send/Receive), and loans (Loan/ReceiveView). ns/op is per message.
func BenchmarkLargeStream(b *testing.B) {
	const size = 1 << 20
	msg := pattern(size, 5)
	b.Run("unix-socket", func(b *testing.B) {
		b.SetBytes(size)
		fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			b.Fatal(err)
		}
		out, in := os.NewFile(uintptr(fds[0]), "out"), os.NewFile(uintptr(fds[1]), "in")
		defer out.Close()
		h := helperCmd(b, "large-sink", "socket", strconv.Itoa(b.N), strconv.Itoa(size))
		h.ExtraFiles = []*os.File{in}
		if err := h.Start(); err != nil {
			b.Fatal(err)
		}
		in.Close()
		b.ResetTimer()
		for range b.N {
			if _, err := out.Write(msg); err != nil {
				b.Fatal(err)
			}
		}
		if err := h.Wait(); err != nil {
			b.Fatal(err)
		}
	})
	for _, how := range []string{"ring-copy", "ring-loan"} {
		b.Run(how, func(b *testing.B) {
			b.SetBytes(size)
			name := ringName(b)
			r, err := ipcchan.OpenRing[[]byte](name, ipcchan.Create(), ipcchan.Capacity(8), ipcchan.MsgSize(64), ipcchan.LargeMessages(), ipcchan.PoolSize(16<<20))
			if err != nil {
				b.Fatal(err)
			}
			defer r.Close()
			sink := map[string]string{"ring-copy": "receive", "ring-loan": "view"}[how]
			h := helperCmd(b, "large-sink", sink, strconv.Itoa(b.N), strconv.Itoa(size), name)
			if err := h.Start(); err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			b.ResetTimer()
			for range b.N {
				if how == "ring-copy" {
					err = r.Send(ctx, msg)
				} else {
					var l *ipcchan.Loan
					if l, err = r.Loan(ctx, size); err == nil {
						copy(l.Bytes(), msg)
						err = l.Send(ctx)
					}
				}
				if err != nil {
					b.Fatal(err)
				}
			}
			if err := h.Wait(); err != nil {
				b.Fatal(err)
			}
		})
	}
}

func init() { helpers["loan-echo"] = helperLoanEcho }

// touchPages writes (or reads, summing into sink) one byte per page of b.
func touchPages(b []byte, write bool) (sink byte) {
	for i := 0; i < len(b); i += 4096 {
		if write {
			b[i] = byte(i)
		} else {
			sink += b[i]
		}
	}
	return sink
}

// helperLoanEcho: HOW IN OUT — answers each message of the ring IN with
// one of its size on OUT: viewed, read a byte a page, and loaned, written
// a byte a page (HOW "loan"), or received and sent (HOW "copy"), until
// the end of IN's stream.
func helperLoanEcho(args []string) error {
	in, err1 := ipcchan.OpenRing[[]byte](args[1])
	out, err2 := ipcchan.OpenRing[[]byte](args[2])
	if err1 != nil || err2 != nil {
		return fmt.Errorf("%v %v", err1, err2)
	}
	ctx := context.Background()
	for {
		if err := echoOnce(ctx, args[0], in, out, 0); err == io.EOF {
			return nil
		} else if err != nil {
			return err
		}
	}
}

// echoOnce sends a message of size bytes on out (size 0: of the size of
// the one received) after receiving one on in (or, with size, before).
func echoOnce(ctx context.Context, how string, in, out *ipcchan.Ring[[]byte], size int) error {
	receive := func() (int, error) {
		if how == "copy" {
			m, err := in.Receive(ctx)
			return len(m), err
		}
		v, err := in.ReceiveView(ctx)
		if err != nil {
			return 0, err
		}
		n := len(v.Bytes())
		touchPages(v.Bytes(), false)
		v.Release()
		return n, nil
	}
	send := func(n int) error {
		if how == "copy" {
			return out.Send(ctx, make([]byte, n))
		}
		l, err := out.Loan(ctx, n)
		if err != nil {
			return err
		}
		touchPages(l.Bytes(), true)
		return l.Send(ctx)
	}
	if size > 0 {
		if err := send(size); err != nil {
			return err
		}
		_, err := receive()
		return err
	}
	n, err := receive()
	if err != nil {
		return err
	}
	return send(n)
}

// BenchmarkLoanPingPong measures a round trip between two processes: 1
// MiB loaned and viewed, each side writing or reading a byte a page, next
// to 64-byte messages sent and received on rings of 64-byte slots (the
// baseline of the same run). One-way latency is half of ns/op.
func BenchmarkLoanPingPong(b *testing.B) {
	for _, c := range []struct {
		name, how string
		size      int
	}{{"ring-64B", "copy", 64}, {"loan-1MiB", "loan", 1 << 20}} {
		b.Run(c.name, func(b *testing.B) {
			var rings [2]*ipcchan.Ring[[]byte]
			var names [2]string
			for i := range rings {
				names[i] = ringName(b)
				opts := []ipcchan.Option{ipcchan.Create(), ipcchan.Capacity(8), ipcchan.MsgSize(64)}
				if c.how == "loan" {
					opts = append(opts, ipcchan.LargeMessages(), ipcchan.PoolSize(8<<20))
				}
				r, err := ipcchan.OpenRing[[]byte](names[i], opts...)
				if err != nil {
					b.Fatal(err)
				}
				defer r.Close()
				rings[i] = r
			}
			h := helperCmd(b, "loan-echo", c.how, names[0], names[1])
			if err := h.Start(); err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			if err := echoOnce(ctx, c.how, rings[1], rings[0], c.size); err != nil { // warm up
				b.Fatal(err)
			}
			b.ResetTimer()
			for range b.N {
				if err := echoOnce(ctx, c.how, rings[1], rings[0], c.size); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			rings[0].CloseSend(ctx)
			if err := h.Wait(); err != nil {
				b.Fatal(err)
			}
		})
	}
}
