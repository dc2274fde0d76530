// Package loop is ipcchan's epoll reactor: one epoll instance, the
// descriptors registered with it, and the goroutine that polls it.
//
// A Loop serves two kinds of users. Event-driven programs register
// descriptors with callbacks (Add, Modify, Remove), post work (Post) and
// run the loop as their main loop (Run). Code written in the goroutine
// style parks goroutines on it (Watch, FD.Wait): a goroutine whose
// non-blocking system call returned EAGAIN waits until the descriptor is
// ready, or its context is done. The ipcchan library waits that way on
// Default, and a program's own descriptors may share it.
//
// The loop is polled leader/follower style. At most one goroutine, the
// leader, sleeps in epoll_wait and dispatches what it returns; other
// goroutines that wait are followers, parked on channels. A goroutine that
// calls Run is the leader until Run returns. Without Run, the first
// goroutine that has to wait becomes the leader, and when its own
// descriptor is ready it returns at once, without a hand-off to another
// goroutine: a lone waiter wakes as fast as a blocking system call would,
// which measured about twice as fast here as a hand-off through the Go
// scheduler. When a leader leaves, a follower takes over. An idle loop
// holds no goroutine and no thread; all the goroutines waiting on one loop
// hold one thread, the leader's.
//
// Callbacks run on the leader's goroutine, one at a time, in the order
// epoll reports their events. A callback may add, modify or remove any
// registration (its own included), post work, or stop the loop.
package loop
