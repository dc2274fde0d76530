package ring

import (
	"context"
	"errors"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/ipcchan/ipcchan/internal/futex"
	"github.com/ipcchan/ipcchan/internal/objfmt"
	"github.com/ipcchan/ipcchan/internal/posix"
)

// waiting is how one handle of a ring or a topic waits on its futex
// words: a spin of adaptive length first, then asleep (futex.Set), with a
// look at the process it waits on every OwnerCheck.
type waiting struct {
	pid     uint32       // this process
	waiters *futex.Set   // the handle's: its Close ends the waits
	spin    atomic.Int64 // how long a waiter spins now, in ns (see MaxSpin)
}

func (wt *waiting) init(pid uint32, waiters *futex.Set) {
	wt.pid, wt.waiters = pid, waiters
	wt.spin.Store(int64(MaxSpin))
}

// errOwnerCheck says that a wait on something another process holds timed
// out and that process is dead: the waiter takes it back.
var errOwnerCheck = errors.New("owner check")

// holder is the process a wait on a slot in state st, owned by pid,
// depends on: the owner of a slot being written or read, or 0.
func holder(st uint64, pid uint32) uint32 {
	if st == objfmt.SlotWriting || st == objfmt.SlotReading {
		return pid
	}
	return 0
}

// wait waits while still holds: a few looks first (spinWait, once per
// claim: *spins counts), then asleep on word, announced by its
// RingSleepers bit. When what it waits for is in the hands of another
// process (holder, not 0), the sleep lasts at most OwnerCheck, then wait
// returns errOwnerCheck if that process is dead. It returns nil when still
// may have stopped holding. With park, it parks at once (see
// Ring.WaitReady).
func (wt *waiting) wait(ctx context.Context, word *uint32, still func() bool, spins *int, holder uint32, park bool) error {
	var began time.Time // of a spin that missed, to adapt the next from the whole wait
	if *spins == 0 {
		*spins = 1
		var caught bool
		if caught, began = wt.spinWait(still); caught {
			return nil
		}
	}
	var timeout time.Duration
	if holder != 0 && holder != wt.pid {
		timeout = OwnerCheck
	}
	for {
		v := atomic.LoadUint32(word)
		if !still() {
			return nil
		}
		if v&objfmt.RingSleepers == 0 {
			if !atomic.CompareAndSwapUint32(word, v, v|objfmt.RingSleepers) {
				continue
			}
			v |= objfmt.RingSleepers
		}
		if !still() { // looked again after the bit is set: a change now wakes us
			return nil
		}
		sleep := wt.waiters.Wait
		if park {
			sleep = wt.waiters.Park
		}
		switch sleep(ctx, word, v, -1, timeout) {
		case futex.ByContext:
			return context.Cause(ctx)
		case futex.ByClose:
			return ErrClosed
		case futex.ByTimeout:
			if !posix.Alive(int(holder)) {
				return errOwnerCheck
			}
			continue
		}
		wt.slept(began)
		return nil
	}
}

// spinWait looks at still again and again, for as long as the handle
// spins now, and reports whether it stopped holding, and when the spin
// began; it adapts the length of the next spin.
func (wt *waiting) spinWait(still func() bool) (bool, time.Time) {
	limit := wt.spin.Load()
	if limit <= 0 {
		return !still(), time.Time{}
	}
	start := time.Now()
	if spin(still, start, time.Duration(limit)) {
		wt.spin.Store(min(max(2*limit, int64(MinSpin)), int64(MaxSpin)))
		return true, start
	}
	wt.spin.Store(max(limit/2, int64(MinSpin)))
	return false, start
}

// spin looks at still again and again, from start for limit, and reports
// whether it stopped holding. The clock is read every few hundred looks;
// every 64 looks it lets the process's other goroutines run. (That yield
// also paces the looks at a line the other side is about to write: without
// it a ring ping-pong took 1.6 times as long, in an interleaved run;
// batches gained nothing from its absence.)
func spin(still func() bool, start time.Time, limit time.Duration) bool {
	for i := 1; ; i++ {
		if !still() {
			return true
		}
		if i%64 == 0 {
			runtime.Gosched()
			if i%256 == 0 && time.Since(start) > limit {
				return false
			}
		}
	}
}

// slept adapts the spin after a wait that spun from began, missed, and
// slept until it was woken: when the whole wait was shorter than MaxSpin,
// a spin of twice its length would have caught it without a system call
// on either side, so the next spins that long. Without it a spin that
// halved below the time the other side takes per message (a batch's
// sender: a microsecond or more) would never catch again, and every
// message would cost a sleep and a wake-up.
func (wt *waiting) slept(began time.Time) {
	if began.IsZero() || MaxSpin <= 0 {
		return
	}
	if d := time.Since(began); d < MaxSpin {
		wt.spin.Store(min(max(int64(2*d), int64(MinSpin)), int64(MaxSpin)))
	}
}

// wake wakes every sleeper of word, if one announced itself.
func wake(word *uint32) { futex.WakeSleepers(word) }
