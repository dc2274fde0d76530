package loop

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"
)

// Events is a set of readiness conditions of a descriptor.
type Events uint32

// Readiness conditions. Error and HangUp are always reported, whether or
// not they were asked for.
const (
	Readable Events = unix.EPOLLIN
	Writable Events = unix.EPOLLOUT
	Error    Events = unix.EPOLLERR
	HangUp   Events = unix.EPOLLHUP | unix.EPOLLRDHUP
)

func (e Events) String() string {
	s := ""
	for _, n := range []struct {
		e    Events
		name string
	}{{Readable, "readable"}, {Writable, "writable"}, {Error, "error"}, {HangUp, "hangup"}} {
		if e&n.e != 0 {
			if s != "" {
				s += "|"
			}
			s += n.name
		}
	}
	if s == "" {
		return "none"
	}
	return s
}

// ErrClosed is returned by operations on a closed Loop or FD.
var ErrClosed = errors.New("loop: closed")

// A Loop is an epoll reactor. Its methods are safe for concurrent use.
type Loop struct {
	epfd int
	wake int // eventfd that interrupts the leader's epoll_wait

	mu       sync.Mutex
	regs     map[int32]*registration
	gen      uint32
	posted   []func()
	leading  bool          // a goroutine polls epfd
	running  bool          // Run is active (and leads, or waits to)
	handover chan struct{} // made by a follower; closed when the leader steps down
	stop     bool
	closed   bool
	released bool // descriptors closed

	wakePending atomic.Bool
	polls       atomic.Uint64        // epoll_wait calls, for tests
	events      [128]unix.EpollEvent // the leader's
}

type registration struct {
	fd     int32
	gen    uint32
	ev     Events
	cb     func(Events)
	waiter *FD // set for descriptors from Watch
}

// New creates a Loop.
func New() (*Loop, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("epoll_create1", err)
	}
	wake, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		unix.Close(epfd)
		return nil, os.NewSyscallError("eventfd", err)
	}
	l := &Loop{epfd: epfd, wake: wake, regs: make(map[int32]*registration)}
	// The eventfd is registered like any descriptor; its callback drains
	// it and runs posted functions.
	r := &registration{fd: int32(wake), ev: Readable, cb: l.drainWake}
	if err := l.ctl(unix.EPOLL_CTL_ADD, r); err != nil {
		unix.Close(wake)
		unix.Close(epfd)
		return nil, os.NewSyscallError("epoll_ctl", err)
	}
	l.regs[r.fd] = r
	return l, nil
}

var (
	defaultOnce sync.Once
	defaultLoop *Loop
	defaultErr  error
)

// Default returns the process-wide Loop that the ipcchan library uses for
// its own waits. Nothing runs it: goroutines that wait take turns polling
// it. It lives as long as the process and must not be closed.
func Default() (*Loop, error) {
	defaultOnce.Do(func() { defaultLoop, defaultErr = New() })
	return defaultLoop, defaultErr
}

// Add registers fd for the events in ev; cb runs on the leader's goroutine
// with the events that occurred each time fd is ready (level-triggered: it
// runs again while the condition holds). A descriptor can be registered
// once.
func (l *Loop) Add(fd int, ev Events, cb func(Events)) error {
	if cb == nil {
		return fmt.Errorf("loop: add fd %d: nil callback", fd)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return ErrClosed
	}
	l.gen++
	r := &registration{fd: int32(fd), gen: l.gen, ev: ev, cb: cb}
	if err := l.ctl(unix.EPOLL_CTL_ADD, r); err != nil {
		return fmt.Errorf("loop: add fd %d: %w", fd, err)
	}
	// An entry left under this number belonged to a descriptor that was
	// closed without Remove; the kernel has forgotten it already.
	l.regs[int32(fd)] = r
	return nil
}

// Modify changes the events fd is registered for.
func (l *Loop) Modify(fd int, ev Events) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	r := l.regs[int32(fd)]
	if r == nil || r.waiter != nil || fd == l.wake {
		return fmt.Errorf("loop: modify fd %d: %w", fd, syscall.ENOENT)
	}
	r.ev = ev
	if err := l.ctl(unix.EPOLL_CTL_MOD, r); err != nil {
		return fmt.Errorf("loop: modify fd %d: %w", fd, err)
	}
	return nil
}

// Remove unregisters fd. Its callback is not called again, even for events
// already collected in the current round. Removing a descriptor that was
// already closed is allowed.
func (l *Loop) Remove(fd int) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	r := l.regs[int32(fd)]
	if r == nil || r.waiter != nil || fd == l.wake {
		return fmt.Errorf("loop: remove fd %d: %w", fd, syscall.ENOENT)
	}
	delete(l.regs, int32(fd))
	if l.released {
		return nil
	}
	err := unix.EpollCtl(l.epfd, unix.EPOLL_CTL_DEL, fd, nil)
	if err != nil && err != unix.EBADF && err != unix.ENOENT {
		return fmt.Errorf("loop: remove fd %d: %w", fd, err)
	}
	return nil
}

// ctl applies r to epoll; the caller holds l.mu or owns l exclusively.
func (l *Loop) ctl(op int, r *registration) error {
	ev := unix.EpollEvent{Events: uint32(r.ev), Fd: r.fd, Pad: int32(r.gen)}
	return unix.EpollCtl(l.epfd, op, int(r.fd), &ev)
}

// Post arranges for f to run on the leader's goroutine (Run's, when Run is
// active), after the callbacks of the current round, in the order of Post
// calls. It reports false when the loop is closed and f will never run.
func (l *Loop) Post(f func()) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return false
	}
	l.posted = append(l.posted, f)
	l.interrupt()
	return true
}

// interrupt makes the leader return from epoll_wait. The caller holds l.mu,
// which keeps the eventfd open.
func (l *Loop) interrupt() {
	if l.released || l.wakePending.Swap(true) {
		return
	}
	var one = [8]byte{1}
	unix.Write(l.wake, one[:])
}

func (l *Loop) interruptLocked() {
	l.mu.Lock()
	l.interrupt()
	l.mu.Unlock()
}

// drainWake runs on the leader when the eventfd is readable. The order
// matters: drain, then allow new writes, then take the posted functions, so
// that a Post at any point is either taken now or wakes the loop again.
func (l *Loop) drainWake(Events) {
	var buf [8]byte
	unix.Read(l.wake, buf[:])
	l.wakePending.Store(false)
	l.mu.Lock()
	todo := l.posted
	l.posted = nil
	l.mu.Unlock()
	for _, f := range todo {
		f()
	}
}

// lead makes the calling goroutine the leader, if there is none, and
// returns true; otherwise it returns false and a channel that is closed
// when the leader steps down.
func (l *Loop) lead() (bool, <-chan struct{}, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return false, nil, ErrClosed
	}
	if l.leading {
		if l.handover == nil {
			l.handover = make(chan struct{})
		}
		return false, l.handover, nil
	}
	l.leading = true
	return true, nil, nil
}

// stepDown ends the caller's leadership and lets the followers compete for
// it; the last leader out of a closed loop releases its descriptors.
func (l *Loop) stepDown() {
	l.mu.Lock()
	l.leading = false
	if l.handover != nil {
		close(l.handover)
		l.handover = nil
	}
	release := l.closed && !l.released
	l.mu.Unlock()
	if release {
		l.release()
	}
}

// poll waits for events once and dispatches them; the caller leads.
func (l *Loop) poll() error {
	l.polls.Add(1)
	n, err := unix.EpollWait(l.epfd, l.events[:], -1)
	if err == unix.EINTR {
		return nil
	}
	if err != nil {
		return os.NewSyscallError("epoll_wait", err)
	}
	for _, e := range l.events[:n] {
		l.mu.Lock()
		r := l.regs[e.Fd]
		l.mu.Unlock()
		if r == nil || r.gen != uint32(e.Pad) {
			continue // removed, or replaced, after epoll reported it
		}
		r.cb(Events(e.Events))
	}
	return nil
}

// Run runs the loop on the calling goroutine until ctx is done, Stop is
// called, or the loop is closed. It returns nil after Stop or Close, and
// ctx.Err() when ctx ends it. Only one Run may be active at a time.
func (l *Loop) Run(ctx context.Context) error {
	l.mu.Lock()
	switch {
	case l.closed:
		l.mu.Unlock()
		return ErrClosed
	case l.running:
		l.mu.Unlock()
		return errors.New("loop: Run called while the loop is already running")
	}
	l.running = true
	l.stop = false
	l.mu.Unlock()
	defer func() {
		l.mu.Lock()
		l.running = false
		l.mu.Unlock()
	}()
	stopOnDone := context.AfterFunc(ctx, l.Stop)
	defer stopOnDone()

	// Take the lead from a waiter that has it (it steps down once its own
	// descriptor is ready), and keep it until the end.
	for {
		ok, handover, err := l.lead()
		if err != nil {
			return nil // closed
		}
		if ok {
			break
		}
		select {
		case <-handover:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	defer l.stepDown()
	for {
		l.mu.Lock()
		stop, closed := l.stop, l.closed
		l.mu.Unlock()
		switch {
		case closed:
			return nil
		case stop:
			if err := ctx.Err(); err != nil {
				return err
			}
			return nil
		}
		if err := l.poll(); err != nil {
			return err
		}
	}
}

// Stop makes Run return after the callback that is running, if any. It is
// safe to call from a callback and from any goroutine; a Loop can be Run
// again after Stop.
func (l *Loop) Stop() {
	l.mu.Lock()
	l.stop = true
	l.interrupt()
	l.mu.Unlock()
}

// Close stops the loop and releases its descriptors. Registered
// descriptors are not closed; FDs from Watch report ErrClosed. Posted
// functions that have not run are dropped. Close is safe to call from a
// callback; calling it twice is harmless.
func (l *Loop) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	leading := l.leading
	regs := l.regs
	l.regs = map[int32]*registration{}
	l.posted = nil
	if leading {
		l.interrupt() // the leader releases the descriptors on its way out
	}
	l.mu.Unlock()
	for _, r := range regs {
		if r.waiter != nil {
			r.waiter.Close()
		}
	}
	if !leading {
		l.release()
	}
	return nil
}

func (l *Loop) release() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.released {
		return
	}
	l.released = true
	unix.Close(l.wake)
	unix.Close(l.epfd)
}
