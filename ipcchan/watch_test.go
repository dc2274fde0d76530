package ipcchan_test

import (
	"context"
	"errors"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/ipcchan/ipcchan/internal/testutil"
	"github.com/ipcchan/ipcchan/ipcchan"
	"github.com/ipcchan/ipcchan/loop"
)

// A watched is what TestWatchEveryKind needs of an object: its Watch,
// something that makes it ready from another process, and a callback that
// takes what the readiness offers.
type watched struct {
	watch    func(l *loop.Loop, cb func(loop.Events)) (func(), error)
	fromPeer func(t *testing.T, n int) // makes it ready n times, in another process
	take     func() bool               // takes one readiness' worth, without waiting; false when there is none
	close    func() error
}

// TestWatchEveryKind: a Queue, a Ring, a Semaphore and a WaitGroup join a
// loop the same way, Watch with one callback: another process makes them
// ready, the callback runs on the loop's goroutine and takes what is
// there; it is level-triggered (the callback runs again while something is
// left); stop and Close end the watch.
func TestWatchEveryKind(t *testing.T) {
	const n = 5
	sempeer := testutil.BuildC(t, "sempeer")
	kinds := map[string]func(t *testing.T) watched{
		"queue": func(t *testing.T) watched {
			name := queueName(t)
			q := openQueue[Job](t, name, ipcchan.Create())
			return watched{
				watch: func(l *loop.Loop, cb func(loop.Events)) (func(), error) { return q.Watch(l, loop.Readable, cb) },
				fromPeer: func(t *testing.T, n int) {
					if out, err := helperCmd(t, "send", name, "0", strconv.Itoa(n)).Output(); err != nil {
						t.Fatalf("send: %v %s", err, out)
					}
				},
				take:  func() bool { _, err := q.TryReceive(); return err == nil },
				close: q.Close,
			}
		},
		"ring": func(t *testing.T) watched {
			name := ringName(t)
			r := openRing[Tick](t, name, ipcchan.Create(), ipcchan.Capacity(2*n))
			return watched{
				watch: func(l *loop.Loop, cb func(loop.Events)) (func(), error) { return r.Watch(l, loop.Readable, cb) },
				fromPeer: func(t *testing.T, n int) {
					if out, err := exec.Command(testutil.BuildC(t, "ringpeer"), "send", name, strconv.Itoa(n)).CombinedOutput(); err != nil {
						t.Fatalf("ringpeer send: %v %s", err, out)
					}
				},
				take:  func() bool { _, err := r.TryReceive(); return err == nil },
				close: r.Close,
			}
		},
		"subscription": func(t *testing.T) watched {
			name := topicName(t)
			top := openTopic[chaosMsg](t, name, ipcchan.Create(), ipcchan.Capacity(2*n))
			sub, err := top.Subscribe()
			if err != nil {
				t.Fatal(err)
			}
			return watched{
				watch: func(l *loop.Loop, cb func(loop.Events)) (func(), error) { return sub.Watch(l, loop.Readable, cb) },
				fromPeer: func(t *testing.T, n int) {
					if out, err := helperCmd(t, "topic-pub", name, "0", strconv.Itoa(n)).Output(); err != nil {
						t.Fatalf("topic-pub: %v %s", err, out)
					}
				},
				take:  func() bool { _, err := sub.TryReceive(); return err == nil },
				close: sub.Close,
			}
		},
		"semaphore": func(t *testing.T) watched {
			name := semName(t)
			s, err := ipcchan.OpenSemaphore(name, ipcchan.Create())
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return watched{
				watch: func(l *loop.Loop, cb func(loop.Events)) (func(), error) { return s.Watch(l, loop.Readable, cb) },
				fromPeer: func(t *testing.T, n int) {
					if out, err := exec.Command(sempeer, "post", name, strconv.Itoa(n)).CombinedOutput(); err != nil {
						t.Fatalf("sempeer post: %v %s", err, out)
					}
				},
				take:  s.TryAcquire,
				close: s.Close,
			}
		},
		"waitgroup": func(t *testing.T) watched {
			name := wgName(t)
			wg, err := ipcchan.OpenWaitGroup(name, ipcchan.Create())
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { wg.Close() })
			wg.Add(1)
			reached := false // a wait group is ready once: its count reached zero
			return watched{
				watch: func(l *loop.Loop, cb func(loop.Events)) (func(), error) { return wg.Watch(l, loop.Readable, cb) },
				fromPeer: func(t *testing.T, _ int) {
					if out, err := helperCmd(t, "wg-done-now", name).Output(); err != nil {
						t.Fatalf("wg-done-now: %v %s", err, out)
					}
				},
				take: func() bool {
					if c, _ := wg.Count(); c != 0 || reached {
						return false
					}
					reached = true
					wg.Add(1) // taken: not ready any more
					return true
				},
				close: wg.Close,
			}
		},
	}
	for kind, open := range kinds {
		t.Run(kind, func(t *testing.T) {
			forEachWait(t, func(t *testing.T) {
				w := open(t)
				want := n
				if kind == "waitgroup" {
					want = 1
				}
				l, err := loop.New()
				if err != nil {
					t.Fatal(err)
				}
				defer l.Close()
				taken, calls := 0, 0
				stop, err := w.watch(l, func(ev loop.Events) {
					calls++
					if ev != loop.Readable {
						t.Errorf("the callback got %v", ev)
					}
					if w.take() { // one at a time: the watch is level-triggered, it calls again
						if taken++; taken == want {
							l.Stop()
						}
					}
				})
				if err != nil {
					t.Fatal(err)
				}
				ran := make(chan error, 1)
				ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
				defer cancel()
				go func() { ran <- l.Run(ctx) }()
				w.fromPeer(t, n)
				if err := <-ran; err != nil || taken != want {
					t.Fatalf("the loop ran until %v, taking %d of %d (%d callbacks)", err, taken, want, calls)
				}

				// Stopped, the watch calls no more, though the object is ready.
				stop()
				w.fromPeer(t, 1)
				before := calls
				l.Post(l.Stop)
				if err := l.Run(ctx); err != nil {
					t.Fatal(err)
				}
				if calls != before {
					t.Errorf("%d callbacks after stop", calls-before)
				}

				// Close ends a watch too, and a closed object cannot be watched.
				if _, err := w.watch(l, func(loop.Events) { calls++ }); err != nil {
					t.Fatal(err)
				}
				if err := w.close(); err != nil {
					t.Fatal(err)
				}
				before = calls
				l.Post(l.Stop)
				if err := l.Run(ctx); err != nil {
					t.Fatal(err)
				}
				if calls != before {
					t.Errorf("%d callbacks after Close", calls-before)
				}
				if _, err := w.watch(l, func(loop.Events) {}); !errors.Is(err, ipcchan.ErrClosed) {
					t.Errorf("Watch of a closed %s: %v, want ErrClosed", kind, err)
				}
			})
		})
	}
}

func init() {
	helpers["wg-done-now"] = func(args []string) error {
		wg, err := ipcchan.OpenWaitGroup(args[0])
		if err != nil {
			return err
		}
		defer wg.Close()
		return wg.Done()
	}
}
