package ipcchan_test

import (
	"context"
	"fmt"
	"hash/fnv"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ipcchan/ipcchan/internal/testutil"
)

// TestPoolWithC: a C program (testdata/ringpeer.c, following FORMATS.md's
// "Pool") receives from a Ring[[]byte] with a pool: small messages from
// their slots, large ones read in place in the pool (sent by copy and by
// loan), byte-exact; the runs it frees come back to the pool, where a
// sender waits for them (a pool of 16 blocks for 30 messages of up to
// all of it).
func TestPoolWithC(t *testing.T) {
	peer := testutil.BuildC(t, "ringpeer")
	name, r := openPoolRing(t)
	sizes := []int{10, 64, 65, 70000, 300000, 5, poolSize}
	const n = 30
	c := exec.CommandContext(t.Context(), peer, "views", name, strconv.Itoa(n))
	var out strings.Builder
	c.Stdout, c.Stderr = &out, os.Stderr
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	var want []string
	for i := range n {
		size := sizes[i%len(sizes)]
		msg := pattern(size, uint64(i))
		h := fnv.New64a()
		h.Write(msg)
		where := "slot"
		if size > 64 {
			where = "pool"
		}
		want = append(want, fmt.Sprintf("%s %d %016x", where, size, h.Sum64()))
		if where == "pool" && i%2 == 0 {
			l, err := r.Loan(ctx, size)
			if err != nil {
				t.Fatalf("message %d: %v", i, err)
			}
			copy(l.Bytes(), msg)
			if err := l.Send(ctx); err != nil {
				t.Fatalf("message %d: %v", i, err)
			}
			continue
		}
		if err := r.Send(ctx, msg); err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
	}
	if err := c.Wait(); err != nil {
		t.Fatalf("ringpeer views: %v", err)
	}
	got := strings.Split(strings.TrimSpace(out.String()), "\n")
	for i := range n {
		if i >= len(got) || got[i] != want[i] {
			t.Fatalf("C received, as message %d, %q; want %q (%d lines)", i, got[min(i, len(got)-1)], want[i], len(got))
		}
	}
	wantPoolEmpty(t, r) // a loan of the whole pool
	if a, err := r.Attr(); err != nil || a.PoolRecovered != 0 {
		t.Errorf("after C freed every run: %+v, %v; want nothing recovered", a, err)
	}
}
