package loop

import (
	"context"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// An FD lets goroutines wait, with a context, until a non-blocking
// descriptor is ready: a socket, a pipe, an eventfd, a message queue. It is
// the blocking half of a non-blocking call, for code written in the
// goroutine style (where Add serves callbacks), and what the ipcchan
// library waits with after a system call returns EAGAIN. A program's own
// descriptors can wait on the same Loop as the library's (Default), so
// that every wait of the process shares one reactor and its one polling
// thread.
//
//	for {
//		tok := fd.Token()
//		err := nonBlockingCall()
//		if err != unix.EAGAIN {
//			return err
//		}
//		if err := fd.Wait(ctx, loop.Readable, tok); err != nil {
//			return err
//		}
//	}
//
// The Token, taken before the call, makes the scheme race-free: Wait
// returns at once if the descriptor became ready after the Token was taken,
// so readiness that arrives between the failed call and the Wait is not
// missed.
//
// The descriptor is registered with epoll edge-triggered, for the events
// that have been waited for, from the first Wait until Close. An idle FD
// costs no goroutine and no thread. Its methods are safe for concurrent
// use: any number of goroutines may wait on one FD.
type FD struct {
	l  *Loop
	fd int

	rseq, wseq atomic.Uint64 // readable / writable events seen

	mu         sync.Mutex
	registered bool
	gen        uint32
	interest   Events
	rd, wr     chan struct{} // for followers: closed at the next event
	closed     chan struct{} // closed by Close
	isClosed   bool
}

// A Token records how many readiness events an FD had seen, at the moment
// FD.Token returned it. Take one just before a non-blocking attempt and
// pass it to Wait after the attempt fails: Wait then returns at once if an
// event arrived in between, instead of waiting for one that already came.
// A Token is a value, to use with the FD that returned it.
type Token struct{ r, w uint64 }

// Watch returns an FD for waiting on fd, which must be non-blocking
// (O_NONBLOCK). The caller keeps ownership of fd and must Close the FD
// before closing fd. A descriptor is registered with a Loop once: watch
// it, or Add it, not both, and watch it once.
func (l *Loop) Watch(fd int) *FD {
	return &FD{l: l, fd: fd, closed: make(chan struct{})}
}

// Token returns the FD's readiness count, to take before an attempt that
// may be followed by Wait.
func (w *FD) Token() Token { return Token{w.rseq.Load(), w.wseq.Load()} }

// moved reports whether an event of ev arrived since tok.
func (w *FD) moved(ev Events, tok Token) bool {
	return (ev&Readable != 0 && w.rseq.Load() != tok.r) || (ev&Writable != 0 && w.wseq.Load() != tok.w)
}

// Wait blocks until the descriptor has become ready for one of the events
// in ev (Readable, Writable or both) since tok was taken, ctx is done, or
// the FD is closed. It returns nil when ready, ctx.Err(), or ErrClosed.
// Readiness is a hint: the caller retries its non-blocking call, which may
// find that another goroutine or process was faster, and then waits again.
//
// The waiting goroutine polls the loop itself when no other goroutine does
// (see the package documentation).
func (w *FD) Wait(ctx context.Context, ev Events, tok Token) error {
	if err := w.register(ev); err != nil {
		return err
	}
	l := w.l
	for {
		if w.moved(ev, tok) {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		lead, handover, err := l.lead()
		if err != nil {
			return err
		}
		if lead {
			return w.leadUntil(ctx, ev, tok)
		}
		rd, wr, err := w.followerChans(ev, tok)
		if err != nil {
			return err
		}
		select {
		case <-rd:
		case <-wr:
		case <-w.closed:
			return ErrClosed
		case <-ctx.Done():
			return ctx.Err()
		case <-handover: // the leader left: compete to lead
		}
	}
}

// leadUntil polls the loop, dispatching every event, until an event of ev
// arrives for this FD, ctx is done, or the FD or loop is closed.
func (w *FD) leadUntil(ctx context.Context, ev Events, tok Token) error {
	l := w.l
	defer l.stepDown()
	if ctx.Done() != nil {
		stop := context.AfterFunc(ctx, l.interruptLocked)
		defer stop()
	}
	for {
		if w.moved(ev, tok) {
			return nil
		}
		select {
		case <-w.closed:
			return ErrClosed
		default:
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := l.poll(); err != nil {
			return err
		}
	}
}

// register makes sure epoll reports the events of ev for the descriptor.
// Adding interest re-checks readiness, so nothing is missed meanwhile.
func (w *FD) register(ev Events) error {
	ev &= Readable | Writable
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.isClosed {
		return ErrClosed
	}
	if w.interest&ev == ev {
		return nil
	}
	l := w.l
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return ErrClosed
	}
	op := unix.EPOLL_CTL_MOD
	if !w.registered {
		l.gen++
		w.gen = l.gen
		op = unix.EPOLL_CTL_ADD
	}
	r := &registration{fd: int32(w.fd), gen: w.gen, ev: w.interest | ev | unix.EPOLLET, cb: w.ready, waiter: w}
	if err := l.ctl(op, r); err != nil {
		return err
	}
	l.regs[int32(w.fd)] = r
	w.registered = true
	w.interest |= ev
	return nil
}

// followerChans returns channels closed at the next event of ev, or
// already closed ones if an event arrived since tok.
func (w *FD) followerChans(ev Events, tok Token) (rd, wr <-chan struct{}, err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.isClosed {
		return nil, nil, ErrClosed
	}
	if w.moved(ev, tok) {
		return closedChan, nil, nil
	}
	if ev&Readable != 0 {
		if w.rd == nil {
			w.rd = make(chan struct{})
		}
		rd = w.rd
	}
	if ev&Writable != 0 {
		if w.wr == nil {
			w.wr = make(chan struct{})
		}
		wr = w.wr
	}
	return rd, wr, nil
}

var closedChan = func() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}()

// ready runs on the leader's goroutine when epoll reports the descriptor.
func (w *FD) ready(ev Events) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if ev&(Readable|Error|HangUp) != 0 {
		w.rseq.Add(1)
		if w.rd != nil {
			close(w.rd)
			w.rd = nil
		}
	}
	if ev&(Writable|Error|HangUp) != 0 {
		w.wseq.Add(1)
		if w.wr != nil {
			close(w.wr)
			w.wr = nil
		}
	}
}

// Close wakes every waiter with ErrClosed and unregisters the descriptor
// (which stays open). Calling it twice is harmless.
func (w *FD) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.isClosed {
		return nil
	}
	w.isClosed = true
	close(w.closed)
	if w.registered {
		l := w.l
		l.mu.Lock()
		if r := l.regs[int32(w.fd)]; r != nil && r.waiter == w {
			delete(l.regs, int32(w.fd))
			if !l.released {
				unix.EpollCtl(l.epfd, unix.EPOLL_CTL_DEL, w.fd, nil)
			}
		}
		l.interrupt() // a waiter of this FD may be the leader
		l.mu.Unlock()
	}
	return nil
}
