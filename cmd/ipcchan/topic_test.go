package main

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/ipcchan/ipcchan/cmd/ipcchan/internal/inventory"
	"github.com/ipcchan/ipcchan/internal/testutil"
	"github.com/ipcchan/ipcchan/ipcchan"
)

// helperSubscribe: TOPIC — subscribes to the topic, says "ready", and
// waits for stdin to close; then it closes the subscription and the topic.
func helperSubscribe(args []string) error {
	t, err := ipcchan.OpenTopic[[]byte](args[0])
	if err != nil {
		return err
	}
	defer t.Close()
	sub, err := t.Subscribe()
	if err != nil {
		return err
	}
	fmt.Println("ready")
	io.Copy(io.Discard, os.Stdin)
	return sub.Close()
}

// subscribedBy reports whether the topic name lists a live subscription of
// pid, as ipcchan stat sees it.
func subscribedBy(t *testing.T, name string, pid int) bool {
	t.Helper()
	for _, s := range statJSON(t, name)["topic"].Subscribers {
		if s.Pid == pid && s.Alive && s.Active {
			return true
		}
	}
	return false
}

// startRecv starts ipcchan recv with args, and returns once its
// subscription is in the topic name's table: what is published from then
// on is its to receive. wait returns its output and status.
func startRecv(t *testing.T, name string, args ...string) (wait func() (string, int)) {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), exe, append([]string{"recv", name}, args...)...)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waited := false
	t.Cleanup(func() {
		if !waited {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	waitUntil(t, "ipcchan recv to subscribe", func() bool { return subscribedBy(t, name, cmd.Process.Pid) })
	return func() (string, int) {
		waited = true
		err := cmd.Wait()
		if ee, ok := err.(*exec.ExitError); ok {
			return out.String(), ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return out.String(), 0
	}
}

// TestMkTopic: mk topic makes a topic of bytes; send publishes on it, recv
// subscribes (the history at once, or else the next message; -n, --follow
// and --timeout as for a queue), stat and rm take it; what does not apply
// to a topic is refused, and a name that is a queue and a topic needs
// --kind.
func TestMkTopic(t *testing.T) {
	tp := testutil.Name(t, ipcchan.UnlinkTopic)
	mustRun(t, "mk", "topic", tp, "--capacity", "4", "--msgsize", "64", "--history", "2", "--overflow", "dropoldest", "--subscribers", "8", "--perm", "0640")
	in := statJSON(t, tp)["topic"]
	if in.Capacity != 4 || in.MsgSize != 64 || in.History != 2 || in.Policy != "dropoldest" || in.MaxSubscribers != 8 || in.Mode != 0o640 ||
		in.Type != "[]uint8" || in.Format != "ipcchan" || len(in.Subscribers) != 0 || in.Use != inventory.Idle {
		t.Errorf("stat of the topic mk made: %+v", in)
	}
	mustRun(t, "send", tp, "one", "two")
	if _, _, code := run(t, "three\n", "send", tp); code != 0 {
		t.Errorf("send from stdin to a topic: status %d", code)
	}
	if in := statJSON(t, tp)["topic"]; in.Published != 3 {
		t.Errorf("stat after 3 messages published: %d", in.Published)
	}
	// Without -n or --follow: the history, at once, to every recv.
	for range 2 {
		if out := mustRun(t, "recv", tp); out != "two\nthree\n" {
			t.Errorf("recv of a topic with a history of 2 printed %q", out)
		}
	}
	if out := mustRun(t, "recv", tp, "-n", "1", "--json"); out != `{"text":"two"}`+"\n" {
		t.Errorf("recv -n 1 --json of a topic printed %q", out)
	}
	// -n waits for what is published after the history.
	wait := startRecv(t, tp, "-n", "3")
	mustRun(t, "send", tp, "four")
	if out, code := wait(); code != 0 || out != "two\nthree\nfour\n" {
		t.Errorf("recv -n 3: status %d, printed %q", code, out)
	}
	if out, errs, code := run(t, "", "recv", tp, "-n", "3", "--timeout", "50ms"); code != exitTimeout || out != "three\nfour\n" || !strings.Contains(errs, "timed out") {
		t.Errorf("recv -n 3 --timeout 50ms with 2 in the history: status %d, %q, %q", code, out, errs)
	}

	// A topic that keeps no history: recv waits for the next message.
	live := testutil.Name(t, ipcchan.UnlinkTopic)
	mustRun(t, "mk", "topic", live)
	mustRun(t, "send", live, "before anyone subscribed")
	if _, errs, code := run(t, "", "recv", live, "--timeout", "50ms"); code != exitTimeout || !strings.Contains(errs, "timed out after 50ms with 0 messages") {
		t.Errorf("recv of a topic without history, nothing published: status %d, %q", code, errs)
	}
	wait = startRecv(t, live)
	mustRun(t, "send", live, "next", "and another")
	if out, code := wait(); code != 0 || out != "next\n" {
		t.Errorf("recv of a topic without history: status %d, printed %q; want the next message", code, out)
	}
	// --follow: every message, until the end of the stream.
	wait = startRecv(t, live, "--follow")
	mustRun(t, "send", live, "a", "b", "--end")
	if out, code := wait(); code != 0 || out != "a\nb\n" {
		t.Errorf("recv --follow until the end of the topic's stream: status %d, printed %q", code, out)
	}
	if out, errs, code := run(t, "", "recv", live); code != 0 || out != "" {
		t.Errorf("recv of a topic whose stream ended: status %d, %q, %q; want nothing, at once", code, out, errs)
	}
	if in := statJSON(t, live)["topic"]; !in.Ended || in.Policy != "block" || in.Capacity != 1024 || in.MaxSubscribers != 64 {
		t.Errorf("stat of an ended topic made with the defaults: %+v", in)
	}
	if _, errs, code := run(t, "", "send", live, "late"); code != exitFailed || !strings.Contains(errs, "ended") {
		t.Errorf("send after the end of the stream: status %d, %q", code, errs)
	}

	// What does not apply, or does not fit.
	for _, f := range [][]string{{"--priority", "3"}, {"--large"}} {
		if _, errs, code := run(t, "", append([]string{"send", tp, "x"}, f...)...); code != exitUsage || !strings.Contains(errs, f[0]+" does not apply to a topic") {
			t.Errorf("send %s to a topic: status %d, %q", f[0], code, errs)
		}
	}
	if _, errs, code := run(t, "", "send", tp, strings.Repeat("x", 65)); code != exitFailed || !strings.Contains(errs, "MsgSize of 64") ||
		!strings.Contains(errs, "ipcchan mk topic "+tp+" --msgsize N") || strings.Contains(errs, "OpenTopic") {
		t.Errorf("send of a message over the topic's MsgSize: status %d, %q", code, errs)
	}
	if _, errs, code := run(t, "", "mk", "topic", tp); code != exitFailed || !strings.Contains(errs, "already exists") || !strings.Contains(errs, "ipcchan rm "+tp) {
		t.Errorf("mk of an existing topic: status %d, %q", code, errs)
	}
	if _, errs, code := run(t, "", "post", tp); code != exitNotFound || !strings.Contains(errs, tp+" is a topic, not a semaphore") {
		t.Errorf("post to a topic: status %d, %q", code, errs)
	}
	mustRun(t, "rm", tp)
	if _, errs, code := run(t, "", "send", tp, "x"); code != exitNotFound || !strings.Contains(errs, "does not exist") {
		t.Errorf("send to a removed topic: status %d, %q", code, errs)
	}
	if _, errs, code := run(t, "", "recv", tp, "--kind", "topic"); code != exitNotFound || !strings.Contains(errs, "topic "+tp+": open: does not exist; create it with `ipcchan mk topic "+tp+"`") {
		t.Errorf("recv --kind topic of a removed topic: status %d, %q", code, errs)
	}

	// A name that is a queue and a topic: send, recv and rm ask which.
	both := testutil.Name(t, ipcchan.UnlinkQueue)
	testutil.Name(t, ipcchan.UnlinkTopic) // cleanup of the same name as a topic
	mustRun(t, "mk", "queue", both)
	mustRun(t, "mk", "topic", both, "--history", "1")
	if _, errs, code := run(t, "", "send", both, "x"); code != exitUsage || !strings.Contains(errs, "names a queue and a topic; say which with --kind queue or --kind topic") {
		t.Errorf("send to a name that is a queue and a topic: status %d, %q", code, errs)
	}
	mustRun(t, "send", both, "--kind", "topic", "to the topic")
	if out := mustRun(t, "recv", both, "--kind", "queue"); out != "" {
		t.Errorf("the queue received %q, published on the topic", out)
	}
	if out := mustRun(t, "recv", both, "--kind", "topic"); out != "to the topic\n" {
		t.Errorf("recv --kind topic: %q", out)
	}
	if _, errs, code := run(t, "", "rm", both); code != exitFailed || !strings.Contains(errs, "names a queue and a topic; say which to remove with --kind") {
		t.Errorf("rm of a name that is a queue and a topic: status %d, %q", code, errs)
	}
	mustRun(t, "rm", both, "--kind", "topic")
	if _, errs, code := run(t, "", "rm", both, "--kind", "topic"); code != exitNotFound || !strings.Contains(errs, both+" is a queue, not a topic") {
		t.Errorf("rm --kind topic of a queue: status %d, %q", code, errs)
	}
	mustRun(t, "rm", both)
}

// TestStatTopic: stat shows a topic's shape, policy and counters, and each
// subscription of its table: the entry, the subscriber's pid and whether it
// lives, how far behind it is (lag) and what it lost (missed).
func TestStatTopic(t *testing.T) {
	name := testutil.Name(t, ipcchan.UnlinkTopic)
	tp, err := ipcchan.OpenTopic[[]byte](name, ipcchan.Create(), ipcchan.Capacity(4), ipcchan.MsgSize(16), ipcchan.Overflow(ipcchan.DropOldest))
	if err != nil {
		t.Fatal(err)
	}
	defer tp.Close()
	lossy, err := tp.Subscribe()
	if err != nil {
		t.Fatal(err)
	}
	for i := range 6 {
		if err := tp.Send(t.Context(), []byte{byte('a' + i)}); err != nil {
			t.Fatal(err)
		}
	}
	// 6 published into 4 slots: the first 2 were overwritten before lossy
	// read, and it missed them.
	if m, err := lossy.Receive(t.Context()); err != nil || string(m) != "c" || lossy.Missed() != 2 {
		t.Fatalf("the lossy subscription received %q, %v, missed %d; want c, missed 2", m, err, lossy.Missed())
	}
	behind, err := tp.Subscribe()
	if err != nil {
		t.Fatal(err)
	}
	defer behind.Close()
	for _, m := range []string{"g", "h"} {
		if err := tp.Send(t.Context(), []byte(m)); err != nil {
			t.Fatal(err)
		}
	}
	me := os.Getpid()

	// behind is 2 messages behind, lossy at least 0 and at most 5 (what it
	// took to hand out later is no longer in the topic's table).
	in := statJSON(t, name)["topic"]
	subs := in.Subscribers
	if len(subs) != 2 || subs[1] != (inventory.Subscriber{Entry: 1, Pid: me, Alive: true, Active: true, Cursor: 6, Lag: 2}) ||
		subs[0].Entry != 0 || subs[0].Pid != me || !subs[0].Alive || subs[0].Missed != 2 || subs[0].Cursor < 3 || subs[0].Lag != 8-subs[0].Cursor ||
		in.Published != 8 || in.Policy != "dropoldest" || in.Use != inventory.InUse || !slices.Contains(in.Registered, me) {
		t.Errorf("stat --json of the topic: %+v", in)
	}
	out := mustRun(t, "stat", name)
	for _, want := range []string{
		"topic " + name + "\n", "capacity   4 slots\n", "msgsize    16\n", "history    0 messages", "overflow   dropoldest: ", "published  8\n", "ended      no\n",
		"subscribed 2 subscriptions of at most 64\n", fmt.Sprintf("use        in use: mapped or open in %d; registered by %d\n", me, me),
		"8 published into 4 slots of at most 16 bytes, dropoldest, 2/64 subscribers, topic of []uint8",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("stat lacks %q:\n%s", want, out)
		}
	}
	if table := fmt.Sprintf(`\n    ENTRY +PID +PROCESS +LAG +MISSED\n    0 +%d +alive +%d +2\n    1 +%d +alive +2 +0\n`, me, subs[0].Lag, me); !regexp.MustCompile(table).MatchString(out) {
		t.Errorf("stat lacks the table of subscribers %q:\n%s", table, out)
	}
	// A closed subscription leaves the table.
	lossy.Close()
	if in := statJSON(t, name)["topic"]; len(in.Subscribers) != 1 || in.Subscribers[0].Entry != 1 {
		t.Errorf("after one of 2 subscriptions closed, stat lists %+v", in.Subscribers)
	}
}

// TestRmStaleTopic: a topic whose only user and subscriber was killed with
// SIGKILL is abandoned (ls and stat say so, and that the subscriber is
// dead), and rm --stale removes it; one with a live subscriber in another
// process is in use and kept, and one everyone closed is idle, kept by rm
// --stale and removed by rm --stale --idle. In a sandbox of its own.
func TestRmStaleTopic(t *testing.T) {
	if testutil.InSandbox(t, testutil.OwnMqueueMount) {
		return
	}
	idle := testutil.Name(t, ipcchan.UnlinkTopic)
	mustRun(t, "mk", "topic", idle, "--history", "1")
	mustRun(t, "send", idle, "kept for the next run")

	live := testutil.Name(t, ipcchan.UnlinkTopic)
	mustRun(t, "mk", "topic", live)
	sub := testutil.Helper(t, "subscribe", live)
	subIn := startReady(t, sub)
	defer sub.Wait()
	defer subIn.Close()

	dead := testutil.Name(t, ipcchan.UnlinkTopic)
	victim := testutil.Helper(t, "abandon", "topic", dead)
	hold := startReady(t, victim) // never closed before the kill
	defer hold.Close()
	mustRun(t, "send", dead, "published before the crash")
	victim.Process.Kill()
	victim.Wait()
	vpid := victim.Process.Pid

	all := lsJSON(t)
	if in := all["topic "+dead]; in.Use != inventory.Abandoned || !slices.Equal(in.Died, []int{vpid}) ||
		!slices.Equal(in.Subscribers, []inventory.Subscriber{{Pid: vpid, Active: true, Lag: 1}}) {
		t.Errorf("ls lists the topic of the killed subscriber as %+v", in)
	}
	if in := all["topic "+live]; in.Use != inventory.InUse || len(in.Subscribers) != 1 || in.Subscribers[0].Pid != sub.Process.Pid || !in.Subscribers[0].Alive {
		t.Errorf("ls lists the topic of a live subscriber as %+v", in)
	}
	if in := all["topic "+idle]; in.Use != inventory.Idle || len(in.Subscribers) != 0 {
		t.Errorf("ls lists the topic everyone closed as %+v", in)
	}
	table := mustRun(t, "ls")
	if !regexp.MustCompile(regexp.QuoteMeta("topic  "+dead) + ` .* abandoned  1 published into 4 slots of at most 1024 bytes, block, 1/64 subscribers \(1 of dead processes\), topic of \[\]uint8, left open by ` + fmt.Sprint(vpid) + `, which died\n`).MatchString(table) {
		t.Errorf("the table lacks the abandoned topic:\n%s", table)
	}
	st := mustRun(t, "stat", dead)
	if !regexp.MustCompile(fmt.Sprintf(`\n    0 +%d +dead +1 +0\n`, vpid)).MatchString(st) ||
		!strings.Contains(st, fmt.Sprintf("use        abandoned: only processes that died without closing it used it (%d)", vpid)) {
		t.Errorf("stat of the abandoned topic:\n%s", st)
	}

	removesStale(t, func(name string) string { return "/dev/shm/ipcchan.topic." + name[1:] }, dead, idle)
	if in := statJSON(t, live)["topic"]; in.Use != inventory.InUse {
		t.Errorf("after rm --stale --idle, the topic of a live subscriber is %+v", in)
	}
	subIn.Close()
	if err := sub.Wait(); err != nil {
		t.Errorf("the subscriber: %v", err)
	}
	mustRun(t, "rm", live)
}
