package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"
)

// The baselines of a Go program without ipcchan: a Unix stream socket
// between two processes, a channel in one.

// listen makes a Unix socket and starts a peer that connects to it.
func (b *bench) listen(role string, args ...string) (net.Conn, *exec.Cmd, error) {
	b.seq++
	path := filepath.Join(b.dir, fmt.Sprintf("s%d.sock", b.seq))
	l, err := net.Listen("unix", path)
	if err != nil {
		return nil, nil, err
	}
	defer l.Close()
	cmd, err := b.start(role, append([]string{path}, args...)...)
	if err != nil {
		return nil, nil, err
	}
	c, err := l.Accept()
	return c, cmd, err
}

// unixPingPong is queuePingPong over a Unix socket.
func unixPingPong(b *bench, n int) (float64, error) {
	c, cmd, err := b.listen("unix-echo", "64")
	if err != nil {
		return 0, err
	}
	msg := make([]byte, 64)
	rt, err := roundTrips(n, func() error {
		if _, err := c.Write(msg); err != nil {
			return err
		}
		_, err := io.ReadFull(c, msg)
		return err
	})
	if err != nil {
		return 0, err
	}
	c.Close()
	return rt / 2, cmd.Wait()
}

// unixStream is queueStream over a Unix socket, read through a buffer.
func unixStream(size int) measurement {
	return func(b *bench, n int) (float64, error) {
		c, cmd, err := b.listen("unix-flood", strconv.Itoa(n), strconv.Itoa(size))
		if err != nil {
			return 0, err
		}
		defer c.Close()
		buf := make([]byte, size)
		r := bufio.NewReaderSize(c, 64<<10)
		io.ReadFull(r, buf)
		start := time.Now()
		got := 0
		for {
			if _, err := io.ReadFull(r, buf); err != nil {
				break
			}
			got++
		}
		ns := nsPer(start, got)
		return ns, cmd.Wait()
	}
}

// unixEcho is the role PATH SIZE: echo frames of SIZE bytes over a Unix
// socket until the other side closes it.
func unixEcho(a peerArgs) error {
	c, err := net.Dial("unix", a[0])
	if err != nil {
		return err
	}
	buf := make([]byte, a.int(1))
	for {
		if _, err := io.ReadFull(c, buf); err != nil {
			return nil // the other side closed
		}
		if _, err := c.Write(buf); err != nil {
			return err
		}
	}
}

// unixFlood is the role PATH N SIZE: send N+1 frames of SIZE bytes over a
// Unix socket, through a buffer, then close it.
func unixFlood(a peerArgs) error {
	c, err := net.Dial("unix", a[0])
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(c, 64<<10)
	msg := make([]byte, a.int(2))
	for range a.int(1) + 1 {
		w.Write(msg)
	}
	w.Flush()
	return c.Close()
}

// chanPingPong is queuePingPong over Go channels, in this process.
func chanPingPong(_ *bench, n int) (float64, error) {
	in, out := make(chan []byte), make(chan []byte)
	go func() {
		for m := range in {
			out <- m
		}
		close(out)
	}()
	msg := make([]byte, 64)
	start := time.Now()
	for range n {
		in <- msg
		<-out
	}
	ns := nsPer(start, n) / 2
	close(in)
	return ns, nil
}

// chanStream is queueStream over a Go channel of 10 messages, in this
// process.
func chanStream(size int) measurement {
	return func(_ *bench, n int) (float64, error) {
		ch := make(chan []byte, 10)
		go func() {
			msg := make([]byte, size)
			for range n {
				ch <- msg
			}
			close(ch)
		}()
		start := time.Now()
		got := 0
		for range ch {
			got++
		}
		return nsPer(start, got), nil
	}
}
