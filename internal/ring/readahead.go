package ring

import (
	"sync"
	"sync/atomic"

	"github.com/ipcchan/ipcchan/internal/objfmt"
)

// readAheadBytes bounds the memory of a subscription's read-ahead, and
// readAheadMax the messages it holds.
const (
	readAheadBytes = 16 << 10
	readAheadMax   = 64
)

// readAhead is the messages a subscription took from its topic in one run
// and has not handed out yet. A subscription's messages are its own (every
// other subscription reads its own copy), so taking several at once loses
// nothing: it moves the cursor once for them all, and wakes publishers
// once, instead of once a message. What it holds when the subscription
// ends (Close, or its process's end) was the subscription's alone.
type readAhead struct {
	mu   sync.Mutex
	max  int    // messages it may hold; below 2, there is no read-ahead
	buf  []byte // max slots of maxLen, made at the first run
	lens []int  // the lengths of the messages in buf
	next int    // buf's messages next up to n are to hand out
	n    int    //
}

func (a *readAhead) init(maxLen int, capacity uint64) {
	a.max = int(min(uint64(readAheadBytes/max(maxLen, 1)), readAheadMax, capacity))
}

// takeAhead calls use with the next message of the read-ahead, after it
// takes a run of messages from the topic if it held none, and reports
// whether it did.
func (s *Sub) takeAhead(use func([]byte)) bool {
	a := &s.ahead
	if a.max < 2 {
		return false
	}
	a.mu.Lock()
	if a.next == a.n && !s.fill() {
		a.mu.Unlock()
		return false
	}
	i, n := a.next, s.t.maxLen
	a.next++
	use(a.buf[i*n : i*n+a.lens[i]])
	a.mu.Unlock()
	return true
}

// held is how many messages the read-ahead holds.
func (a *readAhead) held() int {
	if a.max < 2 {
		return 0
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.n - a.next
}

// fill takes the run of full slots at the cursor (up to a.max), copies
// their messages into buf, and moves the cursor past them with one
// compare-and-swap. Under DropOldest a slot that a publisher a lap on
// claimed while it was copied is lost (and counted); the others are
// whole. It reports whether buf holds a message.
func (s *Sub) fill() bool {
	t, a := s.t, &s.ahead
	if a.buf == nil {
		a.buf, a.lens = make([]byte, a.max*t.maxLen), make([]int, a.max)
	}
	var words [readAheadMax]uint64
	c := atomic.LoadUint64(s.e.Cursor)
	j := 0
	for ; j < a.max; j++ {
		pos := c + uint64(j)
		off := t.offset(pos)
		w := atomic.LoadUint64(t.state(off))
		if p, st, _ := objfmt.ParseSlotWord(w); p != objfmt.SlotPos(pos) || st != objfmt.SlotFull {
			break
		}
		n := t.maxLen
		if !t.fixed {
			n = min(int(atomic.LoadUint32(t.length(off))), t.maxLen)
		}
		copy(a.buf[j*t.maxLen:], t.data(off)[:n])
		a.lens[j], words[j] = n, w
	}
	if j == 0 {
		return false
	}
	k, lost := j, uint64(0)
	if t.dropOldest {
		k = 0
		for i := range j {
			if atomic.LoadUint64(t.state(t.offset(c+uint64(i)))) != words[i] {
				lost++ // overwritten while copied: perhaps torn
				continue
			}
			if k != i {
				copy(a.buf[k*t.maxLen:], a.buf[i*t.maxLen:i*t.maxLen+a.lens[i]])
				a.lens[k] = a.lens[i]
			}
			k++
		}
	}
	if !atomic.CompareAndSwapUint64(s.e.Cursor, c, c+uint64(j)) {
		return false // another goroutine of the subscription moved it: it has them
	}
	if lost > 0 {
		s.count(lost)
	}
	if !t.dropOldest {
		wake(t.w.RoomWord)
	}
	a.next, a.n = 0, k
	return k > 0
}

// drop forgets what the read-ahead holds (the subscription ended).
func (a *readAhead) drop() {
	a.mu.Lock()
	a.next = a.n
	a.mu.Unlock()
}
