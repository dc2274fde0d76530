package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ipcchan/ipcchan/internal/kinds"
	"github.com/ipcchan/ipcchan/ipcchan"
	"github.com/ipcchan/ipcchan/natsq"
)

var cmdBridge = &command{
	name:  "bridge",
	usage: "bridge QUEUE|TOPIC NATS_URL [--kind queue|topic] [--from-nats] [--stream NAME] [-n N]",
	help: "forward a local queue to a NATS JetStream queue (natsq), or back with --from-nats; with --kind topic, " +
		"subscribe to a local topic and publish what it gets on a NATS topic (natsq.OpenTopic), or back",
	example: `  host A $ ipcchan bridge /jobs nats://hub:4222               # C and Go senders on A ...
  host B $ ipcchan bridge /jobs nats://hub:4222 --from-nats   # ... reach receivers of /jobs on B
  $ ipcchan bridge /jobs nats://127.0.0.1:4222 -n 100         # forward 100 messages, then exit
  host A $ ipcchan bridge --kind topic /ticks nats://hub:4222               # publishers on A ...
  host B $ ipcchan bridge --kind topic /ticks nats://hub:4222 --from-nats   # ... reach the subscribers of /ticks on B`,
	run: runBridge,
}

// endpoint is a queue the bridge reads from or writes to: the local
// *ipcchan.Queue[[]byte] or a *natsq.Queue[[]byte].
type endpoint interface {
	ReceivePriority(ctx context.Context) ([]byte, uint, error)
	TryReceivePriority() ([]byte, uint, error)
	SendPriority(ctx context.Context, v []byte, prio uint) error
	CloseSend(ctx context.Context) error
	Close() error
}

// A topicEnd is a topic as an endpoint of the bridge: as the source, it
// receives from its subscription (sub); as the destination, it publishes
// (pub). A topic has no priorities (0), and takes no message back: its
// other subscribers have it already (putBackOne).
type topicEnd struct {
	pub       ipcchan.Sender[[]byte]
	sub       ipcchan.Receiver[[]byte] // the source's subscription
	missed    func() uint64            // its Missed
	skipEmpty bool                     // a message of zero bytes is not forwarded (to NATS, where it ends the stream)
	skipped   int
}

func (e *topicEnd) ReceivePriority(ctx context.Context) ([]byte, uint, error) {
	return e.receive(func() ([]byte, error) { return e.sub.Receive(ctx) })
}

func (e *topicEnd) TryReceivePriority() ([]byte, uint, error) { return e.receive(e.sub.TryReceive) }

func (e *topicEnd) receive(recv func() ([]byte, error)) ([]byte, uint, error) {
	for {
		msg, err := recv()
		if err != nil || len(msg) > 0 || !e.skipEmpty {
			return msg, 0, err
		}
		e.skipped++
	}
}

func (e *topicEnd) SendPriority(ctx context.Context, v []byte, _ uint) error {
	return e.pub.Send(ctx, v)
}

func (e *topicEnd) CloseSend(ctx context.Context) error { return e.pub.CloseSend(ctx) }

func (e *topicEnd) Close() error {
	if e.sub != nil {
		e.sub.Close()
	}
	return e.pub.Close()
}

// A flusher is a destination whose sends are pipelined (natsq.Pipelined):
// Flush waits until what was sent is stored.
type flusher interface {
	Flush(ctx context.Context) error
}

// bridgePipeline is how many messages the bridge has on their way to NATS
// at once, at most; it flushes them when its source is empty, and every
// bridgePipeline messages.
const bridgePipeline = 64

func runBridge(c *cli, cmd *command, args []string) int {
	fs := c.flags(cmd)
	fromNATS := fs.Bool("from-nats", false, "forward from the NATS queue or topic to the local one (default: local to NATS)")
	stream := fs.String("stream", "", "name of the NATS queue or topic, /NAME (default: the local one's name)")
	n := fs.Int("n", 0, "stop after forwarding this many messages (0: until the end of the stream or Ctrl-C)")
	kind := fs.String("kind", kinds.Queue, "queue, or topic: subscribe on one side, publish on the other (a NATS topic that does not exist is made with the local one's Capacity, History and Overflow)")
	rest, code, ok := c.parse(fs, args)
	if !ok {
		return code
	}
	if len(rest) != 2 {
		return c.usageErr(cmd, "want a QUEUE and a NATS URL (a TOPIC, with --kind topic)")
	}
	if *kind != kinds.Queue && *kind != kinds.Topic {
		return c.usageErr(cmd, "--kind %s: want queue or topic", *kind)
	}
	name, url := rest[0], rest[1]
	if !strings.Contains(url, "://") {
		return c.usageErr(cmd, "%q is not a URL; want nats://HOST:PORT", url)
	}
	if *stream == "" {
		*stream = name
	}
	if *n < 0 {
		return c.usageErr(cmd, "-n %d: want 0 or more", *n)
	}
	// The NATS client reports on its own goroutine, beside the bridge's.
	c = &cli{stdin: c.stdin, stdout: c.stdout, stderr: &syncWriter{w: c.stderr}}
	// Signals first: a Ctrl-C while connecting stops the bridge cleanly.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	var local endpoint
	var ltopic *ipcchan.Topic[[]byte]
	if *kind == kinds.Topic {
		ltopic, err = ipcchan.OpenTopic[[]byte](name)
		local = &topicEnd{pub: ltopic}
	} else {
		local, err = openReceiving(name) // large messages both ways
	}
	if err != nil {
		return c.fail(err)
	}
	defer local.Close()
	watch := &connWatch{w: c.stderr}
	nc, err := nats.Connect(url, nats.Name("ipcchan bridge "+name), nats.MaxReconnects(-1), nats.Timeout(5*time.Second),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) { watch.lost(err, time.Now()) }),
		nats.ReconnectErrHandler(func(_ *nats.Conn, err error) { watch.retryFailed(err, time.Now()) }),
		nats.ReconnectHandler(func(nc *nats.Conn) { watch.back(nc.ConnectedUrlRedacted(), time.Now()) }),
		nats.ClosedHandler(func(nc *nats.Conn) { watch.closed(nc.LastError()) }))
	if err != nil {
		return c.fail(fmt.Errorf("bridge: cannot connect to %s: %w", url, err))
	}
	watch.connected(nc.ConnectedUrlRedacted())
	defer func() {
		watch.close() // the bridge's own Close: nothing to report
		nc.Close()
	}()
	js, err := jetstream.New(nc)
	if err != nil {
		return c.fail(err)
	}
	var b *bridge
	if ltopic != nil {
		b, err = topicBridge(ctx, js, ltopic, *stream, *fromNATS)
	} else {
		b, err = queueBridge(ctx, js, local, *stream, *fromNATS)
	}
	if err != nil && ctx.Err() != nil { // Ctrl-C while it opened the stream: a clean stop
		fmt.Fprintln(c.stderr, "bridge: interrupted while starting; 0 messages forwarded")
		return exitOK
	}
	if err != nil {
		return c.fail(err)
	}
	defer b.remote.Close()
	b.c, b.limit = c, *n
	if *fromNATS {
		b.fromConn = nc
		b.route = fmt.Sprintf("NATS %s (stream %s) -> %s %s", url, b.stream, *kind, name)
	} else {
		b.route = fmt.Sprintf("%s %s -> NATS %s (stream %s)", *kind, name, url, b.stream)
	}
	return b.run(ctx)
}

// queueBridge opens the NATS queue name, made if needed, and returns the
// bridge from local to it, or back.
func queueBridge(ctx context.Context, js jetstream.JetStream, local endpoint, name string, fromNATS bool) (*bridge, error) {
	remote, err := natsq.Open[[]byte](ctx, js, name, ipcchan.Create(), natsq.Pipelined(bridgePipeline))
	if err != nil {
		return nil, err
	}
	b := &bridge{from: local, to: remote, remote: remote, stream: remote.Stream()}
	if fromNATS {
		b.from, b.to = remote, local
	}
	return b, nil
}

// topicBridge opens the NATS topic name (made with the local topic's
// Capacity, History and Overflow if it does not exist), subscribes to
// the source, and returns the bridge.
func topicBridge(ctx context.Context, js jetstream.JetStream, local *ipcchan.Topic[[]byte], name string, fromNATS bool) (*bridge, error) {
	remote, err := natsq.OpenTopic[[]byte](ctx, js, name)
	if errors.Is(err, ipcchan.ErrNotExist) {
		a, aerr := local.Attr()
		if aerr != nil {
			return nil, aerr
		}
		remote, err = natsq.OpenTopic[[]byte](ctx, js, name, ipcchan.Create(), ipcchan.Capacity(a.Capacity), ipcchan.History(a.History), ipcchan.Overflow(a.Overflow))
	}
	if err != nil {
		return nil, err
	}
	from, to := &topicEnd{pub: local}, &topicEnd{pub: remote}
	if fromNATS {
		from, to = to, from
	}
	var sub interface {
		ipcchan.Receiver[[]byte]
		Missed() uint64
	}
	if fromNATS {
		sub, err = remote.Subscribe()
	} else {
		sub, err = local.Subscribe()
		from.skipEmpty = true // on NATS, a message of zero bytes ends the stream
	}
	if err != nil {
		remote.Close()
		return nil, err
	}
	from.sub, from.missed = sub, sub.Missed
	return &bridge{from: from, to: to, remote: remote, stream: remote.Stream()}, nil
}

// A bridge forwards messages, byte for byte and with their priority, from
// one endpoint to the other, and a message it cannot deliver goes back to
// the source. To a local queue, a message is taken from NATS (a window at a
// time) only when the previous one is in the queue; to NATS, up to
// bridgePipeline messages are on their way at once, flushed when the local
// queue is empty: what NATS did not store goes back to the local queue.
// Nothing is lost but to SIGKILL: then the message in hand, and, towards
// NATS, those not yet flushed.
type bridge struct {
	c        *cli
	from, to endpoint
	remote   interface{ Close() error } // the NATS queue or topic
	stream   string                     // its stream
	fromConn *nats.Conn                 // the connection of the source, when it is NATS
	route    string
	limit    int
	count    int
	unsent   int  // sent to a pipelined destination since its last Flush
	stalled  bool // receiving failed, and no message came since
}

// progressEvery is how often a running bridge reports its count.
var progressEvery = 10 * time.Second

func (b *bridge) run(ctx context.Context) int {
	fmt.Fprintf(b.c.stderr, "bridge: %s; Ctrl-C to stop\n", b.route)
	tick := time.NewTicker(progressEvery)
	defer tick.Stop()
	reported := 0
	for b.limit == 0 || b.count < b.limit {
		select {
		case <-tick.C:
			if b.count != reported {
				fmt.Fprintf(b.c.stderr, "bridge: %s forwarded\n", plural(b.count, "message", "messages"))
				reported = b.count
			}
		default:
		}
		msg, prio, err := b.receive(ctx)
		switch {
		case err == io.EOF:
			cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			err := b.to.CloseSend(cctx) // after every message in flight
			cancel()
			if code, stop := b.unstored(err); stop {
				return code
			}
			if err != nil {
				return b.c.fail(fmt.Errorf("bridge: the end of the stream could not be forwarded: %w", err))
			}
			fmt.Fprintf(b.c.stderr, "bridge: %s forwarded, and the end of the stream\n", plural(b.count, "message", "messages"))
			b.lost()
			return exitOK
		case ctx.Err() != nil:
			return b.done()
		case err != nil:
			return b.c.fail(err)
		}
		if err := b.deliver(ctx, msg, prio); err != nil {
			return b.putBack(msg, prio, err)
		}
		b.count++
		if b.unsent++; b.unsent >= bridgePipeline {
			if code, stop := b.flush(ctx); stop {
				return code
			}
		}
	}
	return b.done()
}

// receive takes the next message from the source; before it waits for
// one, it flushes what is on its way to the destination.
func (b *bridge) receive(ctx context.Context) ([]byte, uint, error) {
	if _, ok := b.to.(flusher); ok && b.unsent > 0 {
		msg, prio, err := b.from.TryReceivePriority()
		if !errors.Is(err, ipcchan.ErrEmpty) {
			return msg, prio, err
		}
		if _, stop := b.flush(ctx); stop {
			return nil, 0, errFlush
		}
	}
	return b.receiveRetrying(ctx)
}

// receiveRetrying takes the next message from the source. From NATS, it
// rides out a server that goes away and comes back: after a failure of
// the connection or of JetStream's answers (a server stopping answers
// "shutting down", or not at all, before the connection drops), it asks
// again as soon as the connection is back, if it dropped (the client
// reconnects on its own, for ever), or, on a connection that stays up,
// after a pause that grows from 100 ms to 2 s. Only ctx, or an error that
// asking again does not mend (the stream deleted, a refusal, a message
// that cannot be decoded), ends it. A failed receive has no message in
// hand: natsq acknowledges a message only as it returns it, so what it did
// not return is still in the stream.
func (b *bridge) receiveRetrying(ctx context.Context) ([]byte, uint, error) {
	pause := minRetryPause
	for {
		msg, prio, err := b.from.ReceivePriority(ctx)
		if err == nil || b.fromConn == nil || ctx.Err() != nil || !transientReceive(err) {
			if err == nil && b.stalled {
				fmt.Fprintln(b.c.stderr, "bridge: receiving again")
				b.stalled = false
			}
			return msg, prio, err
		}
		if !b.stalled {
			fmt.Fprintf(b.c.stderr, "bridge: cannot receive (%v); retrying until it works or Ctrl-C\n", err)
			b.stalled = true
		}
		wasDown, err := waitToRetry(ctx, b.fromConn, pause)
		if err != nil {
			return nil, 0, err
		}
		pause = min(2*pause, maxRetryPause)
		if wasDown {
			pause = minRetryPause // the connection is new: JetStream answers it or not
		}
	}
}

// The pauses of receiveRetrying on a connection that stays up.
const (
	minRetryPause = 100 * time.Millisecond
	maxRetryPause = 2 * time.Second
)

// waitToRetry waits before a NATS receive is tried again: for pause, on
// a connection that stays up; else, until the connection is back (wasDown),
// for as long as it takes. It returns early with ctx's error, or when the
// client gives the connection up (it is closed).
func waitToRetry(ctx context.Context, nc *nats.Conn, pause time.Duration) (wasDown bool, err error) {
	// The client reports each change of status, without blocking, under
	// the lock that Status takes: every change after this line wakes the
	// loop, which then reads the status itself.
	changed := nc.StatusChanged(nats.CONNECTED, nats.RECONNECTING, nats.DISCONNECTED, nats.CLOSED)
	defer nc.RemoveStatusListener(changed)
	t := time.NewTimer(pause)
	defer t.Stop()
	for {
		switch nc.Status() {
		case nats.CONNECTED:
			if wasDown {
				return true, nil
			}
		case nats.CLOSED:
			return wasDown, fmt.Errorf("bridge: the connection to NATS is closed for good: %w", cmp.Or(nc.LastError(), nats.ErrConnectionClosed))
		default: // reconnecting
			wasDown = true
		}
		select {
		case <-ctx.Done():
			return wasDown, ctx.Err()
		case <-t.C:
			if !wasDown {
				return false, nil
			}
		case <-changed:
		}
	}
}

// transientReceive tells a failure of a NATS receive that comes from the
// connection or the server going away, and that asking again mends once
// they are back, from one that asking again does not mend.
func transientReceive(err error) bool {
	var me *ipcchan.MessageError
	if errors.As(err, &me) || errors.Is(err, ipcchan.ErrNotExist) || errors.Is(err, ipcchan.ErrClosed) || errors.Is(err, context.Canceled) {
		return false
	}
	var apiErr *jetstream.APIError
	return errors.Is(err, nats.ErrNoResponders) || errors.Is(err, jetstream.ErrJetStreamNotEnabled) ||
		errors.Is(err, nats.ErrTimeout) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, jetstream.ErrNoHeartbeat) ||
		errors.Is(err, nats.ErrConnectionReconnecting) || errors.Is(err, nats.ErrDisconnected) || errors.Is(err, nats.ErrReconnectBufExceeded) ||
		errors.Is(err, jetstream.ErrServerShutdown) || errors.Is(err, jetstream.ErrConsumerLeadershipChanged) ||
		(errors.As(err, &apiErr) && apiErr.Code == 503)
}

var errFlush = errors.New("bridge: messages could not be stored")

// flush waits until the destination has stored what was sent to it; what
// it did not store goes back to the source. stop says to end the bridge,
// with status code.
func (b *bridge) flush(ctx context.Context) (code int, stop bool) {
	f, ok := b.to.(flusher)
	if !ok || b.unsent == 0 {
		return exitOK, false
	}
	b.unsent = 0
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second) // Ctrl-C still lets what is in flight land
	defer cancel()
	return b.unstored(f.Flush(fctx))
}

// unstored puts back into the source the messages err (from a Flush or
// CloseSend) says the destination did not store.
func (b *bridge) unstored(err error) (code int, stop bool) {
	var ue *natsq.UnsentError
	if !errors.As(err, &ue) {
		return exitOK, false
	}
	b.count -= len(ue.Messages)
	for _, m := range ue.Messages[:len(ue.Messages)-1] {
		if !b.putBackOne(m.Data, m.Priority, ue.Err) {
			return exitFailed, true
		}
	}
	last := ue.Messages[len(ue.Messages)-1]
	return b.putBack(last.Data, last.Priority, ue), true
}

func (b *bridge) done() int {
	cctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if f, ok := b.to.(flusher); ok && b.unsent > 0 {
		b.unsent = 0
		if code, stop := b.unstored(f.Flush(cctx)); stop {
			return code
		}
	}
	fmt.Fprintf(b.c.stderr, "bridge: %s forwarded\n", plural(b.count, "message", "messages"))
	b.lost()
	return exitOK
}

// lost says what a topic source did not forward: the messages its
// subscription missed, and the empty ones.
func (b *bridge) lost() {
	e, ok := b.from.(*topicEnd)
	if !ok {
		return
	}
	if m := e.missed(); m > 0 {
		fmt.Fprintf(b.c.stderr, "bridge: the topic dropped %s before the bridge read them (its Missed)\n", plural(int(m), "message", "messages"))
	}
	if e.skipped > 0 {
		fmt.Fprintf(b.c.stderr, "bridge: %s of zero bytes not forwarded: on NATS, such a message ends the stream\n", plural(e.skipped, "message", "messages"))
	}
}

// deliver sends msg, retrying while the destination is unreachable (a
// NATS server restarting): only ctx or a permanent error stops it.
func (b *bridge) deliver(ctx context.Context, msg []byte, prio uint) error {
	pause := 100 * time.Millisecond
	for warned := false; ; {
		err := b.to.SendPriority(ctx, msg, prio)
		if err == nil || ctx.Err() != nil || permanent(err) {
			if warned && err == nil {
				fmt.Fprintln(b.c.stderr, "bridge: delivering again")
			}
			return err
		}
		if !warned {
			fmt.Fprintf(b.c.stderr, "bridge: cannot deliver (%v); retrying until it works or Ctrl-C\n", err)
			warned = true
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(pause):
		}
		pause = min(2*pause, 2*time.Second)
	}
}

func permanent(err error) bool {
	return errors.Is(err, ipcchan.ErrTooLarge) || errors.Is(err, ipcchan.ErrInvalid) || errors.Is(err, ipcchan.ErrClosed)
}

// putBackOne returns a message that could not be delivered to its
// source, and says so if that fails too.
func (b *bridge) putBackOne(msg []byte, prio uint, why error) bool {
	if _, ok := b.from.(*topicEnd); ok {
		return true // a topic takes nothing back: putBack says the message is not forwarded
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := b.from.SendPriority(ctx, msg, prio); err != nil {
		fmt.Fprintf(b.c.stderr, "bridge: a message of %d bytes at priority %d could neither be delivered (%v) nor put back (%v); its bytes: %x\n",
			len(msg), prio, why, err, msg)
		return false
	}
	if f, ok := b.from.(flusher); ok { // NATS as the source: put back for good
		if err := f.Flush(ctx); err != nil {
			fmt.Fprintf(b.c.stderr, "bridge: a message of %d bytes at priority %d could not be put back: %v; its bytes: %x\n", len(msg), prio, err, msg)
			return false
		}
	}
	return true
}

// putBack returns a message that could not be delivered to its source, and
// ends the bridge.
func (b *bridge) putBack(msg []byte, prio uint, why error) int {
	if !b.putBackOne(msg, prio, why) {
		return exitFailed
	}
	if errors.Is(why, context.Canceled) {
		return b.done() // interrupted while delivering: the message is back where it was
	}
	where := "that message is back in its source"
	if _, ok := b.from.(*topicEnd); ok {
		where = fmt.Sprintf("that message, of %d bytes, is not forwarded: a topic takes nothing back; its bytes: %x", len(msg), msg)
	}
	fmt.Fprintf(b.c.stderr, "bridge: stopped after %s: %v (%s)\n", plural(b.count, "message", "messages"), why, where)
	b.lost()
	return status(why)
}

// syncWriter serializes the writes of several goroutines to w: the
// bridge's and the NATS client's callbacks (connWatch).
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// A connWatch tells the bridge's user when its connection to NATS drops
// and when it is back, one line each (the NATS client reconnects on its
// own, for ever). While the server stays away, it reminds that it is
// still away after remindFirst, then at intervals that double up to
// remindMax, so that a bridge left alone does not fill its log.
type connWatch struct {
	mu      sync.Mutex
	w       io.Writer
	url     string        // the server connected to, without credentials
	down    time.Time     // when the connection dropped; zero while connected
	remind  time.Time     // when a reminder is due
	every   time.Duration // the interval of reminders
	closing bool          // the bridge closes the connection itself: nothing to report
}

// The intervals of connWatch's reminders.
const (
	remindFirst = 30 * time.Second
	remindMax   = 10 * time.Minute
)

// connected records the server the connection reached.
func (w *connWatch) connected(url string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.url = url
}

// lost reports that the connection dropped at now, because of err.
func (w *connWatch) lost(err error, now time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closing || !w.down.IsZero() {
		return
	}
	w.down, w.every = now, remindFirst
	w.remind = now.Add(w.every)
	fmt.Fprintf(w.w, "bridge: lost the connection to %s%s; retrying until it is back, or Ctrl-C\n", w.server(), because(err))
}

// retryFailed is an attempt to reconnect that failed at now: it reminds
// that the server is still away when a reminder is due.
func (w *connWatch) retryFailed(err error, now time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closing || w.down.IsZero() || now.Before(w.remind) {
		return
	}
	fmt.Fprintf(w.w, "bridge: still no connection to %s after %v%s; retrying\n", w.server(), roundAway(now.Sub(w.down)), because(err))
	w.every = min(2*w.every, remindMax)
	w.remind = now.Add(w.every)
}

// back reports that the connection is back at now, to the server url.
func (w *connWatch) back(url string, now time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if url != "" {
		w.url = url
	}
	if w.closing {
		return
	}
	after := ""
	if !w.down.IsZero() {
		after = fmt.Sprintf(" after %v", roundAway(now.Sub(w.down)))
	}
	w.down = time.Time{}
	fmt.Fprintf(w.w, "bridge: connected again to %s%s\n", w.server(), after)
}

// closed reports that the NATS client gave the connection up (err: its
// last error), unless the bridge closed it.
func (w *connWatch) closed(err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closing {
		return
	}
	w.closing = true // the last word
	fmt.Fprintf(w.w, "bridge: the connection to %s is closed for good%s\n", w.server(), because(err))
}

// close tells the watch that the bridge closes the connection: from now
// on, nothing is reported.
func (w *connWatch) close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.closing = true
}

func (w *connWatch) server() string {
	if w.url == "" {
		return "the NATS server"
	}
	return w.url
}

// because is " (err)", or nothing without an error.
func because(err error) string {
	if err == nil {
		return ""
	}
	return " (" + err.Error() + ")"
}

// roundAway rounds how long the server has been away, for a person.
func roundAway(d time.Duration) time.Duration {
	if d >= time.Minute {
		return d.Round(time.Second)
	}
	return d.Round(100 * time.Millisecond)
}
