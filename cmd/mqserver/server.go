package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"os/signal"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/ipcchan/ipcchan/ipcchan"
	"github.com/ipcchan/ipcchan/loop"
)

// notifySignal is the signal mq_notify sends in -notify signal mode:
// SIGRTMIN+4, a real-time signal, which the kernel queues rather than
// merges.
const notifySignal = syscall.Signal(38)

// drainBudget bounds the messages read from one source in one turn of the
// loop, so that a busy source does not starve the others.
const drainBudget = 64

type server struct {
	cfg     config
	log     *log.Logger
	out     *printer
	l       *loop.Loop
	lfd     int
	fifoFd  int
	q       *ipcchan.Queue[[]byte]
	clients map[int]*client
	nextID  int
	undo    []func() // cleanup of what was set up, run in reverse
	failed  error    // why the loop stopped, if not a signal
	stopSig os.Signal
}

type client struct {
	id    int
	fd    int
	lines lineBuffer
	cut   bool // a long line was split: logged once
}

// newServer sets up the socket, the FIFO and the queue. On failure it
// removes whatever it had set up.
func newServer(cfg config, stdout io.Writer, logger *log.Logger) (_ *server, err error) {
	s := &server{cfg: cfg, log: logger, out: newPrinter(stdout, cfg.json), clients: map[int]*client{}, lfd: -1, fifoFd: -1}
	defer func() {
		if err != nil {
			s.cleanup()
		}
	}()
	// A write to a closed stdout fails instead of killing the process, so
	// that the queue, socket and FIFO are still removed.
	signal.Ignore(syscall.SIGPIPE)
	if s.l, err = loop.New(); err != nil {
		return nil, err
	}
	s.undo = append(s.undo, func() { s.l.Close() })
	if err := s.listen(); err != nil {
		return nil, err
	}
	if err := s.openFIFO(); err != nil {
		return nil, err
	}
	if err := s.openQueue(); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *server) cleanup() {
	for i := len(s.undo) - 1; i >= 0; i-- {
		s.undo[i]()
	}
	s.undo = nil
}

// listen binds the Unix socket. A socket file left by a server that is not
// running any more is replaced; one a live server listens on is an error.
func (s *server) listen() error {
	path := s.cfg.socket
	if len(path) >= len(unix.RawSockaddrUnix{}.Path) {
		return fmt.Errorf("-socket %s: the path is %d bytes; a Unix socket path has at most %d", path, len(path), len(unix.RawSockaddrUnix{}.Path)-1)
	}
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return os.NewSyscallError("socket", err)
	}
	addr := &unix.SockaddrUnix{Name: path}
	err = unix.Bind(fd, addr)
	if err == unix.EADDRINUSE {
		if st, serr := os.Lstat(path); serr == nil && st.Mode()&os.ModeSocket == 0 {
			unix.Close(fd)
			return fmt.Errorf("-socket %s exists and is not a socket; remove it or choose another path", path)
		}
		if liveSocket(path) {
			unix.Close(fd)
			return fmt.Errorf("-socket %s is in use: a server is listening on it; stop it, or give this one another -socket, -fifo and -queue", path)
		}
		s.log.Printf("removing stale socket %s left by an earlier run", path)
		os.Remove(path)
		err = unix.Bind(fd, addr)
	}
	if err != nil {
		unix.Close(fd)
		return fmt.Errorf("-socket %s: bind: %w", path, err)
	}
	s.undo = append(s.undo, func() { unix.Close(fd); os.Remove(path) })
	if err := os.Chmod(path, s.cfg.perm); err != nil {
		return fmt.Errorf("-socket %s: %w", path, err)
	}
	if err := unix.Listen(fd, 128); err != nil {
		return fmt.Errorf("-socket %s: listen: %w", path, err)
	}
	s.lfd = fd
	return s.l.Add(fd, loop.Readable, s.accept)
}

func liveSocket(path string) bool {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return false
	}
	defer unix.Close(fd)
	return unix.Connect(fd, &unix.SockaddrUnix{Name: path}) == nil
}

// openFIFO creates the FIFO (or reuses one left by an earlier run) and
// opens it for reading and writing: holding a write end keeps the FIFO
// from reporting end-of-file when the last writer closes, so the server
// keeps serving.
func (s *server) openFIFO() error {
	path := s.cfg.fifo
	err := unix.Mkfifo(path, uint32(s.cfg.perm))
	if err == unix.EEXIST {
		st, serr := os.Lstat(path)
		if serr != nil || st.Mode()&os.ModeNamedPipe == 0 {
			return fmt.Errorf("-fifo %s exists and is not a FIFO; remove it or choose another path", path)
		}
		s.log.Printf("reusing FIFO %s left by an earlier run", path)
		err = nil
	}
	if err != nil {
		return fmt.Errorf("-fifo %s: mkfifo: %w", path, err)
	}
	s.undo = append(s.undo, func() { os.Remove(path) })
	if err := os.Chmod(path, s.cfg.perm); err != nil {
		return fmt.Errorf("-fifo %s: %w", path, err)
	}
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("-fifo %s: open: %w", path, err)
	}
	s.undo = append(s.undo, func() { unix.Close(fd) })
	s.fifoFd = fd
	fifo := &client{fd: fd}
	return s.l.Add(fd, loop.Readable, func(loop.Events) { s.readStream(fifo, source{kind: "fifo"}) })
}

// openQueue creates the queue. A queue left by an earlier run that did not
// shut down (the socket check found no live server) is served if it has
// the asked shape; otherwise its waiting messages are printed, and it is
// replaced.
func (s *server) openQueue() error {
	name := s.cfg.queue
	opts := []ipcchan.Option{ipcchan.Create(), ipcchan.Exclusive(), ipcchan.Capacity(s.cfg.maxmsg),
		ipcchan.MsgSize(s.cfg.msgsize), ipcchan.Perm(s.cfg.perm), ipcchan.NoEndOfStream()}
	q, err := ipcchan.OpenQueue[[]byte](name, opts...)
	if errors.Is(err, ipcchan.ErrExist) {
		q, err = s.staleQueue(opts)
	}
	if err != nil {
		return err
	}
	s.q = q
	s.undo = append(s.undo, func() {
		q.Close()
		ipcchan.UnlinkQueue(name)
	})
	if s.cfg.notify == "signal" {
		stop := s.l.Signal(func(os.Signal) { s.notified() }, notifySignal)
		s.undo = append(s.undo, stop)
		if err := q.Notify(notifySignal); err != nil {
			return err
		}
		s.undo = append(s.undo, func() { q.Notify(0) })
		s.drainQueue(false) // messages already there bring no signal
		return nil
	}
	return s.l.Add(q.Fd(), loop.Readable, func(loop.Events) { s.drainQueue(true) })
}

func (s *server) staleQueue(opts []ipcchan.Option) (*ipcchan.Queue[[]byte], error) {
	name := s.cfg.queue
	old, err := ipcchan.OpenQueue[[]byte](name, ipcchan.NoEndOfStream())
	if err != nil {
		return nil, err
	}
	a, err := old.Attr()
	if err != nil {
		old.Close()
		return nil, err
	}
	if a.Capacity == s.cfg.maxmsg && a.MsgSize == s.cfg.msgsize {
		s.log.Printf("queue %s was left by an earlier run; serving it (%d messages waiting)", name, a.Len)
		return old, nil
	}
	s.log.Printf("queue %s was left by an earlier run with -maxmsg %d -msgsize %d; printing its %d waiting messages, then recreating it",
		name, a.Capacity, a.MsgSize, a.Len)
	for {
		b, prio, err := old.TryReceivePriority()
		if err != nil {
			break
		}
		s.out.message(source{kind: "mq", prio: prio}, b)
	}
	s.out.flush()
	old.Close()
	if err := ipcchan.UnlinkQueue(name); err != nil && !errors.Is(err, ipcchan.ErrNotExist) {
		return nil, err
	}
	return ipcchan.OpenQueue[[]byte](name, opts...)
}

// serve runs the loop until SIGINT or SIGTERM, then shuts down.
func (s *server) serve() error {
	stop := s.l.Signal(func(sig os.Signal) {
		s.stopSig = sig
		s.l.Stop()
	}, os.Interrupt, syscall.SIGTERM)
	defer stop()
	s.log.Printf("ready: socket %s, fifo %s, queue %s (capacity %d, message size %d, notify %s)",
		s.cfg.socket, s.cfg.fifo, s.cfg.queue, s.cfg.maxmsg, s.cfg.msgsize, s.cfg.notify)
	runErr := s.l.Run(context.Background())
	if s.failed == nil && runErr == nil {
		s.drainQueue(false) // what arrived with the signal is printed too
	}
	for _, c := range s.clients {
		s.closeClient(c)
	}
	s.cleanup()
	switch {
	case runErr != nil:
		return runErr
	case s.failed != nil:
		return fmt.Errorf("stopped: %w; removed queue %s, socket %s and FIFO %s", s.failed, s.cfg.queue, s.cfg.socket, s.cfg.fifo)
	}
	s.log.Printf("%s: shut down; removed queue %s, socket %s and FIFO %s", signalName(s.stopSig), s.cfg.queue, s.cfg.socket, s.cfg.fifo)
	return nil
}

// fail stops the loop because of an error the server cannot go on after.
func (s *server) fail(err error) {
	if s.failed == nil {
		s.failed = err
	}
	s.l.Stop()
}

func (s *server) flush() {
	if err := s.out.flush(); err != nil {
		s.fail(fmt.Errorf("writing to stdout: %w", err))
	}
}

func (s *server) accept(loop.Events) {
	for range drainBudget {
		fd, _, err := unix.Accept4(s.lfd, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
		if err == unix.EAGAIN || err == unix.EINTR || err == unix.ECONNABORTED {
			return
		}
		if err != nil {
			// EMFILE and the like: say so, and leave the client waiting in
			// the backlog rather than spin on it.
			s.log.Printf("accept: %v", err)
			return
		}
		s.nextID++
		c := &client{id: s.nextID, fd: fd}
		if err := s.l.Add(fd, loop.Readable, func(loop.Events) { s.readStream(c, source{kind: "unix", client: c.id}) }); err != nil {
			s.log.Printf("client #%d: %v", c.id, err)
			unix.Close(fd)
			continue
		}
		s.clients[fd] = c
		s.log.Printf("client #%d connected", c.id)
	}
}

// readStream reads what a socket client or the FIFO has sent and prints
// each complete line.
func (s *server) readStream(c *client, src source) {
	var buf [32 << 10]byte
	emit := func(line []byte, cut bool) {
		if cut && !c.cut {
			c.cut = true
			s.log.Printf("%s sent a line longer than %d bytes: printing it in pieces", src.tag(), maxLine)
		}
		if err := s.out.message(src, line); err != nil {
			s.fail(fmt.Errorf("writing to stdout: %w", err))
		}
	}
	defer s.flush()
	for range drainBudget {
		n, err := unix.Read(c.fd, buf[:])
		switch {
		case n > 0:
			c.lines.feed(buf[:n], emit)
			continue
		case err == unix.EAGAIN || err == unix.EINTR:
			return
		case err != nil && src.kind == "unix":
			s.log.Printf("client #%d: %v", c.id, err)
		}
		if src.kind == "unix" { // end of this client's stream
			c.lines.flush(emit)
			s.flush() // its lines first, then the log of its leaving
			s.closeClient(c)
		}
		return
	}
}

func (s *server) closeClient(c *client) {
	s.l.Remove(c.fd)
	unix.Close(c.fd)
	delete(s.clients, c.fd)
	s.log.Printf("client #%d disconnected", c.id)
}

// notified runs when mq_notify's signal arrives: re-arm first, then read
// until the queue is empty, so that a message that arrives in between
// brings a new signal.
func (s *server) notified() {
	err := s.q.Notify(notifySignal)
	switch {
	case errors.Is(err, ipcchan.ErrExist):
		// The signal did not come from our registration (someone sent it),
		// or another process registered meanwhile; either way, read on.
		s.log.Printf("mq_notify not re-armed: %v", err)
	case err != nil:
		s.fail(err)
		return
	}
	s.drainQueue(false)
}

// drainQueue prints the queue's messages. In epoll mode the level-triggered
// watch calls it again while messages remain; in signal mode it must empty
// the queue, a turn of the loop at a time.
func (s *server) drainQueue(levelTriggered bool) {
	defer s.flush()
	for range drainBudget {
		b, prio, err := s.q.TryReceivePriority()
		if errors.Is(err, ipcchan.ErrEmpty) {
			return
		}
		if err != nil {
			s.fail(err)
			return
		}
		if err := s.out.message(source{kind: "mq", prio: prio}, b); err != nil {
			s.fail(fmt.Errorf("writing to stdout: %w", err))
			return
		}
	}
	if !levelTriggered {
		s.l.Post(func() { s.drainQueue(false) })
	}
}

func signalName(sig os.Signal) string {
	if n, ok := sig.(syscall.Signal); ok && unix.SignalName(n) != "" {
		return unix.SignalName(n)
	}
	return sig.String()
}
