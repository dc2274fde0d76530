package main

import (
	"bufio"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ipcchan/ipcchan/internal/testutil"
	"github.com/ipcchan/ipcchan/ipcchan"
)

var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "mqserver-test-")
	if err != nil {
		panic(err)
	}
	binDir = dir
	for _, pkg := range []string{".", "../mqclient"} {
		if out, err := exec.Command("go", "build", "-o", dir, pkg).CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "go build %s: %v\n%s", pkg, err, out)
			os.Exit(1)
		}
	}
	code := testutil.Main(m, ipcchan.UnlinkQueue)
	os.RemoveAll(dir)
	os.Exit(code)
}

// A running mqserver with its own socket, FIFO and queue.
type running struct {
	t                   *testing.T
	cmd                 *exec.Cmd
	socket, fifo, queue string
	lines               chan string // stdout
	mu                  sync.Mutex
	stderr              strings.Builder
	done                chan error
}

// paths returns fresh socket and FIFO paths and a queue name for a test.
func paths(t *testing.T) (socket, fifo, queue string) {
	dir := t.TempDir()
	return filepath.Join(dir, "s.sock"), filepath.Join(dir, "f.fifo"), testutil.Name(t, ipcchan.UnlinkQueue)
}

// start runs mqserver with args, which name its -socket, -fifo and -queue,
// and waits until it is ready.
func start(t *testing.T, args ...string) *running {
	t.Helper()
	r := &running{t: t, lines: make(chan string, 10000), done: make(chan error, 1)}
	for i := 0; i+1 < len(args); i++ {
		switch args[i] {
		case "-socket":
			r.socket = args[i+1]
		case "-fifo":
			r.fifo = args[i+1]
		case "-queue":
			r.queue = args[i+1]
		}
	}
	r.cmd = exec.Command(filepath.Join(binDir, "mqserver"), args...)
	stdout, _ := r.cmd.StdoutPipe()
	stderr, _ := r.cmd.StderrPipe()
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.cmd.Process.Kill() })
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sent := false
		for sc.Scan() {
			r.mu.Lock()
			r.stderr.WriteString(sc.Text() + "\n")
			r.mu.Unlock()
			if !sent && strings.Contains(sc.Text(), "ready:") {
				ready <- true
				sent = true
			}
		}
		if !sent {
			ready <- false
		}
	}()
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			r.lines <- sc.Text()
		}
		close(r.lines)
		r.done <- r.cmd.Wait()
	}()
	select {
	case ok := <-ready:
		if !ok {
			t.Fatalf("mqserver did not start:\n%s", r.logs())
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("mqserver not ready after 20s:\n%s", r.logs())
	}
	return r
}

func (r *running) logs() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stderr.String()
}

// read returns the next n lines of output.
func (r *running) read(n int) []string {
	r.t.Helper()
	var got []string
	timeout := time.After(30 * time.Second)
	for len(got) < n {
		select {
		case l, ok := <-r.lines:
			if !ok {
				r.t.Fatalf("mqserver exited after %d of %d lines:\n%s\nlog:\n%s", len(got), n, strings.Join(got, "\n"), r.logs())
			}
			got = append(got, l)
		case <-timeout:
			r.t.Fatalf("got %d of %d lines:\n%s\nlog:\n%s", len(got), n, strings.Join(got, "\n"), r.logs())
		}
	}
	return got
}

// stop sends SIGTERM and checks the clean shutdown: status 0, nothing left.
func (r *running) stop() {
	r.t.Helper()
	r.stopWith(syscall.SIGTERM)
}

func (r *running) stopWith(sig syscall.Signal) {
	r.t.Helper()
	r.cmd.Process.Signal(sig)
	select {
	case err := <-r.done:
		if err != nil {
			r.t.Fatalf("mqserver after SIGTERM: %v\n%s", err, r.logs())
		}
	case <-time.After(20 * time.Second):
		r.t.Fatalf("mqserver did not stop on SIGTERM\n%s", r.logs())
	}
	for extra := range r.lines {
		r.t.Errorf("unexpected output line %q", extra)
	}
	r.checkGone()
	if !strings.Contains(r.logs(), unix.SignalName(sig)+": shut down") {
		r.t.Errorf("log does not report the shutdown:\n%s", r.logs())
	}
}

func (r *running) checkGone() {
	r.t.Helper()
	for _, p := range []string{r.socket, r.fifo} {
		if _, err := os.Lstat(p); !os.IsNotExist(err) {
			r.t.Errorf("%s is still there (%v)", p, err)
		}
	}
	if q, err := ipcchan.OpenQueue[[]byte](r.queue); err == nil {
		q.Close()
		r.t.Errorf("queue %s is still there", r.queue)
	}
}

func runClient(t *testing.T, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(filepath.Join(binDir, "mqclient"), args...)
	out, err := cmd.CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return string(out), code
}

func clientStdin(t *testing.T, stdin string, args ...string) {
	t.Helper()
	cmd := exec.Command(filepath.Join(binDir, "mqclient"), args...)
	cmd.Stdin = strings.NewReader(stdin)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("mqclient: %v\n%s", err, out)
	}
}

func writeFIFO(t *testing.T, path, data string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(data); err != nil {
		t.Fatal(err)
	}
	f.Close()
}

var unixTag = regexp.MustCompile(`^\[unix #(\d+)\] (client-\d+ line-\d+)$`)

// TestServerAllSources sends through every source at once, the queue from
// mqclient and from a C program using glibc's mq_send, and checks every
// line of output, then the shutdown.
func TestServerAllSources(t *testing.T) {
	peer := testutil.BuildC(t, "mqpeer")
	for _, notify := range []string{"epoll", "signal"} {
		t.Run(notify, func(t *testing.T) {
			r := start(t, append(pathArgs(t), "-notify", notify)...)
			var wg sync.WaitGroup
			for k := 1; k <= 3; k++ { // three socket clients at once
				wg.Add(1)
				go func() {
					defer wg.Done()
					c, err := net.Dial("unix", r.socket)
					if err != nil {
						t.Error(err)
						return
					}
					for j := 1; j <= 3; j++ {
						fmt.Fprintf(c, "client-%d line-%d\n", k, j)
					}
					c.Close()
				}()
			}
			writeFIFO(t, r.fifo, "fifo-1\nfifo-2\n")
			writeFIFO(t, r.fifo, "fifo-3\n") // a second writer, after the first closed
			if out, code := runClient(t, "-queue", r.queue, "-priority", "5", "mq-1", "mq-2"); code != 0 {
				t.Fatalf("mqclient: %d %s", code, out)
			}
			clientStdin(t, "mq-3\nmq-4\n", "-queue", r.queue)
			if out, err := exec.Command(peer, "send", r.queue, "7:"+hex.EncodeToString([]byte("c-1")), "0:"+hex.EncodeToString([]byte("c-2"))).CombinedOutput(); err != nil {
				t.Fatalf("C client: %v\n%s", err, out)
			}
			wg.Wait()

			got := r.read(9 + 3 + 6)
			ids := map[string]string{} // client-k -> its #N
			var rest []string
			var unixLines []string
			for _, l := range got {
				if m := unixTag.FindStringSubmatch(l); m != nil {
					k := strings.Fields(m[2])[0]
					if id, ok := ids[k]; ok && id != m[1] {
						t.Errorf("%s appears as #%s and #%s", k, id, m[1])
					}
					ids[k] = m[1]
					unixLines = append(unixLines, m[2])
					continue
				}
				rest = append(rest, l)
			}
			var wantUnix []string
			for k := 1; k <= 3; k++ {
				for j := 1; j <= 3; j++ {
					wantUnix = append(wantUnix, fmt.Sprintf("client-%d line-%d", k, j))
				}
			}
			slices.Sort(unixLines)
			if !slices.Equal(unixLines, wantUnix) {
				t.Errorf("socket lines %q, want %q", unixLines, wantUnix)
			}
			if len(ids) != 3 || ids["client-1"] == ids["client-2"] || ids["client-2"] == ids["client-3"] || ids["client-1"] == ids["client-3"] {
				t.Errorf("socket clients got ids %v, want three different ones", ids)
			}
			want := []string{"[fifo] fifo-1", "[fifo] fifo-2", "[fifo] fifo-3",
				"[mq prio=5] mq-1", "[mq prio=5] mq-2", "[mq prio=0] mq-3", "[mq prio=0] mq-4",
				"[mq prio=7] c-1", "[mq prio=0] c-2"}
			slices.Sort(want)
			slices.Sort(rest)
			if !slices.Equal(rest, want) {
				t.Errorf("fifo and queue lines:\n%s\nwant:\n%s", strings.Join(rest, "\n"), strings.Join(want, "\n"))
			}
			if !strings.Contains(r.logs(), "client #1 connected") || !strings.Contains(r.logs(), "disconnected") {
				t.Errorf("log does not follow the clients:\n%s", r.logs())
			}
			r.stop()
		})
	}
}

// pathArgs gives a test its own socket, FIFO and queue.
func pathArgs(t *testing.T) []string {
	s, f, q := paths(t)
	return []string{"-socket", s, "-fifo", f, "-queue", q}
}

// TestServerBurst: many more messages than the queue holds, sent as fast
// as mqclient can, are all printed, in order.
func TestServerBurst(t *testing.T) {
	for _, notify := range []string{"epoll", "signal"} {
		t.Run(notify, func(t *testing.T) {
			r := start(t, append(pathArgs(t), "-notify", notify, "-maxmsg", "10")...)
			const n = 2000
			var in strings.Builder
			for i := range n {
				fmt.Fprintf(&in, "burst %d\n", i)
			}
			done := make(chan struct{})
			go func() { // two senders at once
				clientStdin(t, in.String(), "-queue", r.queue, "-priority", "1")
				close(done)
			}()
			clientStdin(t, in.String(), "-queue", r.queue)
			<-done
			next := map[string]int{"1": 0, "0": 0}
			for _, l := range r.read(2 * n) {
				var prio string
				var i int
				if _, err := fmt.Sscanf(l, "[mq prio=%1s] burst %d", &prio, &i); err != nil {
					t.Fatalf("line %q", l)
				}
				if i != next[prio] {
					t.Fatalf("priority %s: got burst %d, want %d", prio, i, next[prio])
				}
				next[prio]++
			}
			r.stopWith(syscall.SIGINT)
		})
	}
}

func TestServerJSON(t *testing.T) {
	r := start(t, append(pathArgs(t), "-json")...)
	runClient(t, "-queue", r.queue, "-priority", "2", "hello")
	writeFIFO(t, r.fifo, "bad \xff utf8\n")
	c, err := net.Dial("unix", r.socket)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(c, "tab\tand \"quotes\"\n")
	c.Close()
	type rec struct {
		Source string `json:"source"`
		Client int    `json:"client"`
		Prio   *uint  `json:"prio"`
		Text   string `json:"text"`
		Base64 string `json:"base64"`
	}
	got := map[string]rec{}
	for _, l := range r.read(3) {
		var x rec
		if err := json.Unmarshal([]byte(l), &x); err != nil {
			t.Fatalf("not JSON: %q", l)
		}
		got[x.Source] = x
	}
	if m := got["mq"]; m.Text != "hello" || m.Prio == nil || *m.Prio != 2 {
		t.Errorf("mq record %+v", m)
	}
	if f := got["fifo"]; f.Base64 != "YmFkIP8gdXRmOA==" {
		t.Errorf("fifo record %+v: want the exact bytes in base64", f)
	}
	if u := got["unix"]; u.Text != "tab\tand \"quotes\"" || u.Client != 1 {
		t.Errorf("unix record %+v", u)
	}
	r.stop()
}

func TestServerLongAndOddLines(t *testing.T) {
	r := start(t, pathArgs(t)...)
	c, err := net.Dial("unix", r.socket)
	if err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("y", 150_000)
	fmt.Fprintf(c, "%s\nnul\x00inside\nno newline at the end", long)
	c.Close()
	got := r.read(5)
	if len(got[0]) != len("[unix #1] ")+maxLine || len(got[1]) != len("[unix #1] ")+maxLine || got[2] != "[unix #1] "+long[:150_000-2*maxLine] {
		t.Errorf("a 150000-byte line came out as lines of %d, %d, %d bytes", len(got[0]), len(got[1]), len(got[2]))
	}
	if got[3] != `[unix #1] nul\x00inside` || got[4] != "[unix #1] no newline at the end" {
		t.Errorf("got %q, %q", got[3], got[4])
	}
	if !strings.Contains(r.logs(), "longer than 65536 bytes") {
		t.Errorf("the split was not logged:\n%s", r.logs())
	}
	r.stop()
}

// TestServerStartupErrors: bad usage, a path in use, a queue that cannot
// be created: a clear message, a non-zero status, and nothing left behind.
func TestServerStartupErrors(t *testing.T) {
	exe := filepath.Join(binDir, "mqserver")
	runFail := func(args ...string) (string, int) {
		out, err := exec.Command(exe, args...).CombinedOutput()
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("mqserver %v: %v\n%s", args, err, out)
		}
		return string(out), ee.ExitCode()
	}
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"-bogus"}, 2, "flag provided but not defined: -bogus"},
		{[]string{"-notify", "poll"}, 2, `-notify "poll": want epoll or signal`},
		{[]string{"-perm", "999"}, 2, "want an octal mode"},
		{[]string{"extra"}, 2, "unexpected argument"},
	} {
		out, code := runFail(tc.args...)
		if code != tc.code || !strings.Contains(out, tc.want) {
			t.Errorf("mqserver %v: status %d, output %q; want %d and %q", tc.args, code, out, tc.code, tc.want)
		}
	}

	// A queue the kernel refuses: the socket and FIFO made before are removed.
	socket, fifo, queue := paths(t)
	out, code := runFail("-socket", socket, "-fifo", fifo, "-queue", queue, "-maxmsg", "100000")
	if code != 1 || !strings.Contains(out, "hard limit of 65536") {
		t.Errorf("-maxmsg 100000: status %d, %q", code, out)
	}
	out, code = runFail("-socket", socket, "-fifo", fifo, "-queue", "noslash")
	if code != 1 || !strings.Contains(out, `must start with a slash`) {
		t.Errorf("-queue noslash: status %d, %q", code, out)
	}
	for _, p := range []string{socket, fifo} {
		if _, err := os.Lstat(p); !os.IsNotExist(err) {
			t.Errorf("failed start left %s behind", p)
		}
	}

	// A socket path a live server uses: refused, the live server untouched.
	r := start(t, pathArgs(t)...)
	_, fifo2, queue2 := paths(t)
	out, code = runFail("-socket", r.socket, "-fifo", fifo2, "-queue", queue2)
	if code != 1 || !strings.Contains(out, "is in use") {
		t.Errorf("second server on the same socket: status %d, %q", code, out)
	}
	if _, err := os.Lstat(fifo2); !os.IsNotExist(err) {
		t.Error("the refused server left its FIFO")
	}
	c, err := net.Dial("unix", r.socket)
	if err != nil {
		t.Fatalf("the first server's socket is gone: %v", err)
	}
	fmt.Fprintln(c, "still serving")
	c.Close()
	// (The refused server's probe of the socket was client #1.)
	if got := r.read(1); !regexp.MustCompile(`^\[unix #\d+\] still serving$`).MatchString(got[0]) {
		t.Errorf("got %q", got)
	}
	r.stop()

	// A path that is not a socket or not a FIFO is not removed.
	dir := t.TempDir()
	plain := filepath.Join(dir, "plain")
	os.WriteFile(plain, []byte("keep me"), 0o644)
	out, code = runFail("-socket", plain, "-fifo", filepath.Join(dir, "f"), "-queue", queue)
	if code != 1 || !strings.Contains(out, "is not a socket") {
		t.Errorf("-socket on a plain file: status %d, %q", code, out)
	}
	out, code = runFail("-socket", filepath.Join(dir, "s"), "-fifo", plain, "-queue", queue)
	if code != 1 || !strings.Contains(out, "is not a FIFO") {
		t.Errorf("-fifo on a plain file: status %d, %q", code, out)
	}
	if b, _ := os.ReadFile(plain); string(b) != "keep me" {
		t.Error("the plain file was touched")
	}
}

// TestServerStaleLeftovers: a run that was killed left its socket, FIFO
// and queue (with messages in it); the next run takes over, prints the
// waiting messages, and serves.
func TestServerStaleLeftovers(t *testing.T) {
	for _, sameShape := range []bool{true, false} {
		t.Run(fmt.Sprintf("same shape %v", sameShape), func(t *testing.T) {
			socket, fifo, queue := paths(t)
			fd, _ := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM, 0)
			if err := unix.Bind(fd, &unix.SockaddrUnix{Name: socket}); err != nil {
				t.Fatal(err)
			}
			unix.Close(fd) // the file stays; nobody listens
			unix.Mkfifo(fifo, 0o600)
			capacity := 10
			if !sameShape {
				capacity = 5
			}
			q, err := ipcchan.OpenQueue[string](queue, ipcchan.Create(), ipcchan.Capacity(capacity))
			if err != nil {
				t.Fatal(err)
			}
			q.SendPriority(t.Context(), "left over 1", 0)
			q.SendPriority(t.Context(), "left over 2", 4)
			q.Close()

			r := start(t, "-socket", socket, "-fifo", fifo, "-queue", queue)
			got := r.read(2)
			if got[0] != "[mq prio=4] left over 2" || got[1] != "[mq prio=0] left over 1" {
				t.Errorf("waiting messages printed as %q", got)
			}
			runClient(t, "-queue", queue, "new")
			if got := r.read(1); got[0] != "[mq prio=0] new" {
				t.Errorf("after takeover: %q", got)
			}
			for _, want := range []string{"removing stale socket", "reusing FIFO", "left by an earlier run"} {
				if !strings.Contains(r.logs(), want) {
					t.Errorf("log lacks %q:\n%s", want, r.logs())
				}
			}
			r.stop()
		})
	}
}

func TestClientErrors(t *testing.T) {
	missing := testutil.Name(t, ipcchan.UnlinkQueue)
	out, code := runClient(t, "-queue", missing, "hello")
	if code != 1 || strings.TrimSpace(out) != "mqclient: queue "+missing+" does not exist: is mqserver running?" {
		t.Errorf("missing queue: status %d, %q", code, out)
	}
	q, err := ipcchan.OpenQueue[[]byte](missing, ipcchan.Create(), ipcchan.MsgSize(64), ipcchan.Capacity(1))
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	out, code = runClient(t, "-queue", missing, strings.Repeat("x", 65))
	if code != 1 || !strings.Contains(out, "65 bytes exceeds its MsgSize of 64") {
		t.Errorf("too long: status %d, %q", code, out)
	}
	out, code = runClient(t, "-queue", missing, "-priority", "40000", "x")
	if code != 1 || !strings.Contains(out, "0 to 32767") {
		t.Errorf("bad priority: status %d, %q", code, out)
	}
	out, code = runClient(t, "-queue", missing, "-timeout", "50ms", "one", "two") // nobody reads: full
	if code != 1 || !strings.Contains(out, "stayed full for 50ms: is mqserver running and reading it?") {
		t.Errorf("full queue: status %d, %q", code, out)
	}
	if _, code := runClient(t, "-nope"); code != 2 {
		t.Errorf("bad flag: status %d, want 2", code)
	}
}
