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
