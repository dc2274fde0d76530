package loop_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ipcchan/ipcchan/loop"
)

// readWait reads from r, a non-blocking descriptor watched by fd, waiting
// on the reactor while there is nothing to read.
func readWait(ctx context.Context, fd *loop.FD, r int, buf []byte) (int, error) {
	for {
		tok := fd.Token() // before the attempt: readiness after it is not missed
		n, err := unix.Read(r, buf)
		if !errors.Is(err, unix.EAGAIN) {
			return n, err
		}
		if err := fd.Wait(ctx, loop.Readable, tok); err != nil {
			return 0, err
		}
	}
}

// A goroutine reads a pipe that another goroutine writes to, waiting with a
// context on the reactor the ipcchan library uses: no thread is held while
// it waits.
func ExampleFD() {
	l, err := loop.Default() // shared with the library; never closed
	if err != nil {
		fmt.Println(err)
		return
	}
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_NONBLOCK|unix.O_CLOEXEC); err != nil {
		fmt.Println(err)
		return
	}
	defer unix.Close(p[1])
	defer unix.Close(p[0])
	fd := l.Watch(p[0])
	defer fd.Close() // before the descriptor is closed
	buf := make([]byte, 64)

	// Nothing written yet: the wait ends with the context.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	_, err = readWait(ctx, fd, p[0], buf)
	cancel()
	fmt.Println("before the write:", err)

	go func() {
		time.Sleep(10 * time.Millisecond)
		unix.Write(p[1], []byte("ready"))
	}()
	ctx, cancel = context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	n, err := readWait(ctx, fd, p[0], buf)
	fmt.Printf("after the write: %q, %v\n", buf[:n], err)
	// Output:
	// before the write: context deadline exceeded
	// after the write: "ready", <nil>
}
