package natstest

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// A Process is a nats-server running as a process of its own, built from
// the module's nats-server (go.mod), with JetStream, on a loopback port:
// a server the tests can stop and start again, as an operator would.
type Process struct {
	t    testing.TB
	bin  string
	dir  string // its store
	port int
	cmd  *exec.Cmd
}

var buildServer = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "natstest-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "nats-server")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/nats-io/nats-server/v2").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build nats-server: %v\n%s", err, out)
	}
	return bin, nil
})

// StartProcess builds the nats-server of the module (once per test
// process), starts it on a free loopback port with its store in a
// directory of the test's, and stops it at the end of the test.
func StartProcess(t testing.TB) *Process {
	t.Helper()
	bin, err := buildServer()
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	p := &Process{t: t, bin: bin, dir: t.TempDir(), port: port}
	p.Start()
	t.Cleanup(func() { p.Stop() })
	return p
}

// URL is the server's client URL.
func (p *Process) URL() string { return "nats://127.0.0.1:" + strconv.Itoa(p.port) }

// Start starts the server (again), on the same port and store, and waits
// until it takes connections.
func (p *Process) Start() {
	p.t.Helper()
	var logs bytes.Buffer
	p.cmd = exec.Command(p.bin, "-js", "-a", "127.0.0.1", "-p", strconv.Itoa(p.port), "-sd", p.dir)
	p.cmd.Stdout, p.cmd.Stderr = &logs, &logs
	if err := p.cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(p.port), time.Second)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			p.cmd.Process.Kill()
			p.t.Fatalf("nats-server did not listen on %d within 20 s:\n%s", p.port, logs.String())
		}
		time.Sleep(10 * time.Millisecond) // polling a port that is not open yet: nothing to wait on
	}
}

// Stop stops the server as an operator would (SIGTERM) and waits for it
// to exit.
func (p *Process) Stop() {
	if p.cmd == nil || p.cmd.Process == nil {
		return
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	p.cmd.Wait()
	p.cmd = nil
}
