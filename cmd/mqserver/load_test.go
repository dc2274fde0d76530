package main

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ipcchan/ipcchan/ipcchan"
)

// Load shape: 16 socket clients, 4 FIFO writers and 4 mqclient processes,
// 200,000 messages in all.
const (
	loadSocketClients = 16
	loadPerSocket     = 8000
	loadFIFOWriters   = 4
	loadPerFIFO       = 8000
	loadQueueSenders  = 4
	loadPerQueue      = 10000
	loadTotal         = loadSocketClients*loadPerSocket + loadFIFOWriters*loadPerFIFO + loadQueueSenders*loadPerQueue
	// loadMaxRSS bounds the server's peak resident memory (VmHWM). The
	// server keeps no per-message state, so its peak must not grow with
	// the message count; 64 MiB is several times what it needs.
	loadMaxRSS = 64 << 20
)

// TestServerLoad: every one of 200,000 messages from 24 concurrent
// writers is printed exactly once, the server's peak memory stays
// bounded, and the rate is reported.
func TestServerLoad(t *testing.T) {
	r := start(t, pathArgs(t)...)
	begin := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, loadSocketClients+loadFIFOWriters+loadQueueSenders)
	for k := range loadSocketClients {
		wg.Go(func() {
			c, err := net.Dial("unix", r.socket)
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			w := bufio.NewWriter(c)
			for i := range loadPerSocket {
				fmt.Fprintf(w, "s%d-%d\n", k, i)
			}
			if err := w.Flush(); err != nil {
				errs <- fmt.Errorf("socket client %d: %w", k, err)
			}
		})
	}
	for k := range loadFIFOWriters {
		wg.Go(func() {
			f, err := os.OpenFile(r.fifo, os.O_WRONLY, 0)
			if err != nil {
				errs <- err
				return
			}
			defer f.Close()
			// Writes of at most PIPE_BUF bytes are atomic, so lines from
			// different writers never interleave.
			var buf []byte
			for i := range loadPerFIFO {
				buf = fmt.Appendf(buf, "f%d-%d\n", k, i)
				if len(buf) > 4000 || i == loadPerFIFO-1 {
					if _, err := f.Write(buf); err != nil {
						errs <- fmt.Errorf("FIFO writer %d: %w", k, err)
						return
					}
					buf = buf[:0]
				}
			}
		})
	}
	for k := range loadQueueSenders {
		wg.Go(func() {
			var in strings.Builder
			for i := range loadPerQueue {
				fmt.Fprintf(&in, "q%d-%d\n", k, i)
			}
			cmd := exec.Command(filepath.Join(binDir, "mqclient"), "-queue", r.queue)
			cmd.Stdin = strings.NewReader(in.String())
			if out, err := cmd.CombinedOutput(); err != nil {
				errs <- fmt.Errorf("mqclient %d: %v\n%s", k, err, out)
			}
		})
	}

	seen := make(map[string]bool, loadTotal)
	deadline := time.After(3 * time.Minute)
	for len(seen) < loadTotal {
		select {
		case l, ok := <-r.lines:
			if !ok {
				t.Fatalf("mqserver exited after %d of %d messages:\n%s", len(seen), loadTotal, r.logs())
			}
			msg := l[strings.LastIndexByte(l, ' ')+1:]
			if seen[msg] {
				t.Fatalf("%q printed twice (line %q)", msg, l)
			}
			seen[msg] = true
		case err := <-errs:
			t.Fatal(err)
		case <-deadline:
			t.Fatalf("%d of %d messages after 3 minutes\nlog tail:\n%s", len(seen), loadTotal, tail(r.logs(), 20))
		}
	}
	elapsed := time.Since(begin)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for k := range loadSocketClients {
		checkAll(t, seen, "s", k, loadPerSocket)
	}
	for k := range loadFIFOWriters {
		checkAll(t, seen, "f", k, loadPerFIFO)
	}
	for k := range loadQueueSenders {
		checkAll(t, seen, "q", k, loadPerQueue)
	}
	peak := statusBytes(t, r.cmd.Process.Pid, "VmHWM")
	if peak > loadMaxRSS {
		t.Errorf("server peak RSS %d MiB, want at most %d MiB", peak>>20, loadMaxRSS>>20)
	}
	t.Logf("%d messages from %d writers in %v: %.0f msg/s; server peak RSS %.1f MiB",
		loadTotal, loadSocketClients+loadFIFOWriters+loadQueueSenders, elapsed.Round(time.Millisecond),
		float64(loadTotal)/elapsed.Seconds(), float64(peak)/(1<<20))
	r.stop()
}

func checkAll(t *testing.T, seen map[string]bool, source string, k, n int) {
	t.Helper()
	for i := range n {
		if m := fmt.Sprintf("%s%d-%d", source, k, i); !seen[m] {
			t.Fatalf("message %s never printed", m)
		}
	}
}

// statusBytes reads a "kB" field of /proc/PID/status.
func statusBytes(t *testing.T, pid int, field string) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				t.Fatalf("%s: %q", field, line)
			}
			return kb << 10
		}
	}
	t.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// TestServerKilledAndRestarted: a server killed with SIGKILL leaves its
// socket, FIFO and queue; messages sent while it is down wait in the
// queue, and a restarted server takes the leftovers over and prints them
// all, then serves every source.
func TestServerKilledAndRestarted(t *testing.T) {
	args := pathArgs(t)
	r := start(t, args...)
	runClient(t, "-queue", r.queue, "before")
	if got := r.read(1); got[0] != "[mq prio=0] before" {
		t.Fatalf("first server printed %q", got)
	}
	r.cmd.Process.Signal(syscall.SIGKILL)
	<-r.done

	q, err := ipcchan.OpenQueue[string](r.queue)
	if err != nil {
		t.Fatalf("queue after SIGKILL: %v", err)
	}
	for i := range 5 {
		if err := q.SendPriority(t.Context(), fmt.Sprintf("while down %d", i), uint(i%2)); err != nil {
			t.Fatal(err)
		}
	}
	q.Close()

	r2 := start(t, args...)
	want := []string{"[mq prio=1] while down 1", "[mq prio=1] while down 3",
		"[mq prio=0] while down 0", "[mq prio=0] while down 2", "[mq prio=0] while down 4"}
	if got := r2.read(len(want)); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("restarted server printed\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	c, err := net.Dial("unix", r2.socket)
	if err != nil {
		t.Fatalf("socket after restart: %v", err)
	}
	fmt.Fprintln(c, "socket after restart")
	c.Close()
	if got := r2.read(1); !strings.HasSuffix(got[0], "] socket after restart") {
		t.Errorf("socket line printed as %q", got)
	}
	writeFIFO(t, r2.fifo, "fifo after restart\n")
	if got := r2.read(1); got[0] != "[fifo] fifo after restart" {
		t.Errorf("FIFO line printed as %q", got)
	}
	r2.stop()
}
