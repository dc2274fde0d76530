package ipcchan_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ipcchan/ipcchan/codec"
	"github.com/ipcchan/ipcchan/internal/large"
	"github.com/ipcchan/ipcchan/internal/objfmt"
	"github.com/ipcchan/ipcchan/ipcchan"
)

// Doc is a typed message that may be large.
type Doc struct {
	Title string
	Body  []byte
}

// pattern returns n bytes that tell where they were cut from: seed's stream.
func pattern(n int, seed uint64) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(seed, 7))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// largeFiles lists the large messages' files of the queue or ring name in /dev/shm.
func largeFiles(t testing.TB, name string) []string {
	t.Helper()
	ents, err := os.ReadDir("/dev/shm")
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, e := range ents {
		if _, n, _, ok := objfmt.ParseLargeName(e.Name()); ok && n == name { // of a queue or a ring
			files = append(files, "/dev/shm/"+e.Name())
		}
	}
	return files
}

func wantLargeFiles(t testing.TB, name string, n int, when string) {
	t.Helper()
	if got := largeFiles(t, name); len(got) != n {
		t.Fatalf("%s: %d large-message files of %s, want %d: %v", when, len(got), name, n, got)
	}
}

// waitLargeFiles waits until the queue name has n large-message files.
func waitLargeFiles(t testing.TB, name string, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for len(largeFiles(t, name)) != n {
		if time.Now().After(deadline) {
			t.Fatalf("waited 10 s for %s to have %d large-message files; it has %v", name, n, largeFiles(t, name))
		}
		runtime.Gosched()
	}
}

// inFiles is the option of the tests of large messages in files of their
// own: a queue's without a pool.
var inFiles = ipcchan.PoolSize(0)

// TestLargeTyped: typed messages beyond MsgSize travel whole, in the order
// of their priorities among small ones, up to the end of the stream; each
// file is gone once its message is received.
func TestLargeTyped(t *testing.T) {
	name := queueName(t)
	q := openQueue[Doc](t, name, ipcchan.Create(), ipcchan.Capacity(8), ipcchan.MsgSize(1024), inFiles)
	sent := []struct {
		doc  Doc
		prio uint
	}{
		{Doc{"small 0", []byte("a")}, 0},
		{Doc{"large 0", pattern(3<<20, 1)}, 0},
		{Doc{"small 5", []byte("b")}, 5},
		{Doc{"large 5", pattern(1500, 2)}, 5},
		{Doc{"small 0 again", nil}, 0},
	}
	for _, s := range sent {
		if err := q.SendPriority(t.Context(), s.doc, s.prio); err != nil {
			t.Fatalf("SendPriority(%s): %v", s.doc.Title, err)
		}
	}
	if err := q.CloseSend(t.Context()); err != nil {
		t.Fatal(err)
	}
	wantLargeFiles(t, name, 2, "two large messages queued")
	if a, _ := q.Attr(); a.Len != 6 {
		t.Fatalf("queue holds %d messages, want 6 (5 and the end)", a.Len)
	}
	for i, want := range []int{2, 3, 0, 1, 4} {
		got, prio, err := q.ReceivePriority(t.Context())
		if err != nil {
			t.Fatalf("receive %d: %v", i, err)
		}
		if w := sent[want]; got.Title != w.doc.Title || !bytes.Equal(got.Body, w.doc.Body) || prio != w.prio {
			t.Fatalf("receive %d: %q (%d bytes) at %d, want %q (%d bytes) at %d", i, got.Title, len(got.Body), prio, w.doc.Title, len(w.doc.Body), w.prio)
		}
		if got.Title == "large 5" {
			wantLargeFiles(t, name, 1, "after receiving one of two")
		}
	}
	if _, err := q.Receive(t.Context()); err != io.EOF {
		t.Fatalf("after the messages: %v, want io.EOF", err)
	}
	wantLargeFiles(t, name, 0, "all received")
}

// TestLargeBytesNeedLargeMessages: []byte and string queues stay C's bytes
// unless LargeMessages is given; with it, they carry any size byte-exact,
// through every way of receiving.
func TestLargeBytesNeedLargeMessages(t *testing.T) {
	name := queueName(t)
	plain := openQueue[[]byte](t, name, ipcchan.Create(), ipcchan.MsgSize(512))
	err := plain.Send(t.Context(), make([]byte, 513))
	if !errors.Is(err, ipcchan.ErrTooLarge) || !strings.Contains(err.Error(), "ipcchan.LargeMessages()") {
		t.Fatalf("Send(513 bytes) without LargeMessages = %v, want ErrTooLarge naming LargeMessages()", err)
	}
	wantLargeFiles(t, name, 0, "refused")

	bq := openQueue[[]byte](t, name, ipcchan.LargeMessages())
	sq := openQueue[string](t, name, ipcchan.LargeMessages())
	msgs := [][]byte{pattern(1<<20, 3), pattern(513, 4), []byte("small"), pattern(100000, 5)}
	for _, m := range msgs {
		if err := bq.Send(t.Context(), m); err != nil {
			t.Fatal(err)
		}
	}
	if err := sq.Send(t.Context(), string(pattern(70000, 6))); err != nil {
		t.Fatal(err)
	}
	got, err := bq.Receive(t.Context())
	if err != nil || !bytes.Equal(got, msgs[0]) {
		t.Fatalf("Receive = %d bytes, %v; want the 1 MiB message", len(got), err)
	}
	prefix := []byte("prefix:")
	app, _, err := bq.ReceiveAppend(t.Context(), prefix)
	if err != nil || !bytes.Equal(app, append([]byte("prefix:"), msgs[1]...)) {
		t.Fatalf("ReceiveAppend = %d bytes, %v; want prefix + 513 bytes", len(app), err)
	}
	roomy := make([]byte, 0, 1024) // room for any small message: the kernel writes the reference there
	app, _, err = bq.ReceiveAppend(t.Context(), roomy)
	if err != nil || string(app) != "small" {
		t.Fatalf("ReceiveAppend = %q, %v; want small", app, err)
	}
	app, _, err = bq.ReceiveAppend(t.Context(), roomy)
	if err != nil || !bytes.Equal(app, msgs[3]) {
		t.Fatalf("ReceiveAppend into room = %d bytes, %v; want the 100000-byte message", len(app), err)
	}
	s, err := sq.Receive(t.Context())
	if err != nil || s != string(pattern(70000, 6)) {
		t.Fatalf("string Receive = %d bytes, %v", len(s), err)
	}
	// A handle without the option sees a reference as it is: 32 bytes.
	if err := bq.Send(t.Context(), pattern(9000, 7)); err != nil {
		t.Fatal(err)
	}
	ref, err := plain.Receive(t.Context())
	if err != nil || len(ref) != large.RefSize {
		t.Fatalf("plain Receive of a large message = %d bytes, %v; want its %d-byte reference", len(ref), err, large.RefSize)
	}
	if err := plain.Unlink(); err != nil {
		t.Fatal(err)
	}
	wantLargeFiles(t, name, 0, "the queue removed")
}

// TestLargeStreams: Recv and All hand over large messages, and a large
// message that Recv read ahead goes back into the queue on Close, whole.
func TestLargeStreams(t *testing.T) {
	name := queueName(t)
	q := openQueue[Doc](t, name, ipcchan.Create(), ipcchan.MsgSize(256), inFiles) // files: their count tells when Recv has read ahead
	for i := range 3 {
		if err := q.Send(t.Context(), Doc{Title: "doc", Body: pattern(20000, uint64(i))}); err != nil {
			t.Fatal(err)
		}
	}
	i := 0
	for d, err := range q.All(t.Context()) {
		if err != nil || !bytes.Equal(d.Body, pattern(20000, uint64(i))) {
			t.Fatalf("All %d: %d bytes, %v", i, len(d.Body), err)
		}
		if i++; i == 1 {
			break
		}
	}
	r := openQueue[Doc](t, name)
	ch := r.Recv()
	if d := <-ch; !bytes.Equal(d.Body, pattern(20000, 1)) {
		t.Fatalf("Recv: %d bytes, not message 1", len(d.Body))
	}
	// The stream reads message 2 ahead (and so removes its file): Close
	// must put it back.
	waitLargeFiles(t, name, 0)
	if err := r.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	wantLargeFiles(t, name, 1, "put back by Close")
	d, err := q.Receive(t.Context())
	if err != nil || !bytes.Equal(d.Body, pattern(20000, 2)) {
		t.Fatalf("after Close: %d bytes, %v; want message 2", len(d.Body), err)
	}
	wantLargeFiles(t, name, 0, "all received")
}

// TestLargeTypeMismatch: a receiver of another type gets ErrTypeMismatch
// with the large message's bytes, and the file is gone.
func TestLargeTypeMismatch(t *testing.T) {
	name := queueName(t)
	q := openQueue[Doc](t, name, ipcchan.Create(), ipcchan.MsgSize(128))
	doc := Doc{Title: "big", Body: pattern(50000, 9)}
	if err := q.SendPriority(t.Context(), doc, 3); err != nil {
		t.Fatal(err)
	}
	other := openQueue[Job](t, name)
	_, err := other.Receive(t.Context())
	var me *ipcchan.MessageError
	if !errors.Is(err, ipcchan.ErrTypeMismatch) || !errors.As(err, &me) {
		t.Fatalf("Receive as Job = %v, want a MessageError of ErrTypeMismatch", err)
	}
	if len(me.Data) < 50000 || !bytes.Contains(me.Data, doc.Body) || me.Priority != 3 {
		t.Fatalf("the error holds %d bytes at %d, not the whole message at 3", len(me.Data), me.Priority)
	}
	wantLargeFiles(t, name, 0, "received as the wrong type")
}

// TestLargeLimits: over 1 GiB is ErrTooLarge before anything is written;
// LargeMessages does not apply to codec.Layout or a queue too small for a
// reference.
func TestLargeLimits(t *testing.T) {
	name := queueName(t)
	q := openQueue[[]byte](t, name, ipcchan.Create(), ipcchan.LargeMessages())
	huge := make([]byte, large.Max+1) // never touched: no memory is used
	err := q.TrySend(huge)
	if !errors.Is(err, ipcchan.ErrTooLarge) || !strings.Contains(err.Error(), "1 GiB") {
		t.Fatalf("TrySend(1 GiB + 1) = %v, want ErrTooLarge naming the 1 GiB limit", err)
	}
	wantLargeFiles(t, name, 0, "refused")
	if a, _ := q.Attr(); a.Len != 0 {
		t.Fatalf("queue holds %d messages after a refused send", a.Len)
	}
	if _, err := ipcchan.OpenQueue[Order](name, ipcchan.WithCodec(codec.Layout), ipcchan.LargeMessages()); !errors.Is(err, ipcchan.ErrInvalid) {
		t.Errorf("Layout with LargeMessages = %v, want ErrInvalid", err)
	}
	small := queueName(t)
	if _, err := ipcchan.OpenQueue[[]byte](small, ipcchan.Create(), ipcchan.MsgSize(16), ipcchan.LargeMessages()); !errors.Is(err, ipcchan.ErrInvalid) || !strings.Contains(err.Error(), "at least 32") {
		t.Errorf("MsgSize(16) with LargeMessages = %v, want ErrInvalid naming 32", err)
	}
}

// TestLargeUnlinkTakesFiles: messages never received go with the queue.
func TestLargeUnlinkTakesFiles(t *testing.T) {
	name := queueName(t)
	q := openQueue[Doc](t, name, ipcchan.Create(), ipcchan.MsgSize(128), inFiles)
	for range 3 {
		if err := q.Send(t.Context(), Doc{Body: pattern(10000, 1)}); err != nil {
			t.Fatal(err)
		}
	}
	wantLargeFiles(t, name, 3, "sent")
	if err := ipcchan.UnlinkQueue(name); err != nil {
		t.Fatal(err)
	}
	wantLargeFiles(t, name, 0, "after UnlinkQueue")
	// The open handle still works on the removed queue, and tells of the
	// large messages that went with it.
	_, err := q.Receive(t.Context())
	if !errors.Is(err, ipcchan.ErrNotExist) || !strings.Contains(err.Error(), "gone") {
		t.Fatalf("Receive after UnlinkQueue = %v, want ErrNotExist saying the message is gone", err)
	}
}

// TestLargeSenderContext: a large send that waits for room honours ctx,
// and leaves nothing behind when it gives up.
func TestLargeSenderContext(t *testing.T) {
	name := queueName(t)
	q := openQueue[[]byte](t, name, ipcchan.Create(), ipcchan.Capacity(1), ipcchan.MsgSize(64), ipcchan.LargeMessages(), inFiles)
	if err := q.Send(t.Context(), pattern(100, 1)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error)
	go func() { done <- q.Send(ctx, pattern(200, 2)) }()
	waitLargeFiles(t, name, 2) // the second file is made before the wait for room
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Send = %v, want context.Canceled", err)
	}
	wantLargeFiles(t, name, 1, "a cancelled send")
	if err := q.TrySend(pattern(300, 3)); !errors.Is(err, ipcchan.ErrFull) {
		t.Fatalf("TrySend to a full queue = %v, want ErrFull", err)
	}
	wantLargeFiles(t, name, 1, "a refused TrySend")
}

// TestLargeFileMode: a large message's file is the queue owner's and no
// wider than the queue's mode.
func TestLargeFileMode(t *testing.T) {
	for _, perm := range []os.FileMode{0o600, 0o640, 0o666} {
		name := queueName(t)
		q := openQueue[[]byte](t, name, ipcchan.Create(), ipcchan.Perm(perm), ipcchan.MsgSize(64), ipcchan.LargeMessages(), inFiles)
		if err := q.Send(t.Context(), pattern(100, 1)); err != nil {
			t.Fatal(err)
		}
		files := largeFiles(t, name)
		if len(files) != 1 {
			t.Fatalf("%d files", len(files))
		}
		var st unix.Stat_t
		if err := unix.Stat(files[0], &st); err != nil {
			t.Fatal(err)
		}
		if st.Mode&0o777 != 0o600 || int(st.Uid) != os.Geteuid() {
			t.Errorf("queue %04o: its large message's file has mode %04o, uid %d; want 0600, uid %d", perm, st.Mode&0o777, st.Uid, os.Geteuid())
		}
	}
}

// TestLargeRing: a ring carries typed values beyond MsgSize, and []byte
// with LargeMessages, in order among small ones; the files go as the
// messages are received, or with the ring.
func TestLargeRing(t *testing.T) {
	name := ringName(t)
	r := openRing[Doc](t, name, ipcchan.Create(), ipcchan.Capacity(4), ipcchan.MsgSize(256))
	docs := []Doc{{"small", []byte("x")}, {"large", pattern(1<<20, 1)}, {"small again", nil}, {"large again", pattern(300, 2)}}
	for _, d := range docs {
		if err := r.Send(t.Context(), d); err != nil {
			t.Fatal(err)
		}
	}
	wantLargeFiles(t, name, 2, "two large messages in the ring")
	for i, want := range docs {
		got, err := r.Receive(t.Context())
		if err != nil || got.Title != want.Title || !bytes.Equal(got.Body, want.Body) {
			t.Fatalf("receive %d: %q (%d bytes), %v; want %q", i, got.Title, len(got.Body), err, want.Title)
		}
	}
	wantLargeFiles(t, name, 0, "all received")

	bname := ringName(t)
	plain := openRing[[]byte](t, bname, ipcchan.Create(), ipcchan.MsgSize(64))
	if err := plain.Send(t.Context(), make([]byte, 65)); !errors.Is(err, ipcchan.ErrTooLarge) || !strings.Contains(err.Error(), "ipcchan.LargeMessages()") {
		t.Fatalf("ring Send(65 bytes) without LargeMessages = %v, want ErrTooLarge naming LargeMessages()", err)
	}
	// A ring made without a pool carries them in files, for an opener with
	// LargeMessages; opening it so does not give it a pool.
	b := openRing[[]byte](t, bname, ipcchan.LargeMessages())
	for i := range 3 {
		if err := b.Send(t.Context(), pattern(5000, uint64(i))); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := b.Receive(t.Context()); err != nil || !bytes.Equal(got, pattern(5000, 0)) {
		t.Fatalf("ring []byte Receive: %d bytes, %v", len(got), err)
	}
	wantLargeFiles(t, bname, 2, "two left")
	if a, err := b.Attr(); err != nil || a.PoolSize != 0 {
		t.Fatalf("a ring made without a pool: Attr = %+v, %v; want no pool", a, err)
	}
	if _, err := os.Stat("/dev/shm/" + objfmt.PoolName("ring", bname)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the pool of a ring made without one: %v", err)
	}
	if err := ipcchan.UnlinkRing(bname); err != nil {
		t.Fatal(err)
	}
	wantLargeFiles(t, bname, 0, "after UnlinkRing")

	// A ring made with LargeMessages has a pool: they wait there, in a
	// block each, and any opener carries them.
	pname := ringName(t)
	openRing[[]byte](t, pname, ipcchan.Create(), ipcchan.MsgSize(64), ipcchan.LargeMessages())
	p := openRing[[]byte](t, pname)
	for i := range 3 {
		if err := p.Send(t.Context(), pattern(5000, uint64(i))); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := p.Receive(t.Context()); err != nil || !bytes.Equal(got, pattern(5000, 0)) {
		t.Fatalf("ring []byte Receive: %d bytes, %v", len(got), err)
	}
	wantLargeFiles(t, pname, 0, "two left in the pool")
	if a, err := p.Attr(); err != nil || a.PoolInUse != 2*large.BlockSize {
		t.Fatalf("two left: Attr = %+v, %v; want 2 blocks of the pool in use", a, err)
	}
	if err := ipcchan.UnlinkRing(pname); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat("/dev/shm/" + objfmt.PoolName("ring", pname)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the pool after UnlinkRing: %v", err)
	}
	if _, err := ipcchan.OpenRing[Order](ringName(t), ipcchan.Create(), ipcchan.LargeMessages()); !errors.Is(err, ipcchan.ErrInvalid) {
		t.Errorf("a ring of a pointer-free type with LargeMessages = %v, want ErrInvalid", err)
	}
}
