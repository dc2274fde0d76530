package ring

import (
	"context"
	"fmt"
	"os"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/ipcchan/ipcchan/internal/futex"
	"github.com/ipcchan/ipcchan/internal/objfmt"
)

// newTestService lays out a service of capacity records in memory of this
// process, as a mapping would hold it.
func newTestService(t *testing.T, capacity int) []byte {
	t.Helper()
	stride := objfmt.ServiceStride(32, objfmt.ServiceErrMin)
	words := make([]uint64, (objfmt.ServiceSize(capacity, stride)+7)/8)
	p := unsafe.Slice((*byte)(unsafe.Pointer(&words[0])), len(words)*8)
	objfmt.ServiceInit(p, capacity, 32, objfmt.ServiceErrMin, objfmt.ServiceFixedReq)
	return p
}

// TestServiceRepost: a call whose bit in posted was cleared by a server
// that died before taking it (or whose server died before waking it)
// posts itself again while it waits, from its first wait on: a live
// server then takes and answers it.
func TestServiceRepost(t *testing.T) {
	p := newTestService(t, 8)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	pid := uint32(os.Getpid())
	cli, srv := NewService(p, pid, new(futex.Set)), NewService(p, pid, new(futex.Set))
	c, err := cli.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	copy(cli.Request(c), "question")
	cli.Post(c, 8, 0)
	// The server that died: it cleared the bit, and took nothing.
	atomic.AndUint64(&srv.w.Bitmap[c.i/64], ^(uint64(1) << (c.i % 64)))
	if srv.posted() {
		t.Fatal("the cleared bit is still posted")
	}

	answered := make(chan error, 1)
	go func() {
		ans, err := cli.Await(ctx, c)
		if err == nil && string(ans.Data) != "answer" {
			err = fmt.Errorf("answered %q, want %q", ans.Data, "answer")
		}
		cli.Done(c)
		answered <- err
	}()
	got, err := srv.Take(ctx) // only a repost shows the call
	if err != nil {
		t.Fatalf("no server saw the call again: %v", err)
	}
	if got != c {
		t.Fatalf("took %+v, want %+v", got, c)
	}
	srv.Answer(got, copy(srv.Response(got), "answer"), objfmt.ServiceOK, 0)
	if err := <-answered; err != nil {
		t.Fatalf("Await: %v", err)
	}
}
