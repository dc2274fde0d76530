package main

import (
	"bufio"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ipcchan/ipcchan/internal/natstest"
	"github.com/ipcchan/ipcchan/internal/testutil"
	"github.com/ipcchan/ipcchan/ipcchan"
	"github.com/ipcchan/ipcchan/natsq"
)

// startBridge starts "ipcchan bridge ARGS..." and returns a function that
// waits for it and returns its stderr and status.
func startBridge(t *testing.T, args ...string) (wait func() (string, int), cmd *exec.Cmd) {
	t.Helper()
	cmd = exec.CommandContext(t.Context(), exe, append([]string{"bridge"}, args...)...)
	var errb strings.Builder
	cmd.Stderr = &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return func() (string, int) {
		err := cmd.Wait()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return errb.String(), code
	}, cmd
}

// TestBridgeCToNATSToGo: a C program sends to a local queue; the bridge
// forwards to NATS; a Go natsq receiver gets the same bytes and
// priorities, then the end of the stream.
func TestBridgeCToNATSToGo(t *testing.T) {
	url := natstest.Server(t)
	js := natstest.Connect(t, url)
	q := testutil.Name(t, ipcchan.UnlinkQueue)
	mqpeer := testutil.BuildC(t, "mqpeer")
	if out, err := exec.Command(mqpeer, "create", q, "10", "128").CombinedOutput(); err != nil {
		t.Fatalf("mqpeer create: %v\n%s", err, out)
	}
	wait, _ := startBridge(t, q, url)
	sent := []string{"0 " + hex.EncodeToString([]byte("hello from C")), "7 00ff0102", "200 " + hex.EncodeToString([]byte("urgent"))}
	args := []string{"send", q}
	for _, s := range sent {
		p, h, _ := strings.Cut(s, " ")
		args = append(args, p+":"+h)
	}
	args = append(args, "0:") // the end of the stream
	if out, err := exec.Command(mqpeer, args...).CombinedOutput(); err != nil {
		t.Fatalf("mqpeer send: %v\n%s", err, out)
	}

	r, err := natsq.Open[[]byte](t.Context(), js, q, ipcchan.Create()) // the bridge may not have created it yet
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var got []string
	for {
		msg, prio, err := r.ReceivePriority(t.Context())
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, fmt.Sprintf("%d %x", prio, msg))
	}
	slices.Sort(got)
	slices.Sort(sent)
	if !slices.Equal(got, sent) {
		t.Errorf("NATS receiver got %q, want %q", got, sent)
	}
	errs, code := wait()
	if code != 0 || !strings.Contains(errs, "3 messages forwarded, and the end of the stream") {
		t.Errorf("bridge: status %d\n%s", code, errs)
	}
}

// TestBridgeTyped: a typed Go message crosses the bridge byte for byte,
// so that a natsq.Queue of the same type decodes it.
func TestBridgeTyped(t *testing.T) {
	url := natstest.Server(t)
	js := natstest.Connect(t, url)
	q := testutil.Name(t, ipcchan.UnlinkQueue)
	jobs, err := ipcchan.OpenQueue[Job](q, ipcchan.Create())
	if err != nil {
		t.Fatal(err)
	}
	defer jobs.Close()
	jobs.SendPriority(t.Context(), Job{ID: 42, File: "b.png"}, 3)
	wait, _ := startBridge(t, q, url, "-n", "1")
	if errs, code := wait(); code != 0 || !strings.Contains(errs, "1 message forwarded") {
		t.Fatalf("bridge -n 1: status %d\n%s", code, errs)
	}
	r, err := natsq.Open[Job](t.Context(), js, q)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if j, prio, err := r.ReceivePriority(t.Context()); err != nil || j != (Job{ID: 42, File: "b.png"}) || prio != 3 {
		t.Errorf("natsq receiver got %+v at %d, %v", j, prio, err)
	}
}

// TestBridgeFromNATSToC: a Go natsq sender; the bridge with --from-nats;
// a C program receives from the local queue.
func TestBridgeFromNATSToC(t *testing.T) {
	url := natstest.Server(t)
	js := natstest.Connect(t, url)
	q := testutil.Name(t, ipcchan.UnlinkQueue)
	mqpeer := testutil.BuildC(t, "mqpeer")
	if out, err := exec.Command(mqpeer, "create", q, "10", "128").CombinedOutput(); err != nil {
		t.Fatalf("mqpeer create: %v\n%s", err, out)
	}
	s, err := natsq.Open[[]byte](t.Context(), js, q, ipcchan.Create())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i, m := range []string{"one", "two", "three"} {
		if err := s.SendPriority(t.Context(), []byte(m), uint(i)); err != nil {
			t.Fatal(err)
		}
	}
	s.CloseSend(t.Context())
	wait, _ := startBridge(t, q, url, "--from-nats")
	if errs, code := wait(); code != 0 || !strings.Contains(errs, "3 messages forwarded, and the end of the stream") {
		t.Fatalf("bridge --from-nats: status %d\n%s", code, errs)
	}
	out, err := exec.Command(mqpeer, "recv", q, "4").Output()
	if err != nil {
		t.Fatalf("mqpeer recv: %v", err)
	}
	// Forwarded highest level first; the end of the stream last.
	want := "2 " + hex.EncodeToString([]byte("three")) + "\n1 " + hex.EncodeToString([]byte("two")) + "\n0 " + hex.EncodeToString([]byte("one")) + "\n0 \n"
	if string(out) != want {
		t.Errorf("C receiver printed %q, want %q", out, want)
	}
}

// TestBridgeInterruptAndErrors: Ctrl-C stops an idle bridge cleanly; bad
// arguments and an unreachable server are reported.
func TestBridgeInterruptAndErrors(t *testing.T) {
	url := natstest.Server(t)
	q := testutil.Name(t, ipcchan.UnlinkQueue)
	mustRun(t, "mk", "queue", q)
	wait, cmd := startBridge(t, q, url)
	js := natstest.Connect(t, url)
	// The bridge is running once its NATS queue exists.
	for {
		if _, err := natsq.Open[[]byte](t.Context(), js, q); err == nil {
			break
		}
		select {
		case <-t.Context().Done():
			t.Fatal("the bridge never opened its NATS queue")
		case <-time.After(10 * time.Millisecond):
		}
	}
	cmd.Process.Signal(syscall.SIGINT)
	if errs, code := wait(); code != 0 || !strings.Contains(errs, "0 messages forwarded") {
		t.Errorf("bridge after SIGINT: status %d\n%s", code, errs)
	}

	for _, c := range []struct {
		args []string
		code int
		says string
	}{
		{[]string{q}, exitUsage, "want a QUEUE and a NATS URL"},
		{[]string{q, "localhost:4222"}, exitUsage, "not a URL"},
		{[]string{"/" + testutil.Prefix + "nothere", url}, exitNotFound, "does not exist"},
		{[]string{q, "nats://127.0.0.1:1"}, exitFailed, "cannot connect"},
	} {
		_, errs, code := run(t, "", append([]string{"bridge"}, c.args...)...)
		if code != c.code || !strings.Contains(errs, c.says) {
			t.Errorf("bridge %v: status %d, %q; want %d saying %q", c.args, code, errs, c.code, c.says)
		}
	}
}

// A bridgeRun is a bridge whose stderr the test reads line by line, as
// the bridge writes it.
type bridgeRun struct {
	t     *testing.T
	cmd   *exec.Cmd
	lines chan string // closed when the bridge's stderr ends
	seen  []string
}

// startBridgeLines starts "ipcchan bridge ARGS..."; it is killed at the
// end of the test if it still runs.
func startBridgeLines(t *testing.T, args ...string) *bridgeRun {
	t.Helper()
	b := &bridgeRun{t: t, cmd: exec.Command(exe, append([]string{"bridge"}, args...)...), lines: make(chan string, 1000)}
	stderr, err := b.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := b.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			b.lines <- sc.Text()
		}
		close(b.lines)
	}()
	t.Cleanup(func() {
		if b.cmd.ProcessState == nil {
			b.cmd.Process.Kill()
			b.wait()
		}
	})
	return b
}

// waitFor returns the first line of the bridge's stderr, from here on,
// that holds substr, and fails the test if none comes within d.
func (b *bridgeRun) waitFor(substr string, d time.Duration) string {
	b.t.Helper()
	timeout := time.NewTimer(d)
	defer timeout.Stop()
	for {
		select {
		case line, ok := <-b.lines:
			if !ok {
				b.t.Fatalf("the bridge ended without saying %q; it said:\n%s", substr, strings.Join(b.seen, "\n"))
			}
			b.seen = append(b.seen, line)
			if strings.Contains(line, substr) {
				return line
			}
		case <-timeout.C:
			b.t.Fatalf("the bridge did not say %q within %v; it said:\n%s", substr, d, strings.Join(b.seen, "\n"))
		}
	}
}

// waitWithin is wait, and fails the test (killing the bridge) if the
// bridge has not exited within d.
func (b *bridgeRun) waitWithin(d time.Duration) (string, int) {
	b.t.Helper()
	var late atomic.Bool
	timer := time.AfterFunc(d, func() {
		late.Store(true)
		b.cmd.Process.Kill()
	})
	defer timer.Stop()
	rest, code := b.wait()
	if late.Load() {
		b.t.Errorf("the bridge did not exit within %v; it said:\n%s", d, strings.Join(b.seen, "\n"))
	}
	return rest, code
}

// wait waits for the bridge to exit and returns the rest of its stderr
// and its status.
func (b *bridgeRun) wait() (string, int) {
	var rest []string
	for line := range b.lines {
		b.seen = append(b.seen, line)
		rest = append(rest, line)
	}
	err := b.cmd.Wait()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return strings.Join(rest, "\n"), ee.ExitCode()
	}
	if err != nil {
		b.t.Fatal(err)
	}
	return strings.Join(rest, "\n"), 0
}

// TestBridgeReportsReconnects: the bridge says when its NATS server goes
// away and when it is back, and forwards again after that.
func TestBridgeReportsReconnects(t *testing.T) {
	srv := natstest.StartProcess(t) // a server that stops and starts again, on its port and store
	q := testutil.Name(t, ipcchan.UnlinkQueue)
	local, err := ipcchan.OpenQueue[[]byte](q, ipcchan.Create())
	if err != nil {
		t.Fatal(err)
	}
	defer local.Close()
	b := startBridgeLines(t, q, srv.URL())
	b.waitFor("Ctrl-C to stop", 30*time.Second) // connected, with its stream

	srv.Stop()
	b.waitFor("bridge: lost the connection to "+srv.URL(), 20*time.Second)
	srv.Start()
	b.waitFor("bridge: connected again to "+srv.URL(), 30*time.Second)

	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if err := local.SendPriority(ctx, []byte("after the restart"), 5); err != nil {
		t.Fatal(err)
	}
	r, err := natsq.Open[[]byte](ctx, natstest.Connect(t, srv.URL()), q) // the stream outlived the restart
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if msg, prio, err := r.ReceivePriority(ctx); err != nil || string(msg) != "after the restart" || prio != 5 {
		t.Fatalf("NATS receiver got %q at %d, %v; the bridge said:\n%s", msg, prio, err, strings.Join(b.seen, "\n"))
	}
	b.cmd.Process.Signal(syscall.SIGINT)
	rest, code := b.wait()
	if code != 0 || !strings.Contains(rest, "1 message forwarded") || strings.Contains(rest, "connection") {
		t.Errorf("bridge after SIGINT: status %d, and it said:\n%s", code, strings.Join(b.seen, "\n"))
	}
	t.Logf("the bridge said:\n%s", strings.Join(b.seen, "\n"))
}

// TestBridgeConnWatch: one line when the connection drops, reminders at
// doubling intervals while it stays away, one line when it is back, and
// nothing once the bridge closes the connection itself.
func TestBridgeConnWatch(t *testing.T) {
	var out strings.Builder
	w := &connWatch{w: &out}
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	refused := errors.New("connection refused")
	w.connected("nats://a:4222")
	w.lost(io.EOF, at(0))
	for _, d := range []time.Duration{2 * time.Second, 29 * time.Second, 30 * time.Second, 89 * time.Second, 90 * time.Second, 100 * time.Second} {
		w.retryFailed(refused, at(d))
	}
	w.back("nats://b:4222", at(101500*time.Millisecond))
	w.retryFailed(refused, at(200*time.Second)) // connected: no reminder
	w.lost(nil, at(300*time.Second))
	w.back("", at(300*time.Second+1234*time.Millisecond))
	w.close()
	w.lost(nil, at(400*time.Second))
	w.closed(nil)
	want := `bridge: lost the connection to nats://a:4222 (EOF); retrying until it is back, or Ctrl-C
bridge: still no connection to nats://a:4222 after 30s (connection refused); retrying
bridge: still no connection to nats://a:4222 after 1m30s (connection refused); retrying
bridge: connected again to nats://b:4222 after 1m42s
bridge: lost the connection to nats://b:4222; retrying until it is back, or Ctrl-C
bridge: connected again to nats://b:4222 after 1.2s
`
	if out.String() != want {
		t.Errorf("the watch said:\n%s\nwant:\n%s", out.String(), want)
	}
	// The client giving up is the last word.
	out.Reset()
	w = &connWatch{w: &out, url: "nats://a:4222"}
	w.closed(errors.New("authorization violation"))
	w.lost(nil, t0)
	if want := "bridge: the connection to nats://a:4222 is closed for good (authorization violation)\n"; out.String() != want {
		t.Errorf("the watch said %q, want %q", out.String(), want)
	}
}

// TestBridgeFromNATSSurvivesRestart: with --from-nats, the bridge rides out
// a restart of its NATS server: what was sent before the server stopped
// arrives in the local queue, the bridge says when the connection drops
// and when it is back, and what is sent after the restart arrives too, in
// order, each message once. Ctrl-C stops it at once, even while the server
// is away.
func TestBridgeFromNATSSurvivesRestart(t *testing.T) {
	srv := natstest.StartProcess(t) // a server that stops and starts again, on its port and store
	q := testutil.Name(t, ipcchan.UnlinkQueue)
	local, err := ipcchan.OpenQueue[[]byte](q, ipcchan.Create())
	if err != nil {
		t.Fatal(err)
	}
	defer local.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	b := startBridgeLines(t, q, srv.URL(), "--from-nats")
	b.waitFor("Ctrl-C to stop", 30*time.Second) // connected, with its stream

	// send sends n messages "phase i" to the NATS queue, on a connection
	// of its own that lives no longer than this server does.
	send := func(phase string, n int) []string {
		t.Helper()
		js, nc := natstest.ConnectConn(t, srv.URL())
		defer nc.Close()
		s, err := natsq.Open[[]byte](ctx, js, q)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		var sent []string
		for i := range n {
			m := fmt.Sprintf("%s %d", phase, i)
			if err := s.Send(ctx, []byte(m)); err != nil {
				t.Fatalf("send %q: %v", m, err)
			}
			sent = append(sent, m)
		}
		return sent
	}
	// receive takes messages from the local queue until it has had each
	// of want, in order; it returns apart those that came again.
	seen := map[string]bool{}
	receive := func(want []string) (again []string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		for i := 0; i < len(want); {
			msg, err := local.Receive(ctx)
			if err != nil {
				t.Fatalf("local queue: got %q of %q, then %v; the bridge said:\n%s", want[:i], want, err, strings.Join(b.seen, "\n"))
			}
			switch m := string(msg); {
			case seen[m]:
				again = append(again, m)
			case m != want[i]:
				t.Fatalf("local queue: got %q after %q, want %q; the bridge said:\n%s", m, want[:i], want[i], strings.Join(b.seen, "\n"))
			default:
				seen[m] = true
				i++
			}
		}
		return again
	}

	// As many messages as the local queue holds (10): the bridge never
	// waits for room. (A bridge that waits for room, holding messages
	// that natsq took ahead, may deliver them out of order: natsq gives
	// them back to the stream and takes them again, and the newer ones can
	// come first. That is natsq's, not the restart's.)
	const n = 10
	// No connection lost: no acknowledgement lost, nothing comes twice.
	if again := receive(send("before", n)); len(again) > 0 {
		t.Errorf("before the restart, the local queue got %q again", again)
	}

	srv.Stop()
	b.waitFor("bridge: lost the connection to "+srv.URL(), 20*time.Second)
	srv.Start()
	b.waitFor("bridge: connected again to "+srv.URL(), 30*time.Second)

	// At least once: natsq acknowledges a message as it hands it over,
	// and the bridge then puts it in the local queue, so an
	// acknowledgement that the stopping server did not record brings a
	// message of before the restart again (after AckWait, 30 s after it
	// was delivered): allowed, and told. A message of after the restart is
	// delivered and acknowledged on a connection that stays up, by a
	// bridge that hands over each message it takes once: none comes twice.
	again := receive(send("after", n))
	var twice []string
	for _, m := range again {
		if strings.HasPrefix(m, "after ") {
			twice = append(twice, m)
		}
	}
	if len(twice) > 0 {
		t.Errorf("the local queue got %q twice", twice)
	}
	if len(again) > len(twice) {
		t.Logf("messages of before the restart came again (at least once): %q", again)
	}

	// Ctrl-C while the server is away stops the bridge at once, cleanly.
	srv.Stop()
	b.waitFor("bridge: lost the connection to "+srv.URL(), 20*time.Second)
	b.cmd.Process.Signal(syscall.SIGINT)
	rest, code := b.waitWithin(10 * time.Second)
	forwarded := 0
	if m := regexp.MustCompile(`bridge: (\d+) messages forwarded`).FindStringSubmatch(rest); m != nil {
		forwarded, _ = strconv.Atoi(m[1])
	}
	if code != 0 || forwarded < 2*n || strings.Contains(rest, "ipcchan:") { // more than 2*n: messages that came again
		t.Errorf("bridge after SIGINT: status %d, want 0 saying it forwarded at least %d messages; it said:\n%s", code, 2*n, strings.Join(b.seen, "\n"))
	}
	t.Logf("the bridge said:\n%s", strings.Join(b.seen, "\n"))
}

// TestBridgeFromNATSStreamDeleted: the bridge does not wait for a stream
// that was deleted to come back: it stops, saying so.
func TestBridgeFromNATSStreamDeleted(t *testing.T) {
	url := natstest.Server(t)
	js := natstest.Connect(t, url)
	q := testutil.Name(t, ipcchan.UnlinkQueue)
	mustRun(t, "mk", "queue", q)
	b := startBridgeLines(t, q, url, "--from-nats")
	b.waitFor("Ctrl-C to stop", 30*time.Second)
	if err := natsq.Unlink(t.Context(), js, q); err != nil {
		t.Fatal(err)
	}
	rest, code := b.waitWithin(30 * time.Second)
	if want := "no longer exists"; code != exitNotFound || !strings.Contains(rest, want) || strings.Contains(rest, "retrying") {
		t.Errorf("bridge after its stream was deleted: status %d, want %d saying %q; it said:\n%s", code, exitNotFound, want, strings.Join(b.seen, "\n"))
	}
	t.Logf("the bridge said:\n%s", strings.Join(b.seen, "\n"))
}

// TestBridgeTopic: with --kind topic, the bridge subscribes to a local
// topic and publishes what it gets on a NATS topic, which it makes with
// the local one's shape; --from-nats the other way. Every subscriber on
// the far side gets every message, byte for byte, then the end of the
// stream.
func TestBridgeTopic(t *testing.T) {
	url := natstest.Server(t)
	js := natstest.Connect(t, url)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	sent := []string{"tick 1", "tick 2", "\x00\xff binary"}

	// Local to NATS.
	name := testutil.Name(t, ipcchan.UnlinkTopic)
	local, err := ipcchan.OpenTopic[[]byte](name, ipcchan.Create(), ipcchan.Capacity(64), ipcchan.History(2))
	if err != nil {
		t.Fatal(err)
	}
	defer local.Close()
	b := startBridgeLines(t, "--kind", "topic", name, url)
	b.waitFor("Ctrl-C to stop", 30*time.Second) // subscribed to the local topic; the NATS one made
	remote, err := natsq.OpenTopic[[]byte](ctx, js, name)
	if err != nil {
		t.Fatal(err)
	}
	defer natsq.UnlinkTopic(context.Background(), js, name)
	defer remote.Close()
	if a, err := remote.Attr(); err != nil || a.Capacity != 64 || a.History != 2 {
		t.Errorf("the NATS topic the bridge made: %+v, %v; want the local one's Capacity 64 and History 2", a, err)
	}
	var subs []*natsq.Subscription[[]byte]
	for range 2 {
		s, err := remote.Subscribe()
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		subs = append(subs, s)
	}
	for _, m := range append([]string{""}, sent...) { // an empty message, which would end the stream on NATS, is not forwarded
		if err := local.Send(ctx, []byte(m)); err != nil {
			t.Fatal(err)
		}
	}
	local.CloseSend(ctx)
	for i, s := range subs {
		var got []string
		for m, err := range s.All(ctx) {
			if err != nil {
				t.Fatalf("NATS subscriber %d: %v", i, err)
			}
			got = append(got, string(m))
		}
		if !slices.Equal(got, sent) {
			t.Errorf("NATS subscriber %d got %q, want %q", i, got, sent)
		}
	}
	if rest, code := b.waitWithin(30 * time.Second); code != 0 || !strings.Contains(rest, "3 messages forwarded, and the end of the stream") ||
		!strings.Contains(rest, "1 message of zero bytes not forwarded") {
		t.Errorf("bridge --kind topic: status %d; it said:\n%s", code, strings.Join(b.seen, "\n"))
	}

	// NATS to local.
	name = testutil.Name(t, ipcchan.UnlinkTopic)
	local, err = ipcchan.OpenTopic[[]byte](name, ipcchan.Create())
	if err != nil {
		t.Fatal(err)
	}
	defer local.Close()
	var lsubs []*ipcchan.Subscription[[]byte]
	for range 2 {
		s, err := local.Subscribe()
		if err != nil {
			t.Fatal(err)
		}
		lsubs = append(lsubs, s)
	}
	remote, err = natsq.OpenTopic[[]byte](ctx, js, name, ipcchan.Create())
	if err != nil {
		t.Fatal(err)
	}
	defer natsq.UnlinkTopic(context.Background(), js, name)
	defer remote.Close()
	b = startBridgeLines(t, "--kind", "topic", name, url, "--from-nats")
	b.waitFor("Ctrl-C to stop", 30*time.Second) // subscribed to the NATS topic
	for _, m := range sent {
		if err := remote.Send(ctx, []byte(m)); err != nil {
			t.Fatal(err)
		}
	}
	remote.CloseSend(ctx)
	for i, s := range lsubs {
		var got []string
		for m, err := range s.All(ctx) {
			if err != nil {
				t.Fatalf("local subscriber %d: %v", i, err)
			}
			got = append(got, string(m))
		}
		if !slices.Equal(got, sent) {
			t.Errorf("local subscriber %d got %q, want %q", i, got, sent)
		}
	}
	if rest, code := b.waitWithin(30 * time.Second); code != 0 || !strings.Contains(rest, "3 messages forwarded, and the end of the stream") {
		t.Errorf("bridge --kind topic --from-nats: status %d; it said:\n%s", code, strings.Join(b.seen, "\n"))
	}

	// Usage: an unknown kind; a topic that does not exist.
	for _, c := range []struct {
		args []string
		code int
		says string
	}{
		{[]string{"--kind", "ring", name, url}, exitUsage, "want queue or topic"},
		{[]string{"--kind", "topic", "/" + testutil.Prefix + "nothere", url}, exitNotFound, "does not exist"},
	} {
		_, errs, code := run(t, "", append([]string{"bridge"}, c.args...)...)
		if code != c.code || !strings.Contains(errs, c.says) {
			t.Errorf("bridge %v: status %d, %q; want %d saying %q", c.args, code, errs, c.code, c.says)
		}
	}
}
