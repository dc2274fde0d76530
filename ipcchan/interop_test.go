package ipcchan_test

import (
	"encoding/hex"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"testing"

	"github.com/ipcchan/ipcchan/internal/testutil"
	"github.com/ipcchan/ipcchan/ipcchan"
)

// interopMessages covers NUL and high bytes, one byte, and a full 8192.
var interopMessages = []struct {
	data []byte
	prio uint
}{
	{[]byte("hello from Go"), 0},
	{[]byte{0, 1, 2, 0xff, 0xfe, 0}, 7},
	{[]byte("x"), 32767},
	{[]byte(strings.Repeat("0123456789abcdef", 512)), 3},
	{[]byte("second at 7"), 7},
}

// interopOrder is interopMessages in the order a receiver gets them.
var interopOrder = []int{2, 1, 4, 3, 0}

func TestQueueGoToC(t *testing.T) {
	peer := testutil.BuildC(t, "mqpeer")
	q := openQueue[[]byte](t, queueName(t), ipcchan.Create(), ipcchan.MsgSize(8192))
	for _, m := range interopMessages {
		if err := q.SendPriority(t.Context(), m.data, m.prio); err != nil {
			t.Fatal(err)
		}
	}
	out, err := exec.CommandContext(t.Context(), peer, "recv", q.Name(), fmt.Sprint(len(interopMessages))).Output()
	if err != nil {
		t.Fatalf("mqpeer recv: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != len(interopOrder) {
		t.Fatalf("C received %d messages, want %d", len(lines), len(interopOrder))
	}
	for i, idx := range interopOrder {
		m := interopMessages[idx]
		if want := fmt.Sprintf("%d %x", m.prio, m.data); lines[i] != want {
			t.Errorf("C message %d = %.60s..., want %.60s...", i, lines[i], want)
		}
	}
}

func TestQueueCToGo(t *testing.T) {
	peer := testutil.BuildC(t, "mqpeer")
	q := openQueue[[]byte](t, queueName(t), ipcchan.Create(), ipcchan.MsgSize(8192))
	args := []string{"send", q.Name()}
	for _, m := range interopMessages {
		args = append(args, fmt.Sprintf("%d:%s", m.prio, hex.EncodeToString(m.data)))
	}
	if out, err := exec.CommandContext(t.Context(), peer, args...).CombinedOutput(); err != nil {
		t.Fatalf("mqpeer send: %v\n%s", err, out)
	}
	for i, idx := range interopOrder {
		m := interopMessages[idx]
		got, prio, err := q.ReceivePriority(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if prio != m.prio || string(got) != string(m.data) {
			t.Errorf("Go message %d = prio %d %.40q, want prio %d %.40q", i, prio, got, m.prio, m.data)
		}
	}
}

func TestQueueCreatedByC(t *testing.T) {
	peer := testutil.BuildC(t, "mqpeer")
	name := queueName(t)
	if out, err := exec.CommandContext(t.Context(), peer, "create", name, "5", "256").CombinedOutput(); err != nil {
		t.Fatalf("mqpeer create: %v\n%s", err, out)
	}
	q := openQueue[string](t, name)
	a, err := q.Attr()
	if err != nil || a.Capacity != 5 || a.MsgSize != 256 {
		t.Fatalf("Attr of the C-created queue = %+v, %v; want Capacity 5 MsgSize 256", a, err)
	}
	// And a queue made by Go has the attributes C reads.
	q2 := openQueue[string](t, queueName(t), ipcchan.Create(), ipcchan.Capacity(3), ipcchan.MsgSize(100))
	q2.Send(t.Context(), "one")
	out, err := exec.CommandContext(t.Context(), peer, "attr", q2.Name()).Output()
	if err != nil || strings.TrimSpace(string(out)) != "3 100 1" {
		t.Fatalf("C sees the Go queue as %q (%v), want \"3 100 1\"", out, err)
	}
}

func TestQueueCEndsStream(t *testing.T) {
	peer := testutil.BuildC(t, "mqpeer")
	q := openQueue[string](t, queueName(t), ipcchan.Create())
	// Two lines of text, then a zero-byte message: the end of the stream.
	if out, err := exec.CommandContext(t.Context(), peer, "send", q.Name(), "0:6f6e65", "0:74776f", "0:").CombinedOutput(); err != nil {
		t.Fatalf("mqpeer send: %v\n%s", err, out)
	}
	var got []string
	for s := range q.Recv() {
		got = append(got, s)
	}
	if strings.Join(got, ",") != "one,two" || q.Err() != nil {
		t.Errorf("Recv got %q, Err %v; want one,two then the end", got, q.Err())
	}
}

func TestQueueTypedRefusesForeignMessages(t *testing.T) {
	peer := testutil.BuildC(t, "mqpeer")
	name := queueName(t)
	jobs := openQueue[Job](t, name, ipcchan.Create())
	type Other struct{ ID string }
	others := openQueue[Other](t, name)
	// From C: arbitrary bytes, a header alone, a header with a garbage payload.
	good := jobHeader(t, jobs)
	if out, err := exec.CommandContext(t.Context(), peer, "send", name,
		"0:68656c6c6f", "0:"+hex.EncodeToString(good), "0:"+hex.EncodeToString(good)+"c1c1").CombinedOutput(); err != nil {
		t.Fatalf("mqpeer send: %v\n%s", err, out)
	}
	others.Send(t.Context(), Other{ID: "x"})
	for _, want := range []struct {
		err    error
		detail string
	}{
		{ipcchan.ErrTypeMismatch, "not a typed ipcchan message"},
		{ipcchan.ErrCorrupt, "does not decode"},
		{ipcchan.ErrCorrupt, "does not decode"},
		{ipcchan.ErrTypeMismatch, "sent as another type"},
	} {
		_, err := jobs.Receive(t.Context())
		var me *ipcchan.MessageError
		if !errors.Is(err, want.err) || !errors.As(err, &me) || !strings.Contains(err.Error(), want.detail) {
			t.Fatalf("Receive of a foreign message = %v, want %v saying %q", err, want.err, want.detail)
		}
		if len(me.Data) == 0 || me.Queue != name {
			t.Errorf("MessageError lacks the message or the queue: %+v", me)
		}
	}
	if a, _ := jobs.Attr(); a.Len != 0 {
		t.Errorf("%d messages left", a.Len)
	}
}

// jobHeader returns the 12-byte header of a Job message, read off a real one.
func jobHeader(t *testing.T, q *ipcchan.Queue[Job]) []byte {
	t.Helper()
	raw := openQueue[[]byte](t, q.Name())
	if err := q.Send(t.Context(), Job{}); err != nil {
		t.Fatal(err)
	}
	b, err := raw.Receive(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return b[:12]
}
