package main

import (
	"encoding/hex"
	"fmt"
	"io"
	"os/exec"
	"slices"
	"strings"
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
