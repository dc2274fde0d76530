package main

import (
	"strings"
	"testing"

	"github.com/ipcchan/ipcchan/internal/testutil"
	"github.com/ipcchan/ipcchan/ipcchan"
)

// TestMkRing: mk ring makes a ring of bytes that send, recv, stat and rm
// take as they take a queue; what does not apply to a ring is refused.
func TestMkRing(t *testing.T) {
	r := testutil.Name(t, ipcchan.UnlinkRing)
	mustRun(t, "mk", "ring", r, "--capacity", "4", "--msgsize", "64", "--perm", "0640")
	in := statJSON(t, r)["ring"]
	if in.Capacity != 4 || in.MsgSize != 64 || in.Mode != 0o640 || in.Type != "[]uint8" {
		t.Errorf("stat of the ring mk made: %+v", in)
	}
	mustRun(t, "send", r, "first", "second")
	if _, _, code := run(t, "third\n", "send", r); code != 0 {
		t.Errorf("send from stdin to a ring: status %d", code)
	}
	if in := statJSON(t, r)["ring"]; in.Len != 3 {
		t.Errorf("stat after 3 sends: %d messages", in.Len)
	}
	if out := mustRun(t, "recv", r, "-n", "1", "--json"); out != `{"text":"first"}`+"\n" {
		t.Errorf("recv -n 1 --json of a ring printed %q", out)
	}
	if out := mustRun(t, "recv", r); out != "second\nthird\n" {
		t.Errorf("recv of a ring printed %q", out)
	}
	mustRun(t, "send", r, "--end", "last")
	if out := mustRun(t, "recv", r, "--follow"); out != "last\n" {
		t.Errorf("recv --follow until the end of the ring's stream printed %q", out)
	}
	if _, errs, code := run(t, "", "send", r, "--priority", "3", "x"); code != exitUsage || !strings.Contains(errs, "--priority does not apply to a ring") {
		t.Errorf("send --priority to a ring: status %d, %q", code, errs)
	}
	if _, errs, code := run(t, "", "send", r, strings.Repeat("x", 65)); code != exitFailed || !strings.Contains(errs, "64") {
		t.Errorf("send of a message over the ring's MsgSize: status %d, %q", code, errs)
	}
	if _, errs, code := run(t, "", "mk", "ring", r); code != exitFailed || !strings.Contains(errs, "already exists") || !strings.Contains(errs, "ipcchan rm "+r) {
		t.Errorf("mk of an existing ring: status %d, %q", code, errs)
	}
	mustRun(t, "rm", r)
	if _, errs, code := run(t, "", "send", r, "x"); code != exitNotFound || !strings.Contains(errs, "does not exist") {
		t.Errorf("send to a removed ring: status %d, %q", code, errs)
	}

	// A name that is a queue and a ring: send and recv ask which.
	both := testutil.Name(t, ipcchan.UnlinkQueue)
	testutil.Name(t, ipcchan.UnlinkRing) // cleanup of the same name as a ring
	mustRun(t, "mk", "queue", both)
	mustRun(t, "mk", "ring", both)
	if _, errs, code := run(t, "", "send", both, "x"); code != exitUsage || !strings.Contains(errs, "names a queue and a ring; say which with --kind") {
		t.Errorf("send to a name that is a queue and a ring: status %d, %q", code, errs)
	}
	mustRun(t, "send", both, "--kind", "ring", "to the ring")
	if out := mustRun(t, "recv", both, "--kind", "queue"); out != "" {
		t.Errorf("the queue received %q, sent to the ring", out)
	}
	if out := mustRun(t, "recv", both, "--kind", "ring"); out != "to the ring\n" {
		t.Errorf("recv --kind ring: %q", out)
	}
	mustRun(t, "rm", both, "--kind", "ring")
	mustRun(t, "rm", both)
}

// TestMkRefuses: mk refuses a flag that does not apply to the kind, naming
// it, and values out of range, with the status of bad usage; nothing is
// made.
func TestMkRefuses(t *testing.T) {
	name := testutil.Name(t, ipcchan.UnlinkQueue)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"queue", name, "--value", "3"}, "--value does not apply to a queue"},
		{[]string{"queue", name, "--size", "10"}, "--size does not apply to a queue"},
		{[]string{"sem", name, "--size", "10"}, "--size does not apply to a semaphore"},
		{[]string{"sem", name, "--capacity", "10"}, "--capacity does not apply to a semaphore"},
		{[]string{"shm", name, "--size", "10", "--msgsize", "4"}, "--msgsize does not apply to a shm object"},
		{[]string{"mutex", name, "--value", "1"}, "--value does not apply to a mutex"},
		{[]string{"waitgroup", name, "--capacity", "1"}, "--capacity does not apply to a wait group"},
		{[]string{"ring", name, "--value", "1"}, "--value does not apply to a ring"},
		{[]string{"ring", name, "--history", "1"}, "--history does not apply to a ring"},
		{[]string{"queue", name, "--overflow", "block"}, "--overflow does not apply to a queue"},
		{[]string{"sem", name, "--subscribers", "2"}, "--subscribers does not apply to a semaphore"},
		{[]string{"topic", name, "--value", "1"}, "--value does not apply to a topic (it takes --capacity, --msgsize, --history, --overflow, --subscribers, --perm)"},
		{[]string{"topic", name, "--size", "10"}, "--size does not apply to a topic"},
		{[]string{"topic", name, "--capacity", "0"}, "--capacity 0: want 1 or more"},
		{[]string{"topic", name, "--history", "-1"}, "--history -1: want 0 or more"},
		{[]string{"topic", name, "--capacity", "4", "--history", "5"}, "--history 5 is more than the --capacity, 4"},
		{[]string{"topic", name, "--history", "1025"}, "History(1025) is more than the Capacity, 1024"}, // the default capacity: the library says
		{[]string{"topic", name, "--subscribers", "0"}, "--subscribers 0: want 1 to 4096"},
		{[]string{"topic", name, "--subscribers", "4097"}, "--subscribers 4097: want 1 to 4096"},
		{[]string{"topic", name, "--overflow", "sometimes"}, `--overflow "sometimes": want block or dropoldest`},
		{[]string{"topic", name, "--msgsize", "2000000000"}, "at most 1 GiB"},
		{[]string{"topic", "noslash"}, "must start with a slash"},
		{[]string{"queue", name, "--capacity", "0"}, "--capacity 0: want 1 or more"},
		{[]string{"queue", name, "--msgsize", "-1"}, "--msgsize -1: want 1 or more"},
		{[]string{"ring", name, "--capacity", "0"}, "--capacity 0: want 1 or more"},
		{[]string{"shm", name, "--size", "0"}, "--size 0: want 1 or more"},
		{[]string{"shm", name}, "shm needs --size"},
		{[]string{"sem", name, "--value", "2147483648"}, "--value 2147483648"},
		{[]string{"queue", name, "--perm", "0999"}, "--perm"},
		{[]string{"pipe", name}, `unknown kind "pipe"`},
		{[]string{"queue", "noslash"}, "must start with a slash"},
	} {
		_, errs, code := run(t, "", append([]string{"mk"}, c.args...)...)
		if code != exitUsage || !strings.Contains(errs, c.want) {
			t.Errorf("mk %v: status %d, %q; want status %d and %q", c.args, code, errs, exitUsage, c.want)
		}
	}
	if got := statJSON(t, name); len(got) != 0 {
		t.Errorf("a refused mk made %v", got)
	}
}

// TestWrongKind: a command given a name that exists as another kind says
// what it is, with the status of a missing object, and makes nothing.
func TestWrongKind(t *testing.T) {
	q := testutil.Name(t, ipcchan.UnlinkQueue)
	mustRun(t, "mk", "queue", q)
	sem := testutil.Name(t, ipcchan.UnlinkSemaphore)
	mustRun(t, "mk", "sem", sem)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"post", q}, q + " is a queue, not a semaphore"},
		{[]string{"wait", q, "--timeout", "1s"}, q + " is a queue, not a semaphore"},
		{[]string{"send", sem, "x"}, sem + " is a semaphore, not a queue"},
		{[]string{"recv", sem}, sem + " is a semaphore, not a queue"},
		{[]string{"rm", q, "--kind", "sem"}, q + " is a queue, not a semaphore"},
		{[]string{"rm", sem, "--kind", "mutex"}, sem + " is a semaphore, not a mutex"},
		{[]string{"send", q, "--kind", "topic", "x"}, q + " is a queue, not a topic"},
		{[]string{"recv", sem, "--kind", "topic"}, sem + " is a semaphore, not a topic"},
		{[]string{"rm", q, "--kind", "topic"}, q + " is a queue, not a topic"},
	} {
		_, errs, code := run(t, "", c.args...)
		if code != exitNotFound || !strings.Contains(errs, c.want) || strings.Contains(errs, "create it with") {
			t.Errorf("ipcchan %v: status %d, %q; want status %d and %q", c.args, code, errs, exitNotFound, c.want)
		}
	}
	if got := statJSON(t, q); len(got) != 1 {
		t.Errorf("after the commands, %s is %v; want the queue alone", q, got)
	}
}

// TestExitStatus: every command exits with the same status for the same
// kind of failure: 2 for bad usage (an invalid name among it), 3 for a
// missing object.
func TestExitStatus(t *testing.T) {
	missing := "/" + testutil.Prefix + "missing"
	for _, args := range [][]string{
		{"stat", "noslash"}, {"mk", "queue", "noslash"}, {"send", "noslash", "x"}, {"recv", "noslash"},
		{"post", "noslash"}, {"wait", "noslash"}, {"rm", "noslash"}, {"bridge", "noslash", "nats://127.0.0.1:1"},
		{"stat", "/a/b"}, {"send", "/a/b", "x"}, {"post", "/"}, {"recv", missing, "-n", "-1"},
		{"post", missing, "-n", "0"}, {"rm", "--stale", missing}, {"ls", "extra"}, {"send", missing, "--bogus"},
		{"mk", "topic", "noslash"}, {"recv", missing, "--kind", "pipe"}, {"send", missing, "--kind", "topic", "--priority", "1", "x"},
	} {
		if _, errs, code := run(t, "", args...); code != exitUsage {
			t.Errorf("ipcchan %v: status %d, want %d (bad usage): %s", args, code, exitUsage, errs)
		}
	}
	for _, args := range [][]string{
		{"stat", missing}, {"send", missing, "x"}, {"recv", missing}, {"post", missing}, {"wait", missing}, {"rm", missing},
		{"send", missing, "--kind", "topic", "x"}, {"recv", missing, "--kind", "topic"}, {"rm", missing, "--kind", "topic"},
	} {
		if _, errs, code := run(t, "", args...); code != exitNotFound {
			t.Errorf("ipcchan %v: status %d, want %d (no such object): %s", args, code, exitNotFound, errs)
		}
	}
}
