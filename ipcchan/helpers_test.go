package ipcchan_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"unsafe"

	"github.com/ipcchan/ipcchan/internal/posix"
	"github.com/ipcchan/ipcchan/ipcchan"
	"golang.org/x/sys/unix"
)

// helperSend: NAME FIRST COUNT — sends Job{ID: FIRST..FIRST+COUNT-1}.
func helperSend(args []string) error {
	q, err := ipcchan.OpenQueue[Job](args[0])
	if err != nil {
		return err
	}
	defer q.Close()
	first, _ := strconv.Atoi(args[1])
	count, _ := strconv.Atoi(args[2])
	for i := first; i < first+count; i++ {
		if err := q.Send(context.Background(), Job{ID: i, Name: "job " + strconv.Itoa(i)}); err != nil {
			return err
		}
	}
	return nil
}

// helperReceive: NAME — receives Jobs until the end of the stream and
// prints each ID on a line.
func helperReceive(args []string) error {
	q, err := ipcchan.OpenQueue[Job](args[0])
	if err != nil {
		return err
	}
	defer q.Close()
	w := bufio.NewWriter(os.Stdout)
	defer w.Flush()
	for j, err := range q.All(context.Background()) {
		if err != nil {
			return err
		}
		if j.Name != "job "+strconv.Itoa(j.ID) {
			return fmt.Errorf("job %d arrived as %+v", j.ID, j)
		}
		fmt.Fprintln(w, j.ID)
	}
	return nil
}

// helperOpen: NAME [create] [capacity=N] [msgsize=N] [perm=OCTAL] [send=TEXT] —
// opens a Queue[string] and prints "ok" or the error and which ipcchan
// errors it is.
func helperOpen(args []string) error {
	var opts []ipcchan.Option
	var send string
	for _, a := range args[1:] {
		k, v, _ := strings.Cut(a, "=")
		n, _ := strconv.ParseInt(v, 0, 64)
		switch k {
		case "create":
			opts = append(opts, ipcchan.Create())
		case "capacity":
			opts = append(opts, ipcchan.Capacity(int(n)))
		case "msgsize":
			opts = append(opts, ipcchan.MsgSize(int(n)))
		case "perm":
			opts = append(opts, ipcchan.Perm(os.FileMode(n)))
		case "send":
			send = v
		}
	}
	q, err := ipcchan.OpenQueue[string](args[0], opts...)
	if err == nil && send != "" {
		err = q.Send(context.Background(), send)
	}
	if err != nil {
		fmt.Printf("error: %v\n", err)
		for _, s := range []struct {
			name string
			err  error
		}{{"ErrPermission", ipcchan.ErrPermission}, {"ErrLimit", ipcchan.ErrLimit}, {"ErrNotExist", ipcchan.ErrNotExist}} {
			if errors.Is(err, s.err) {
				fmt.Println("is", s.name)
			}
		}
		return nil
	}
	fmt.Println("ok")
	return q.Close()
}

// helperEcho: IN OUT TYPE — receives from IN and sends each message back on
// OUT, until the end of the stream; TYPE is bytes or job.
func helperEcho(args []string) error {
	if args[2] == "job" {
		return echo[Job](args[0], args[1])
	}
	return echo[[]byte](args[0], args[1])
}

func echo[T any](inName, outName string) error {
	in, err := ipcchan.OpenQueue[T](inName)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := ipcchan.OpenQueue[T](outName)
	if err != nil {
		return err
	}
	defer out.Close()
	ctx := context.Background()
	for {
		v, err := in.Receive(ctx)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if err := out.Send(ctx, v); err != nil {
			return err
		}
	}
}

// helperEchoRaw: IN OUT — the same echo with blocking mq system calls and
// no library, the baseline of the benchmarks.
func helperEchoRaw(args []string) error {
	in, err := posix.MqOpen(args[0], unix.O_RDONLY|unix.O_CLOEXEC, 0, nil)
	if err != nil {
		return err
	}
	out, err := posix.MqOpen(args[1], unix.O_WRONLY|unix.O_CLOEXEC, 0, nil)
	if err != nil {
		return err
	}
	buf := make([]byte, 8192)
	for {
		n, prio, err := blockingReceive(in, buf)
		if err != nil {
			return err
		}
		if n == 0 {
			return nil
		}
		if err := blockingSend(out, buf[:n], prio); err != nil {
			return err
		}
	}
}

// helperFlood: NAME COUNT SIZE TYPE — sends COUNT messages of SIZE bytes
// (TYPE bytes) or COUNT Jobs (TYPE job), then the end of the stream.
func helperFlood(args []string) error {
	count, _ := strconv.Atoi(args[1])
	size, _ := strconv.Atoi(args[2])
	if args[3] == "job" {
		return flood(args[0], count, benchJob)
	}
	return flood(args[0], count, make([]byte, size))
}

func flood[T any](name string, count int, v T) error {
	q, err := ipcchan.OpenQueue[T](name)
	if err != nil {
		return err
	}
	defer q.Close()
	ctx := context.Background()
	for range count {
		if err := q.Send(ctx, v); err != nil {
			return err
		}
	}
	return q.CloseSend(ctx)
}

// helperFloodRaw: NAME COUNT SIZE — the same with blocking system calls.
func helperFloodRaw(args []string) error {
	count, _ := strconv.Atoi(args[1])
	size, _ := strconv.Atoi(args[2])
	fd, err := posix.MqOpen(args[0], unix.O_WRONLY|unix.O_CLOEXEC, 0, nil)
	if err != nil {
		return err
	}
	msg := make([]byte, size)
	for range count {
		if err := blockingSend(fd, msg, 0); err != nil {
			return err
		}
	}
	return blockingSend(fd, nil, 0)
}

// blockingSend and blockingReceive are mq_timedsend and mq_timedreceive on
// a blocking descriptor, as a program without ipcchan would call them.
func blockingSend(fd int, msg []byte, prio uint) error {
	for {
		err := rawSend(fd, msg, prio)
		if err != unix.EINTR {
			return err
		}
	}
}

func blockingReceive(fd int, buf []byte) (int, uint, error) {
	for {
		n, prio, err := rawReceive(fd, buf)
		if err != unix.EINTR {
			return n, prio, err
		}
	}
}

func rawSend(fd int, msg []byte, prio uint) error {
	var p unsafe.Pointer
	if len(msg) > 0 {
		p = unsafe.Pointer(&msg[0])
	}
	_, _, e := unix.Syscall6(unix.SYS_MQ_TIMEDSEND, uintptr(fd), uintptr(p), uintptr(len(msg)), uintptr(prio), 0, 0)
	if e != 0 {
		return e
	}
	return nil
}

func rawReceive(fd int, buf []byte) (int, uint, error) {
	var prio uint32
	n, _, e := unix.Syscall6(unix.SYS_MQ_TIMEDRECEIVE, uintptr(fd), uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)), uintptr(unsafe.Pointer(&prio)), 0, 0)
	if e != 0 {
		return 0, 0, e
	}
	return int(n), uint(prio), nil
}
