package ipcchan_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ipcchan/ipcchan/internal/testutil"
	"github.com/ipcchan/ipcchan/ipcchan"
)

type Job struct {
	ID      int
	Name    string
	Weights []float64
	Tags    map[string]string
	Done    bool
}

func TestQueueBytesRoundTrip(t *testing.T) {
	name := queueName(t)
	q := openQueue[[]byte](t, name, ipcchan.Create(), ipcchan.Capacity(4), ipcchan.MsgSize(128))
	if q.Name() != name {
		t.Errorf("Name() = %q, want %q", q.Name(), name)
	}
	want := []byte("hello\x00world\xff")
	if err := q.Send(t.Context(), want); err != nil {
		t.Fatal(err)
	}
	a, err := q.Attr()
	if err != nil {
		t.Fatal(err)
	}
	if a != (ipcchan.QueueAttr{Capacity: 4, MsgSize: 128, Len: 1}) {
		t.Errorf("Attr() = %+v, want Capacity 4, MsgSize 128, Len 1", a)
	}
	got, err := q.Receive(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("Receive() = %q, want %q", got, want)
	}
}

func TestQueueStringAndDefinedTypes(t *testing.T) {
	type Blob []byte
	type Text string
	name := queueName(t)
	qs := openQueue[string](t, name, ipcchan.Create())
	qb := openQueue[Blob](t, name)
	qt := openQueue[Text](t, name)
	if err := qs.Send(t.Context(), "héllo"); err != nil {
		t.Fatal(err)
	}
	if b, err := qb.Receive(t.Context()); err != nil || string(b) != "héllo" {
		t.Fatalf("Queue[Blob].Receive() = %q, %v", b, err)
	}
	if err := qb.Send(t.Context(), Blob("raw")); err != nil {
		t.Fatal(err)
	}
	if s, err := qt.Receive(t.Context()); err != nil || s != "raw" {
		t.Fatalf("Queue[Text].Receive() = %q, %v", s, err)
	}
}

func TestQueueTypedRoundTrip(t *testing.T) {
	name := queueName(t)
	q := openQueue[Job](t, name, ipcchan.Create())
	want := Job{ID: 42, Name: "résumé", Weights: []float64{1.5, -2}, Tags: map[string]string{"a": "b"}, Done: true}
	if err := q.Send(t.Context(), want); err != nil {
		t.Fatal(err)
	}
	got, err := q.Receive(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("Receive() = %+v, want %+v", got, want)
	}
	// Another program may declare the same struct: same shape, same type.
	type Job2 struct {
		ID      int
		Name    string
		Weights []float64
		Tags    map[string]string
		Done    bool
	}
	q2 := openQueue[Job2](t, name)
	if err := q.Send(t.Context(), want); err != nil {
		t.Fatal(err)
	}
	if got, err := q2.Receive(t.Context()); err != nil || got.ID != 42 {
		t.Errorf("Queue[Job2].Receive() = %+v, %v; want the Job", got, err)
	}
}

func TestQueuePriorities(t *testing.T) {
	q := openQueue[string](t, queueName(t), ipcchan.Create(), ipcchan.Capacity(10))
	sends := []struct {
		msg  string
		prio uint
	}{{"a0", 0}, {"b5", 5}, {"c1", 1}, {"d5", 5}, {"e0", 0}, {"f32767", 32767}, {"g1", 1}, {"h5", 5}}
	for _, s := range sends {
		if err := q.SendPriority(t.Context(), s.msg, s.prio); err != nil {
			t.Fatal(err)
		}
	}
	// Highest priority first; within a priority, the order of sending.
	want := []string{"f32767/32767", "b5/5", "d5/5", "h5/5", "c1/1", "g1/1", "a0/0", "e0/0"}
	for i, w := range want {
		m, p, err := q.ReceivePriority(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if got := fmt.Sprintf("%s/%d", m, p); got != w {
			t.Errorf("message %d = %s, want %s", i, got, w)
		}
	}
	err := q.SendPriority(t.Context(), "x", 32768)
	if !errors.Is(err, ipcchan.ErrInvalid) || !strings.Contains(err.Error(), "0 to 32767") {
		t.Errorf("SendPriority(32768) = %v, want ErrInvalid naming the range", err)
	}
}

func TestQueueTrySendTryReceive(t *testing.T) {
	q := openQueue[[]byte](t, queueName(t), ipcchan.Create(), ipcchan.Capacity(2), ipcchan.MsgSize(16))
	if _, err := q.TryReceive(); !errors.Is(err, ipcchan.ErrEmpty) {
		t.Fatalf("TryReceive on empty = %v, want ErrEmpty", err)
	}
	for i := range 2 {
		if err := q.TrySend([]byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
	}
	err := q.TrySend([]byte{9})
	if !errors.Is(err, ipcchan.ErrFull) {
		t.Fatalf("TrySend on full = %v, want ErrFull", err)
	}
	if !strings.Contains(err.Error(), "full (2 messages)") {
		t.Errorf("ErrFull message %q does not give the capacity", err)
	}
	if err := q.TrySendPriority([]byte{7}, 3); !errors.Is(err, ipcchan.ErrFull) {
		t.Fatalf("TrySendPriority on full = %v, want ErrFull", err)
	}
	b, err := q.TryReceive()
	if err != nil || !bytes.Equal(b, []byte{0}) {
		t.Fatalf("TryReceive = %v, %v; want [0]", b, err)
	}
	if err := q.TrySendPriority([]byte{7}, 3); err != nil {
		t.Fatal(err)
	}
	if b, prio, err := q.TryReceivePriority(); err != nil || prio != 3 || !bytes.Equal(b, []byte{7}) {
		t.Fatalf("TryReceivePriority = %v, %d, %v; want [7] at 3", b, prio, err)
	}
	if b, prio, err := q.TryReceivePriority(); err != nil || prio != 0 || !bytes.Equal(b, []byte{1}) {
		t.Fatalf("TryReceivePriority = %v, %d, %v; want [1] at 0", b, prio, err)
	}
}

func TestQueueTooLarge(t *testing.T) {
	q := openQueue[[]byte](t, queueName(t), ipcchan.Create(), ipcchan.MsgSize(64))
	err := q.Send(t.Context(), make([]byte, 65))
	if !errors.Is(err, ipcchan.ErrTooLarge) {
		t.Fatalf("Send(65 bytes) = %v, want ErrTooLarge", err)
	}
	for _, want := range []string{q.Name(), "65 bytes", "MsgSize of 64", "msgsize_max", "ipcchan.LargeMessages()"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if err := q.Send(t.Context(), make([]byte, 64)); err != nil {
		t.Fatalf("Send(64 bytes) = %v", err)
	}

	// A typed queue too small for a large message's reference (32 bytes)
	// keeps to its MsgSize.
	qt := openQueue[Job](t, queueName(t), ipcchan.Create(), ipcchan.MsgSize(24))
	err = qt.Send(t.Context(), Job{Name: strings.Repeat("x", 100)})
	if !errors.Is(err, ipcchan.ErrTooLarge) || !strings.Contains(err.Error(), "12-byte header") {
		t.Fatalf("typed Send too large = %v, want ErrTooLarge explaining the header", err)
	}
	// Refused sends reach no system call: only the 64-byte message is queued.
	if a, _ := q.Attr(); a.Len != 1 {
		t.Errorf("raw queue holds %d messages; want the 1 that fitted", a.Len)
	}
	if a, _ := qt.Attr(); a.Len != 0 {
		t.Errorf("typed queue holds %d messages after a refused send; want 0", a.Len)
	}
}

func TestQueueEmptyMessageRefused(t *testing.T) {
	q := openQueue[[]byte](t, queueName(t), ipcchan.Create())
	if err := q.Send(t.Context(), nil); !errors.Is(err, ipcchan.ErrInvalid) || !strings.Contains(err.Error(), "CloseSend") {
		t.Fatalf("Send(empty) = %v, want ErrInvalid pointing at CloseSend", err)
	}
}

func TestQueueInvalidNames(t *testing.T) {
	for _, tc := range []struct{ name, reason string }{
		{"", "empty"},
		{"jobs", `start with a slash, as in "/jobs"`},
		{"/", "slash alone"},
		{"/a/b", "only the leading slash"},
		{"//a", "only the leading slash"},
		{"/.", `"." and ".."`},
		{"/..", `"." and ".."`},
		{"/a\x00b", "NUL"},
		{"/" + strings.Repeat("n", 256), "256 bytes after the slash; the limit is 255"},
	} {
		_, err := ipcchan.OpenQueue[[]byte](tc.name, ipcchan.Create())
		if !errors.Is(err, ipcchan.ErrInvalidName) || !errors.Is(err, fs.ErrInvalid) {
			t.Errorf("OpenQueue(%q) = %v, want ErrInvalidName", tc.name, err)
			continue
		}
		if !strings.Contains(err.Error(), tc.reason) {
			t.Errorf("OpenQueue(%q) error %q does not say %q", tc.name, err, tc.reason)
		}
		if err := ipcchan.UnlinkQueue(tc.name); !errors.Is(err, ipcchan.ErrInvalidName) {
			t.Errorf("UnlinkQueue(%q) = %v, want ErrInvalidName", tc.name, err)
		}
	}
	// The longest valid name works.
	long := "/" + strings.Repeat("n", 255)
	q, err := ipcchan.OpenQueue[[]byte](long, ipcchan.Create())
	if err != nil {
		t.Fatalf("OpenQueue(255-byte name) = %v", err)
	}
	q.Close()
	if err := ipcchan.UnlinkQueue(long); err != nil {
		t.Fatal(err)
	}
}

func TestQueueNotExist(t *testing.T) {
	name := queueName(t)
	_, err := ipcchan.OpenQueue[[]byte](name)
	if !errors.Is(err, ipcchan.ErrNotExist) || !errors.Is(err, fs.ErrNotExist) || !errors.Is(err, syscall.ENOENT) {
		t.Fatalf("OpenQueue(missing) = %v, want ErrNotExist", err)
	}
	var e *ipcchan.Error
	if !errors.As(err, &e) || e.Name != name || e.Op != "open" || e.Kind != "queue" {
		t.Fatalf("error %#v does not name the queue and the operation", err)
	}
	if !strings.Contains(err.Error(), "ipcchan.Create()") {
		t.Errorf("error %q does not say how to create it", err)
	}
	if err := ipcchan.UnlinkQueue(name); !errors.Is(err, ipcchan.ErrNotExist) {
		t.Errorf("UnlinkQueue(missing) = %v, want ErrNotExist", err)
	}
}

func TestQueueExclusiveAndShape(t *testing.T) {
	name := queueName(t)
	openQueue[[]byte](t, name, ipcchan.Create(), ipcchan.Exclusive(), ipcchan.Capacity(3), ipcchan.MsgSize(100))
	_, err := ipcchan.OpenQueue[[]byte](name, ipcchan.Create(), ipcchan.Exclusive())
	if !errors.Is(err, ipcchan.ErrExist) || !errors.Is(err, fs.ErrExist) {
		t.Fatalf("second Exclusive create = %v, want ErrExist", err)
	}
	// Create without Exclusive shares the existing queue.
	q := openQueue[[]byte](t, name, ipcchan.Create(), ipcchan.Capacity(3))
	if a, _ := q.Attr(); a.Capacity != 3 || a.MsgSize != 100 {
		t.Errorf("shared queue has %+v, want Capacity 3 MsgSize 100", a)
	}
	_, err = ipcchan.OpenQueue[[]byte](name, ipcchan.Create(), ipcchan.Capacity(5))
	if !errors.Is(err, ipcchan.ErrExist) || !strings.Contains(err.Error(), "Capacity 3 and MsgSize 100, not the Capacity 5") {
		t.Fatalf("open with another Capacity = %v, want ErrExist describing both", err)
	}
	_, err = ipcchan.OpenQueue[[]byte](name, ipcchan.MsgSize(99))
	if !errors.Is(err, ipcchan.ErrExist) {
		t.Fatalf("open with another MsgSize = %v, want ErrExist", err)
	}
}

func TestQueueOptionErrors(t *testing.T) {
	name := queueName(t)
	for _, tc := range []struct {
		opts []ipcchan.Option
		want string
	}{
		{[]ipcchan.Option{ipcchan.Create(), ipcchan.Value(3)}, "option Value does not apply to a queue"},
		{[]ipcchan.Option{ipcchan.Exclusive()}, "Exclusive() needs Create()"},
		{[]ipcchan.Option{ipcchan.Create(), ipcchan.Capacity(0)}, "Capacity(0)"},
		{[]ipcchan.Option{ipcchan.Create(), ipcchan.MsgSize(-1)}, "MsgSize(-1)"},
		{[]ipcchan.Option{ipcchan.Create(), ipcchan.Perm(0o4755)}, "beyond the permission bits"},
		{[]ipcchan.Option{ipcchan.Create(), nil}, "nil Option"},
		{[]ipcchan.Option{ipcchan.Create(), ipcchan.WithCodec(nil)}, "WithCodec(nil)"},
	} {
		_, err := ipcchan.OpenQueue[[]byte](name, tc.opts...)
		if !errors.Is(err, ipcchan.ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("OpenQueue with bad options = %v, want ErrInvalid saying %q", err, tc.want)
		}
	}
	if _, err := ipcchan.OpenQueue[Job](name, ipcchan.Create(), ipcchan.MsgSize(12)); !errors.Is(err, ipcchan.ErrInvalid) {
		t.Errorf("typed queue with MsgSize(12) = %v, want ErrInvalid", err)
	}
	// None of these created anything.
	if _, err := ipcchan.OpenQueue[[]byte](name); !errors.Is(err, ipcchan.ErrNotExist) {
		t.Errorf("after refused opens, the queue exists: %v", err)
	}
}

func TestQueueLimitsNamed(t *testing.T) {
	name := queueName(t)
	_, err := ipcchan.OpenQueue[[]byte](name, ipcchan.Create(), ipcchan.Capacity(1<<20))
	if !errors.Is(err, ipcchan.ErrLimit) || !strings.Contains(err.Error(), "hard limit of 65536") {
		t.Errorf("Capacity(1<<20) = %v, want ErrLimit naming the hard limit", err)
	}
	_, err = ipcchan.OpenQueue[[]byte](name, ipcchan.Create(), ipcchan.MsgSize(1<<30))
	if !errors.Is(err, ipcchan.ErrLimit) || !strings.Contains(err.Error(), "MsgSize 1073741824 exceeds the kernel's hard limit") {
		t.Errorf("MsgSize(1<<30) = %v, want ErrLimit naming the hard limit", err)
	}
	if _, err := ipcchan.OpenQueue[[]byte](name); !errors.Is(err, ipcchan.ErrNotExist) {
		t.Errorf("a refused create left a queue behind: %v", err)
	}
}

func TestQueueContextUnblocks(t *testing.T) {
	forEachWait(t, func(t *testing.T) {
		full := openQueue[[]byte](t, queueName(t), ipcchan.Create(), ipcchan.Capacity(1), ipcchan.MsgSize(8))
		if err := full.Send(t.Context(), []byte("x")); err != nil {
			t.Fatal(err)
		}
		empty := openQueue[[]byte](t, queueName(t), ipcchan.Create(), ipcchan.Capacity(1), ipcchan.MsgSize(8))

		const deadline = 20 * time.Millisecond
		ctx, cancel := context.WithTimeout(t.Context(), deadline)
		defer cancel()
		start := time.Now()
		err := full.Send(ctx, []byte("y"))
		late := time.Since(start) - deadline
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Send on full queue = %v, want DeadlineExceeded", err)
		}
		t.Logf("Send returned %v after its deadline", late)
		if late > 100*time.Millisecond {
			t.Errorf("Send returned %v after its deadline", late)
		}

		// Cancellation: of a parked Receive on an empty queue, and of a parked
		// Send on a full one, timed from cancel() itself.
		for _, op := range []struct {
			name string
			call func(context.Context) error
		}{
			{"Receive", func(ctx context.Context) error { _, err := empty.Receive(ctx); return err }},
			{"Send", func(ctx context.Context) error { return full.Send(ctx, []byte("y")) }},
		} {
			ctx, cancel := context.WithCancel(t.Context())
			errc := make(chan error, 1)
			go func() { errc <- op.call(ctx) }()
			testutil.WaitBlocked(t, "TestQueueContextUnblocks", 1)
			start := time.Now()
			cancel()
			err := <-errc
			took := time.Since(start)
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("%s after cancel = %v, want Canceled", op.name, err)
			}
			t.Logf("%s returned %v after cancel", op.name, took)
			if took > 100*time.Millisecond {
				t.Errorf("%s returned %v after cancel", op.name, took)
			}
		}
		// A deadline already past still lets a ready operation through.
		past, cancel2 := context.WithDeadline(t.Context(), time.Now().Add(-time.Second))
		defer cancel2()
		if b, err := full.Receive(past); err != nil || string(b) != "x" {
			t.Errorf("Receive with a past deadline on a ready queue = %q, %v", b, err)
		}
	})
}

func TestQueueCloseWakesWaiters(t *testing.T) {
	forEachWait(t, func(t *testing.T) {
		name := queueName(t)
		q := openQueue[[]byte](t, name, ipcchan.Create(), ipcchan.Capacity(1), ipcchan.MsgSize(8))
		other := openQueue[[]byte](t, queueName(t), ipcchan.Create(), ipcchan.Capacity(1), ipcchan.MsgSize(8))
		if err := other.Send(t.Context(), []byte("x")); err != nil {
			t.Fatal(err)
		}
		fullHandle := openQueue[[]byte](t, other.Name())
		const n = 4
		errc := make(chan error, 2*n+1)
		for range n {
			go func() { _, err := q.Receive(t.Context()); errc <- err }()
			go func() { errc <- fullHandle.Send(t.Context(), []byte("y")) }()
		}
		ch := q.Recv()
		// Close must wake goroutines that are parked on the reactor, not only
		// refuse new calls: wait until all 2n+1 (with Recv's) are parked.
		testutil.WaitBlocked(t, "TestQueueCloseWakesWaiters", 2*n)
		testutil.WaitBlocked(t, "(*Receiving[...]).feed", 1) // the Recv goroutine
		q.Close()
		fullHandle.Close()
		for range 2 * n {
			if err := <-errc; !errors.Is(err, ipcchan.ErrClosed) || !errors.Is(err, fs.ErrClosed) {
				t.Errorf("blocked call after Close = %v, want ErrClosed", err)
			}
		}
		if _, ok := <-ch; ok {
			t.Error("Recv channel delivered after Close")
		}
		if err := q.Err(); err != nil {
			t.Errorf("Err() after Close = %v, want nil", err)
		}
		if err := q.Close(); err != nil {
			t.Errorf("second Close = %v", err)
		}
		if q.Fd() != -1 {
			t.Errorf("Fd() after Close = %d, want -1", q.Fd())
		}
		if err := q.Send(t.Context(), []byte("z")); !errors.Is(err, ipcchan.ErrClosed) {
			t.Errorf("Send after Close = %v, want ErrClosed", err)
		}
		if _, err := q.Attr(); !errors.Is(err, ipcchan.ErrClosed) {
			t.Errorf("Attr after Close = %v, want ErrClosed", err)
		}
	})
}

func TestQueueFdPollable(t *testing.T) {
	q := openQueue[[]byte](t, queueName(t), ipcchan.Create(), ipcchan.Capacity(1), ipcchan.MsgSize(8))
	fds := []unix.PollFd{{Fd: int32(q.Fd()), Events: unix.POLLIN | unix.POLLOUT}}
	if _, err := unix.Poll(fds, 0); err != nil {
		t.Fatal(err)
	}
	if fds[0].Revents != unix.POLLOUT {
		t.Errorf("empty queue polls %#x, want POLLOUT only", fds[0].Revents)
	}
	q.Send(t.Context(), []byte("x"))
	fds[0].Revents = 0
	unix.Poll(fds, 0)
	if fds[0].Revents != unix.POLLIN {
		t.Errorf("full queue polls %#x, want POLLIN only", fds[0].Revents)
	}
}

func TestQueueUnlink(t *testing.T) {
	name := queueName(t)
	q := openQueue[[]byte](t, name, ipcchan.Create())
	if err := q.Unlink(); err != nil {
		t.Fatal(err)
	}
	// The open handle still works; the name is gone.
	if err := q.Send(t.Context(), []byte("still here")); err != nil {
		t.Fatal(err)
	}
	if _, err := ipcchan.OpenQueue[[]byte](name); !errors.Is(err, ipcchan.ErrNotExist) {
		t.Errorf("open after Unlink = %v, want ErrNotExist", err)
	}
	if err := q.Unlink(); !errors.Is(err, ipcchan.ErrNotExist) {
		t.Errorf("second Unlink = %v, want ErrNotExist", err)
	}
}

func TestQueueEndOfStream(t *testing.T) {
	name := queueName(t)
	sender := openQueue[int](t, name, ipcchan.Create())
	for i := range 3 {
		sender.Send(t.Context(), i)
	}
	if err := sender.CloseSend(t.Context()); err != nil {
		t.Fatal(err)
	}
	r1 := openQueue[int](t, name)
	var got []int
	for v := range r1.Recv() {
		got = append(got, v)
	}
	if fmt.Sprint(got) != "[0 1 2]" || r1.Err() != nil {
		t.Fatalf("Recv got %v (Err %v), want [0 1 2] then the end", got, r1.Err())
	}
	// Every receiver sees the end, as with a closed channel.
	r2 := openQueue[int](t, name)
	if _, err := r2.Receive(t.Context()); err != io.EOF {
		t.Errorf("second receiver's Receive = %v, want io.EOF", err)
	}
	for v, err := range r2.All(t.Context()) {
		t.Errorf("All after the end yielded %v, %v", v, err)
	}
	if _, err := r2.TryReceive(); err != io.EOF {
		t.Errorf("TryReceive after the end = %v, want io.EOF", err)
	}
}

func TestQueueAllYieldsBadMessagesAndGoesOn(t *testing.T) {
	name := queueName(t)
	jobs := openQueue[Job](t, name, ipcchan.Create())
	raw := openQueue[[]byte](t, name)
	jobs.Send(t.Context(), Job{ID: 1})
	raw.Send(t.Context(), []byte("not a job"))
	jobs.Send(t.Context(), Job{ID: 2})
	jobs.CloseSend(t.Context())
	var ids []int
	var bad [][]byte
	for j, err := range jobs.All(t.Context()) {
		var me *ipcchan.MessageError
		if errors.As(err, &me) {
			bad = append(bad, me.Data)
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, j.ID)
	}
	if fmt.Sprint(ids) != "[1 2]" || len(bad) != 1 || string(bad[0]) != "not a job" {
		t.Errorf("All gave ids %v and bad messages %q; want [1 2] and the raw one", ids, bad)
	}
}

func TestQueueReceiveAppend(t *testing.T) {
	q := openQueue[[]byte](t, queueName(t), ipcchan.Create())
	for _, m := range []string{"one", "two", "three"} {
		q.SendPriority(t.Context(), []byte(m), uint(len(m)))
	}
	buf := make([]byte, 0, 64)
	var got []string
	for range 3 {
		b, prio, err := q.ReceiveAppend(t.Context(), buf[:0])
		if err != nil {
			t.Fatal(err)
		}
		if &b[0] != &buf[:1][0] {
			t.Error("ReceiveAppend did not reuse the buffer it was given")
		}
		got = append(got, fmt.Sprintf("%s/%d", b, prio))
	}
	if strings.Join(got, ",") != "three/5,one/3,two/3" {
		t.Errorf("got %v", got)
	}
	x := []byte("x")
	allocs := testing.AllocsPerRun(100, func() {
		q.TrySend(x)
		buf, _, _ = q.ReceiveAppend(t.Context(), buf[:0])
	})
	if allocs != 0 {
		t.Errorf("a send and ReceiveAppend allocate %v times", allocs)
	}
	// Typed queues give the message as it travels: header, then encoding.
	jobs := openQueue[Job](t, queueName(t), ipcchan.Create())
	jobs.Send(t.Context(), Job{ID: 3})
	b, _, err := jobs.ReceiveAppend(t.Context(), nil)
	if err != nil || len(b) < 12 || b[0] != 0xC1 || b[1] != 'Q' {
		t.Errorf("typed ReceiveAppend = %x, %v", b, err)
	}
	jobs.CloseSend(t.Context())
	if _, _, err := jobs.ReceiveAppend(t.Context(), nil); err != io.EOF {
		t.Errorf("at the end of the stream: %v", err)
	}
	// With a Recv stream holding a message, it is given back as bytes.
	q.Send(t.Context(), []byte("held"))
	q.Send(t.Context(), []byte("next"))
	if v := <-q.Recv(); string(v) != "held" {
		t.Fatalf("Recv = %q", v)
	}
	testutil.WaitBlocked(t, "(*Receiving[...]).feed", 1) // the Recv goroutine
	if b, _, err := q.ReceiveAppend(t.Context(), nil); err != nil || string(b) != "next" {
		t.Errorf("ReceiveAppend beside a stream = %q, %v", b, err)
	}
}
