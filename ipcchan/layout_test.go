package ipcchan_test

import (
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"unsafe"

	"github.com/ipcchan/ipcchan/codec"
	"github.com/ipcchan/ipcchan/internal/testutil"
	"github.com/ipcchan/ipcchan/ipcchan"
)

// Order is testdata/mqpeer.c's struct order, field for field.
type Order struct {
	ID    int64
	Price float64
	Qty   int32
	Side  uint8
	_     [3]byte
	Tags  [4]uint16
}

func (o Order) String() string {
	return fmt.Sprintf("%d %.17g %d %d %d,%d,%d,%d", o.ID, o.Price, o.Qty, o.Side, o.Tags[0], o.Tags[1], o.Tags[2], o.Tags[3])
}

var layoutOrders = []struct {
	o    Order
	prio uint
}{
	{Order{ID: 1, Price: 19.99, Qty: 3, Side: 1, Tags: [4]uint16{1, 2, 3, 4}}, 1},
	{Order{ID: -2, Price: -0.5, Qty: -7, Side: 0, Tags: [4]uint16{65535, 0, 0, 9}}, 5},
	{Order{ID: 1 << 62, Price: 1e300, Qty: 1 << 30, Side: 255}, 3},
}

// TestQueueLayoutWithC: a C program's struct, sent with mq_send(q, &o,
// sizeof o, prio), arrives as a Queue[Order] value with equal fields, and
// the reverse, priorities kept; a Layout queue's MsgSize defaults to the
// size of the struct.
func TestQueueLayoutWithC(t *testing.T) {
	peer := testutil.BuildC(t, "mqpeer")
	q := openQueue[Order](t, queueName(t), ipcchan.Create(), ipcchan.WithCodec(codec.Layout))
	if a, err := q.Attr(); err != nil || a.MsgSize != int(unsafe.Sizeof(Order{})) {
		t.Fatalf("Attr = %+v, %v; want MsgSize %d", a, err, unsafe.Sizeof(Order{}))
	}
	args := []string{"sendorder", q.Name()}
	for _, m := range layoutOrders {
		o := m.o
		args = append(args, fmt.Sprintf("%d:%d:%.17g:%d:%d:%d,%d,%d,%d", m.prio, o.ID, o.Price, o.Qty, o.Side, o.Tags[0], o.Tags[1], o.Tags[2], o.Tags[3]))
	}
	if out, err := exec.CommandContext(t.Context(), peer, args...).CombinedOutput(); err != nil {
		t.Fatalf("mqpeer sendorder: %v %s", err, out)
	}
	for _, i := range []int{1, 2, 0} { // by priority
		o, prio, err := q.ReceivePriority(t.Context())
		if err != nil || o != layoutOrders[i].o || prio != layoutOrders[i].prio {
			t.Errorf("from C: %v at %d, %v; want %v at %d", o, prio, err, layoutOrders[i].o, layoutOrders[i].prio)
		}
	}

	for _, m := range layoutOrders {
		if err := q.SendPriority(t.Context(), m.o, m.prio); err != nil {
			t.Fatal(err)
		}
	}
	out, err := exec.CommandContext(t.Context(), peer, "recvorder", q.Name(), "3").Output()
	if err != nil {
		t.Fatalf("mqpeer recvorder: %v", err)
	}
	var want []string
	for _, i := range []int{1, 2, 0} {
		want = append(want, fmt.Sprintf("%d %v", layoutOrders[i].prio, layoutOrders[i].o))
	}
	if got := strings.Split(strings.TrimSpace(string(out)), "\n"); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("C received\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestQueueLayoutRefusals: a type with a pointer inside is refused at open,
// naming the field; a message of another size is a type mismatch that
// holds its bytes; a queue whose messages are too small for T is refused.
func TestQueueLayoutRefusals(t *testing.T) {
	type Note struct {
		ID   int64
		Text string
	}
	_, err := ipcchan.OpenQueue[Note](queueName(t), ipcchan.Create(), ipcchan.WithCodec(codec.Layout))
	if !errors.Is(err, ipcchan.ErrInvalid) || !strings.Contains(err.Error(), "Note.Text is a string") {
		t.Errorf("OpenQueue of a struct with a string = %v", err)
	}

	name := queueName(t)
	raw := openQueue[[]byte](t, name, ipcchan.Create(), ipcchan.MsgSize(64))
	q := openQueue[Order](t, name, ipcchan.WithCodec(codec.Layout)) // a larger MsgSize is fine
	raw.SendPriority(t.Context(), []byte("five!"), 4)
	_, err = q.Receive(t.Context())
	var me *ipcchan.MessageError
	if !errors.As(err, &me) || !errors.Is(err, ipcchan.ErrTypeMismatch) || string(me.Data) != "five!" || me.Priority != 4 ||
		!strings.Contains(err.Error(), "a ipcchan_test.Order (codec.Layout) is 32 bytes, and this message has 5") {
		t.Errorf("Receive of 5 bytes = %v", err)
	}

	// The same from a queue made for Orders, whose messages the kernel
	// writes straight into the value.
	exact := openQueue[Order](t, queueName(t), ipcchan.Create(), ipcchan.WithCodec(codec.Layout))
	openQueue[[]byte](t, exact.Name()).Send(t.Context(), []byte("short"))
	if _, err := exact.Receive(t.Context()); !errors.As(err, &me) || !errors.Is(err, ipcchan.ErrTypeMismatch) || string(me.Data) != "short" {
		t.Errorf("Receive of 5 bytes from a queue of Orders = %v", err)
	}

	small := queueName(t)
	openQueue[[]byte](t, small, ipcchan.Create(), ipcchan.MsgSize(16))
	if _, err := ipcchan.OpenQueue[Order](small, ipcchan.WithCodec(codec.Layout)); !errors.Is(err, ipcchan.ErrInvalid) || !strings.Contains(err.Error(), "smaller than a ipcchan_test.Order (32 bytes)") {
		t.Errorf("OpenQueue of a 16-byte queue as Order = %v", err)
	}
}

// TestQueueLayoutAllocatesNothing: sending and receiving a Layout value
// costs no allocation.
func TestQueueLayoutAllocatesNothing(t *testing.T) {
	q := openQueue[Order](t, queueName(t), ipcchan.Create(), ipcchan.WithCodec(codec.Layout))
	o := layoutOrders[0].o
	ctx := t.Context()
	allocs := testing.AllocsPerRun(200, func() {
		if err := q.Send(ctx, o); err != nil {
			t.Fatal(err)
		}
		if got, err := q.Receive(ctx); err != nil || got != o {
			t.Fatal(got, err)
		}
	})
	if allocs != 0 {
		t.Errorf("%.1f allocations per Send+Receive of a Layout struct, want 0", allocs)
	}
}
