package ipcchan_test

import (
	"context"
	"io"
	"math/rand/v2"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/ipcchan/ipcchan/ipcchan"
)

// A handle sends and receives single messages ahead of tail and head,
// leaving the counters up to 15 positions behind (docs/FORMATS.md,
// "Claiming ahead"). Several handles of one ring, each with its own
// position ahead, interleave single messages and batches, lap after lap:
// every message comes out once and in order, and the length counts what
// the ring holds, exactly, though the counters lag.
func TestRingClaimsAhead(t *testing.T) {
	name := ringName(t)
	const capacity = 64 // claims run up to 16 ahead
	senders := []*ipcchan.Ring[Tick]{openRing[Tick](t, name, ipcchan.Create(), ipcchan.Capacity(capacity)), openRing[Tick](t, name)}
	receivers := []*ipcchan.Ring[Tick]{openRing[Tick](t, name), openRing[Tick](t, name)}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second) // a lost message fails, rather than hangs, the test
	defer cancel()
	rng := rand.New(rand.NewPCG(1, 2))
	var sent, got uint64
	checkLen := func(when string) {
		t.Helper()
		if a, err := receivers[rng.IntN(2)].Attr(); err != nil || a.Len != int(sent-got) {
			t.Fatalf("%s: Attr = %+v, %v; want Len %d", when, a, err, sent-got)
		}
	}
	for round := range 2000 {
		held := int(sent - got)
		if held < capacity && (held == 0 || rng.IntN(2) == 0) {
			s := senders[rng.IntN(2)]
			if k := min(rng.IntN(8), capacity-held); k > 1 { // a batch
				vs := make([]Tick, k)
				for i := range vs {
					vs[i] = Tick{Seq: sent + uint64(i)}
				}
				if n, err := s.SendBatch(ctx, vs); n != k || err != nil {
					t.Fatalf("round %d: SendBatch of %d = %d, %v", round, k, n, err)
				}
				sent += uint64(k)
			} else {
				if err := s.TrySend(Tick{Seq: sent}); err != nil {
					t.Fatalf("round %d: TrySend %d: %v", round, sent, err)
				}
				sent++
			}
		} else {
			r := receivers[rng.IntN(2)]
			if k := min(rng.IntN(8), held); k > 1 {
				buf := make([]Tick, k)
				n, err := r.ReceiveBatch(ctx, buf)
				if err != nil || n < 1 {
					t.Fatalf("round %d: ReceiveBatch = %d, %v", round, n, err)
				}
				for _, v := range buf[:n] {
					if v.Seq != got {
						t.Fatalf("round %d: got message %d, want %d", round, v.Seq, got)
					}
					got++
				}
			} else {
				v, err := r.TryReceive()
				if err != nil || v.Seq != got {
					t.Fatalf("round %d: TryReceive = %+v, %v; want message %d", round, v, err, got)
				}
				got++
			}
		}
		checkLen("round " + strconv.Itoa(round))
	}
	// Past a full ring, from the handles' positions ahead.
	for sent-got < capacity {
		if err := senders[0].TrySend(Tick{Seq: sent}); err != nil {
			t.Fatalf("filling: TrySend %d: %v", sent, err)
		}
		sent++
	}
	if err := senders[1].TrySend(Tick{}); err == nil {
		t.Fatal("TrySend on a full ring succeeded")
	}
	checkLen("full")
	senders[1].CloseSend(ctx)
	for {
		v, err := receivers[int(got)%2].Receive(ctx)
		if err == io.EOF {
			break
		}
		if err != nil || v.Seq != got {
			t.Fatalf("draining: Receive = %+v, %v; want message %d", v, err, got)
		}
		got++
	}
	if got != sent {
		t.Fatalf("received %d messages of %d", got, sent)
	}
	checkLen("drained")
}

// Goroutines share a handle's positions ahead: four send through one
// handle, three receive through another and a third, all at once. Every
// message comes out exactly once, and each sender's in its order.
func TestRingClaimsAheadGoroutines(t *testing.T) {
	name := ringName(t)
	tx := openRing[Tick](t, name, ipcchan.Create(), ipcchan.Capacity(64))
	rxs := []*ipcchan.Ring[Tick]{openRing[Tick](t, name), openRing[Tick](t, name)}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	const senders, each = 4, 20000
	var wg sync.WaitGroup
	for g := range senders {
		wg.Go(func() {
			for i := range each {
				if err := tx.Send(ctx, Tick{Seq: uint64(i), Side: int32(g)}); err != nil {
					t.Errorf("sender %d: Send %d: %v", g, i, err)
					return
				}
			}
		})
	}
	got := make(chan []Tick, 3)
	for k := range 3 {
		r := rxs[k%2]
		go func() {
			var mine []Tick
			for {
				v, err := r.Receive(ctx)
				if err != nil {
					if err != io.EOF {
						t.Errorf("Receive: %v", err)
					}
					got <- mine
					return
				}
				mine = append(mine, v)
			}
		}()
	}
	wg.Wait()
	tx.CloseSend(ctx)
	next := make([]uint64, senders) // of each sender, by each receiver: in order
	total := 0
	seen := make(map[[2]uint64]bool)
	for range 3 {
		mine := <-got
		clear(next)
		for _, v := range mine {
			g := uint64(v.Side)
			if g >= senders || v.Seq < next[g] || seen[[2]uint64{g, v.Seq}] {
				t.Fatalf("message %d of sender %d: out of order or twice", v.Seq, v.Side)
			}
			next[g], seen[[2]uint64{g, v.Seq}] = v.Seq+1, true
		}
		total += len(mine)
	}
	if total != senders*each {
		t.Fatalf("received %d messages of %d", total, senders*each)
	}
}
