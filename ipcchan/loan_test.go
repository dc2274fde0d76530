package ipcchan_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/ipcchan/ipcchan/internal/large"
	"github.com/ipcchan/ipcchan/internal/objfmt"
	"github.com/ipcchan/ipcchan/ipcchan"
)

func init() {
	helpers["pool-step"] = helperPoolStep
	helpers["pool-loans"] = helperPoolLoans
	helpers["pool-views"] = helperPoolViews
}

// poolSize is the pool of the tests' rings: 16 blocks.
const poolSize = 16 * large.BlockSize

// openPoolRing makes a Ring[[]byte] of 64-byte slots with a pool of
// poolSize, removed after the test.
func openPoolRing(t *testing.T, opts ...ipcchan.Option) (string, *ipcchan.Ring[[]byte]) {
	t.Helper()
	name := ringName(t)
	opts = append([]ipcchan.Option{ipcchan.Create(), ipcchan.Capacity(8), ipcchan.MsgSize(64), ipcchan.LargeMessages(), ipcchan.PoolSize(poolSize)}, opts...)
	return name, openRing[[]byte](t, name, opts...)
}

// loanMessageSize is the size of the i-th message of the loan tests: from
// a few bytes (in one block) to most of the pool.
func loanMessageSize(i int) int {
	return []int{1, 100, large.BlockSize, 300000, 5, poolSize / 2, 70000}[i%7]
}

// helperPoolLoans: RING COUNT — loans COUNT messages of pattern(size, i)
// and sends them, then ends the stream.
func helperPoolLoans(args []string) error {
	r, err := ipcchan.OpenRing[[]byte](args[0])
	if err != nil {
		return err
	}
	n, _ := strconv.Atoi(args[1])
	ctx := context.Background()
	for i := range n {
		l, err := r.Loan(ctx, loanMessageSize(i))
		if err != nil {
			return err
		}
		copy(l.Bytes(), pattern(loanMessageSize(i), uint64(i)))
		if err := l.Send(ctx); err != nil {
			return err
		}
	}
	return r.CloseSend(ctx)
}

// helperPoolViews: RING COUNT — views COUNT messages and checks each is
// pattern(size, i), then expects the end of the stream.
func helperPoolViews(args []string) error {
	r, err := ipcchan.OpenRing[[]byte](args[0])
	if err != nil {
		return err
	}
	n, _ := strconv.Atoi(args[1])
	for i := range n {
		v, err := r.ReceiveView(context.Background())
		if err != nil {
			return err
		}
		if !bytes.Equal(v.Bytes(), pattern(loanMessageSize(i), uint64(i))) {
			return fmt.Errorf("message %d: %d bytes, not the %d sent", i, len(v.Bytes()), loanMessageSize(i))
		}
		v.Release()
	}
	if _, err := r.ReceiveView(context.Background()); err != io.EOF {
		return fmt.Errorf("after the messages: %v, want io.EOF", err)
	}
	return nil
}

// TestLoanAcrossProcesses: loaned messages of every size, from a Go
// process, arrive byte-exact, viewed in place and copied out; the other
// way, a process views what this one loans and sends.
func TestLoanAcrossProcesses(t *testing.T) {
	const n = 60
	t.Run("loans-in", func(t *testing.T) {
		name, r := openPoolRing(t)
		h := helperCmd(t, "pool-loans", name, strconv.Itoa(n))
		if err := h.Start(); err != nil {
			t.Fatal(err)
		}
		for i := range n {
			want := pattern(loanMessageSize(i), uint64(i))
			if i%2 == 0 {
				v, err := r.ReceiveView(t.Context())
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(v.Bytes(), want) {
					t.Fatalf("view %d: %d bytes, not the %d loaned", i, len(v.Bytes()), len(want))
				}
				v.Release()
			} else if got, err := r.Receive(t.Context()); err != nil || !bytes.Equal(got, want) {
				t.Fatalf("receive %d: %d bytes, %v; want the %d loaned", i, len(got), err, len(want))
			}
		}
		if err := h.Wait(); err != nil {
			t.Fatal(err)
		}
		wantPoolEmpty(t, r)
	})
	t.Run("views-out", func(t *testing.T) {
		name, r := openPoolRing(t)
		h := helperCmd(t, "pool-views", name, strconv.Itoa(n))
		if err := h.Start(); err != nil {
			t.Fatal(err)
		}
		for i := range n {
			msg := pattern(loanMessageSize(i), uint64(i))
			if i%2 == 0 {
				if err := r.Send(t.Context(), msg); err != nil {
					t.Fatal(err)
				}
				continue
			}
			l, err := r.Loan(t.Context(), len(msg))
			if err != nil {
				t.Fatal(err)
			}
			copy(l.Bytes(), msg)
			if err := l.Send(t.Context()); err != nil {
				t.Fatal(err)
			}
		}
		if err := r.CloseSend(t.Context()); err != nil {
			t.Fatal(err)
		}
		if err := h.Wait(); err != nil {
			t.Fatal(err)
		}
		wantPoolEmpty(t, r)
	})
}

// wantPoolEmpty checks that no message holds any of r's pool, and that a
// loan of all of it is granted at once.
func wantPoolEmpty(t *testing.T, r *ipcchan.Ring[[]byte]) {
	t.Helper()
	a, err := r.Attr()
	if err != nil || a.PoolSize != poolSize || a.PoolInUse != 0 {
		t.Fatalf("Attr = %+v, %v; want a pool of %d, none of it in use", a, err, poolSize)
	}
	l, err := r.TryLoan(poolSize)
	if err != nil {
		t.Fatalf("TryLoan of the whole pool: %v", err)
	}
	l.Discard()
}

// TestPoolFull: a full pool makes TryLoan fail with ErrFull and Loan wait
// until a loan is given back (or its ctx ends); a message larger than the
// pool is ErrTooLarge; a Discarded loan is never seen.
func TestPoolFull(t *testing.T) {
	_, r := openPoolRing(t)
	l, err := r.TryLoan(poolSize - large.BlockSize + 1) // all blocks but none
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.TryLoan(1); !errors.Is(err, ipcchan.ErrFull) {
		t.Fatalf("TryLoan of a full pool: %v, want ErrFull", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	if _, err := r.Loan(ctx, 1); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Loan of a full pool until a deadline: %v, want it to wait and fail with DeadlineExceeded", err)
	}
	got := make(chan error, 1)
	go func() {
		l2, err := r.Loan(t.Context(), large.BlockSize)
		if err == nil {
			copy(l2.Bytes(), "second")
			err = l2.Send(t.Context())
		}
		got <- err
	}()
	l.Discard() // the waiting Loan gets the room
	if err := <-got; err != nil {
		t.Fatal(err)
	}
	if _, err := r.TryLoan(poolSize + 1); !errors.Is(err, ipcchan.ErrTooLarge) {
		t.Fatalf("TryLoan beyond the pool: %v, want ErrTooLarge", err)
	}
	v, err := r.TryReceiveView()
	if err != nil || !bytes.HasPrefix(v.Bytes(), []byte("second")) || len(v.Bytes()) != large.BlockSize {
		t.Fatalf("TryReceiveView = %v; want only the loan sent", err)
	}
	v.Release()
	if v, err := r.TryReceiveView(); !errors.Is(err, ipcchan.ErrEmpty) {
		t.Fatalf("after the sent loan: %v %v, want ErrEmpty (the discarded one is never seen)", v, err)
	}
	wantPoolEmpty(t, r)
}

// TestPoolSmallAndLarge: a ring with a pool carries small messages in its
// slots and large ones in the pool, copying or not, and views both; a
// ring without a pool refuses loans with a hint.
func TestPoolSmallAndLarge(t *testing.T) {
	name, r := openPoolRing(t)
	small, big := []byte("in the slot"), pattern(200000, 3)
	for _, m := range [][]byte{small, big} {
		if err := r.Send(t.Context(), m); err != nil {
			t.Fatal(err)
		}
	}
	other := openRing[[]byte](t, name) // without LargeMessages: it finds the pool
	v, err := other.ReceiveView(t.Context())
	if err != nil || !bytes.Equal(v.Bytes(), small) {
		t.Fatalf("view of a small message: %v", err)
	}
	if got, err := other.Receive(t.Context()); err != nil || !bytes.Equal(got, big) {
		t.Fatalf("large message through the pool: %d bytes, %v", len(got), err)
	}
	v.Release()
	wantPoolEmpty(t, r)
	plain := openRing[[]byte](t, ringName(t), ipcchan.Create())
	if _, err := plain.TryLoan(10); !errors.Is(err, ipcchan.ErrInvalid) {
		t.Fatalf("TryLoan without a pool: %v, want ErrInvalid", err)
	}
	if _, err := ipcchan.OpenRing[[]byte](ringName(t), ipcchan.Create(), ipcchan.PoolSize(1<<20)); !errors.Is(err, ipcchan.ErrInvalid) {
		t.Fatalf("PoolSize without LargeMessages: %v, want ErrInvalid", err)
	}
	if _, err := ipcchan.OpenRing[[]byte](name, ipcchan.LargeMessages(), ipcchan.PoolSize(2*poolSize)); !errors.Is(err, ipcchan.ErrExist) {
		t.Fatalf("PoolSize unlike the pool's: %v, want ErrExist", err)
	}
}

// TestPoolUnlink: after UnlinkRing, nothing of the ring or its pool is
// left in /dev/shm, messages never received included.
func TestPoolUnlink(t *testing.T) {
	name, r := openPoolRing(t)
	if err := r.Send(t.Context(), pattern(100000, 1)); err != nil {
		t.Fatal(err)
	}
	l, err := r.Loan(t.Context(), 10)
	if err != nil {
		t.Fatal(err)
	}
	pool := "/dev/shm/" + objfmt.PoolName("ring", name)
	if _, err := os.Stat(pool); err != nil {
		t.Fatalf("the pool's file: %v", err)
	}
	if err := ipcchan.UnlinkRing(name); err != nil {
		t.Fatal(err)
	}
	l.Discard() // its memory is still mapped: harmless
	if _, err := os.Stat(pool); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the pool after UnlinkRing: %v, want it gone", err)
	}
	if _, err := os.Stat("/dev/shm/" + objfmt.Ring.Prefix() + name[1:]); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the ring after UnlinkRing: %v, want it gone", err)
	}
	wantLargeFiles(t, name, 0, "after UnlinkRing")
}

// helperPoolStep: RING ROLE STEP — as ROLE (loan, send, view or receive)
// with a message of pattern(300000, 9), killing itself with SIGKILL at STEP
// of the message's way through the pool, or, at step -1, holding the loan
// or the view.
func helperPoolStep(args []string) error {
	r, err := ipcchan.OpenRing[[]byte](args[0])
	if err != nil {
		return err
	}
	step, _ := strconv.Atoi(args[2])
	kill := func() { syscall.Kill(os.Getpid(), syscall.SIGKILL) }
	dieAt(large.Step(step))
	ctx, msg := context.Background(), pattern(300000, 9)
	switch args[1] {
	case "loan":
		var l *ipcchan.Loan
		if l, err = r.Loan(ctx, len(msg)); err != nil {
			return err
		}
		copy(l.Bytes(), msg)
		if step == -1 {
			kill()
		}
		err = l.Send(ctx)
	case "send":
		err = r.Send(ctx, msg)
	case "view":
		v, err2 := r.ReceiveView(ctx)
		if err2 != nil {
			return err2
		}
		if step == -1 {
			kill()
		}
		v.Release()
	case "receive":
		_, err = r.Receive(ctx)
	}
	if err != nil {
		return err
	}
	return errors.New("the step was never reached")
}

// TestPoolKillAtEachStep: a sender or a receiver SIGKILLed at each step of
// a message's way through the pool leaves it delivered whole or not at
// all, and every block back in the pool; the ring goes on.
func TestPoolKillAtEachStep(t *testing.T) {
	cases := []struct {
		role      string
		step      large.Step
		delivered bool // the message is still to be received
	}{
		{"loan", large.PoolLoaned, false},
		{"loan", -1, false}, // holding the loan, written
		{"loan", large.PoolQueued, false},
		{"loan", large.PoolPublished, true},
		{"send", large.PoolLoaned, false},
		{"send", large.PoolQueued, false},
		{"send", large.PoolPublished, true},
		{"view", large.PoolViewed, false},
		{"view", large.PoolReleased, false},
		{"view", -1, false}, // holding the view
		{"receive", large.PoolViewed, false},
		{"receive", large.PoolReleased, false},
	}
	msg := pattern(300000, 9)
	for _, c := range cases {
		t.Run(fmt.Sprintf("%s-%d", c.role, c.step), func(t *testing.T) {
			name, r := openPoolRing(t)
			if c.role == "view" || c.role == "receive" {
				if err := r.Send(t.Context(), msg); err != nil {
					t.Fatal(err)
				}
			}
			runKilled(t, helperCmd(t, "pool-step", name, c.role, strconv.Itoa(int(c.step))))
			got, err := r.TryReceive()
			switch {
			case c.delivered && (err != nil || !bytes.Equal(got, msg)):
				t.Fatalf("TryReceive = %d bytes, %v; want the whole message", len(got), err)
			case !c.delivered && !errors.Is(err, ipcchan.ErrEmpty):
				t.Fatalf("TryReceive = %d bytes, %v; want ErrEmpty", len(got), err)
			}
			a, _ := r.Attr()
			if want := uint64(1); !c.delivered && a.PoolRecovered != want {
				t.Errorf("PoolRecovered = %d, want %d", a.PoolRecovered, want)
			}
			wantPoolEmpty(t, r)
			if err := r.Send(t.Context(), msg); err != nil {
				t.Fatal(err)
			}
			if got, err := r.Receive(t.Context()); err != nil || !bytes.Equal(got, msg) {
				t.Fatalf("the ring after the crash: %d bytes, %v", len(got), err)
			}
		})
	}
}

// TestPoolDeadLoanWakesWaiter: a Loan on a pool full of a killed
// process's loan gets the room it held.
func TestPoolDeadLoanWakesWaiter(t *testing.T) {
	name, r := openPoolRing(t)
	l, err := r.TryLoan(poolSize - 5*large.BlockSize) // the rest is the helper's message
	if err != nil {
		t.Fatal(err)
	}
	defer l.Discard()
	helper := helperCmd(t, "pool-step", name, "loan", "-1") // holds 5 of the 16 blocks, and dies
	helper.Run()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	l2, err := r.Loan(ctx, 300000)
	if err != nil {
		t.Fatalf("Loan after the holder died: %v", err)
	}
	l2.Discard()
}

// TestLoanOfStruct: a large pointer-free struct is filled in a loan and
// read in its view, in place; a type with pointers, one larger than the
// loan, and a message of another size are refused.
func TestLoanOfStruct(t *testing.T) {
	type Frame struct {
		Width, Height int32
		Seq           uint64
		Pixels        [300 * 400]uint16
	}
	_, r := openPoolRing(t)
	l, err := r.Loan(t.Context(), int(unsafe.Sizeof(Frame{})))
	if err != nil {
		t.Fatal(err)
	}
	f, err := ipcchan.LoanOf[Frame](l)
	if err != nil {
		t.Fatal(err)
	}
	f.Width, f.Height, f.Seq = 400, 300, 7
	for i := range f.Pixels {
		f.Pixels[i] = uint16(i * 3)
	}
	if _, err := ipcchan.LoanOf[struct{ P *int }](l); !errors.Is(err, ipcchan.ErrInvalid) {
		t.Errorf("LoanOf a type with a pointer: %v, want ErrInvalid", err)
	}
	if _, err := ipcchan.LoanOf[[2]Frame](l); !errors.Is(err, ipcchan.ErrInvalid) {
		t.Errorf("LoanOf a type larger than the loan: %v, want ErrInvalid", err)
	}
	if err := l.Send(t.Context()); err != nil {
		t.Fatal(err)
	}
	v, err := r.ReceiveView(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ipcchan.ViewOf[[3]byte](v); !errors.Is(err, ipcchan.ErrTypeMismatch) {
		t.Errorf("ViewOf another size: %v, want ErrTypeMismatch", err)
	}
	g, err := ipcchan.ViewOf[Frame](v)
	if err != nil {
		t.Fatal(err)
	}
	if g.Width != 400 || g.Height != 300 || g.Seq != 7 || g.Pixels[12345] != uint16(12345*3) {
		t.Fatalf("the frame viewed: %d×%d #%d, pixel %d", g.Width, g.Height, g.Seq, g.Pixels[12345])
	}
	v.Release()
	wantPoolEmpty(t, r)
}

// TestPoolOfEarlierRing: a pool left over from a ring whose file was
// removed without it is never the pool of a ring made after it under the
// same name: a ring made with LargeMessages gets a pool of its own, of
// the size it asks (with Exclusive too), and one made without removes the
// leftover. A ring that says it has a pool, whose pool is another ring's
// or missing, is ErrCorrupt at open, not a ring whose messages go astray.
func TestPoolOfEarlierRing(t *testing.T) {
	name, r := openPoolRing(t)
	if err := r.Send(t.Context(), pattern(100000, 1)); err != nil {
		t.Fatal(err)
	}
	ringPath, pool := "/dev/shm/ipcchan.ring."+name[1:], "/dev/shm/"+objfmt.PoolName("ring", name)
	if err := os.Remove(ringPath); err != nil {
		t.Fatal(err)
	}
	again := openRing[[]byte](t, name, ipcchan.Create(), ipcchan.Exclusive(), ipcchan.MsgSize(64), ipcchan.LargeMessages(), ipcchan.PoolSize(2*poolSize))
	if a, err := again.Attr(); err != nil || a.PoolSize != 2*poolSize || a.PoolInUse != 0 || a.Len != 0 {
		t.Fatalf("a ring made again over a leftover pool: Attr = %+v, %v; want an empty pool of its own, of %d bytes", a, err, 2*poolSize)
	}
	if err := r.Send(t.Context(), pattern(100, 2)); err != nil { // the first handle still works, on its own pool
		t.Fatal(err)
	}
	if a, _ := again.Attr(); a.Len != 0 || a.PoolInUse != 0 {
		t.Fatalf("the new ring got the old handle's message: %+v", a)
	}

	if err := os.Remove(ringPath); err != nil {
		t.Fatal(err)
	}
	openRing[[]byte](t, name, ipcchan.Create(), ipcchan.MsgSize(64))
	if _, err := os.Stat(pool); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a ring made without a pool over a leftover one: the pool is %v, want removed", err)
	}

	// A copy of a ring with a pool is another file: the pool is not its own.
	other, r2 := openPoolRing(t)
	r2.Close()
	otherPath := "/dev/shm/ipcchan.ring." + other[1:]
	b, err := os.ReadFile(otherPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(otherPath); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(otherPath, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ipcchan.OpenRing[[]byte](other); !errors.Is(err, ipcchan.ErrCorrupt) || !strings.Contains(err.Error(), "not its own") {
		t.Fatalf("a ring whose pool is not its own: %v, want ErrCorrupt", err)
	}
	if err := os.Remove("/dev/shm/" + objfmt.PoolName("ring", other)); err != nil {
		t.Fatal(err)
	}
	if _, err := ipcchan.OpenRing[[]byte](other); !errors.Is(err, ipcchan.ErrCorrupt) {
		t.Fatalf("a ring whose pool is missing: %v, want ErrCorrupt", err)
	}
}
