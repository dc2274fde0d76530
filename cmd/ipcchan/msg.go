package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"time"
	"unicode/utf8"

	"github.com/ipcchan/ipcchan/codec"
	"github.com/ipcchan/ipcchan/internal/textesc"
	"github.com/ipcchan/ipcchan/internal/typed"
	"github.com/ipcchan/ipcchan/ipcchan"
)

var cmdSend = &command{
	name:  "send",
	usage: "send QUEUE [--priority N] [--timeout D] [--end] [--large] [MESSAGE...]",
	help:  "send each MESSAGE, or each line of stdin, to an existing queue",
	example: `  $ ipcchan send /jobs --priority 5 "resize a.png" "resize b.png"
  $ seq 3 | ipcchan send /jobs
  $ ipcchan send /jobs --end                 # end the stream: receivers' loops stop`,
	run: runSend,
}

var cmdRecv = &command{
	name:  "recv",
	usage: "recv QUEUE [-n N] [--follow] [--timeout D] [--json]",
	help:  "print messages from a queue, one per line (typed ipcchan messages as JSON, binary ones in hex)",
	example: `  $ ipcchan recv /jobs                      # what is waiting now, then exit
  $ ipcchan recv /jobs -n 3 --timeout 5s     # wait for 3 messages, at most 5s (status 4 if not)
  $ ipcchan recv /jobs --follow --json       # everything, as it comes, until Ctrl-C`,
	run: runRecv,
}

func runSend(c *cli, cmd *command, args []string) int {
	fs := c.flags(cmd)
	prio := fs.Uint("priority", 0, "priority, 0 to 32767; receivers get higher ones first")
	timeout := fs.Duration("timeout", 10*time.Second, "how long to wait for room in a full queue, per message (0: no limit)")
	end := fs.Bool("end", false, "after the messages, send the end of the stream")
	big := fs.Bool("large", false, "send messages beyond the queue's MsgSize through /dev/shm (ipcchan.LargeMessages: its receivers must take them, C gets 32-byte references)")
	rest, code, ok := c.parse(fs, args)
	if !ok {
		return code
	}
	if len(rest) == 0 {
		return c.usageErr(cmd, "want a QUEUE")
	}
	var opts []ipcchan.Option
	if *big {
		opts = append(opts, ipcchan.LargeMessages())
	}
	q, err := ipcchan.OpenQueue[[]byte](rest[0], opts...)
	if err != nil {
		return c.fail(err)
	}
	defer q.Close()
	send := func(msg []byte) error {
		ctx, cancel := timeoutCtx(*timeout)
		defer cancel()
		if err := q.SendPriority(ctx, msg, *prio); err != nil {
			if errors.Is(err, context.DeadlineExceeded) {
				return fmt.Errorf("%w: queue %s stayed full for %v; is anything reading it?", errTimeout, rest[0], *timeout)
			}
			return err
		}
		return nil
	}
	if len(rest) > 1 {
		for _, m := range rest[1:] {
			if err := send([]byte(m)); err != nil {
				return c.fail(err)
			}
		}
	} else if !*end {
		sc := bufio.NewScanner(c.stdin)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			if err := send(sc.Bytes()); err != nil {
				return c.fail(err)
			}
		}
		if err := sc.Err(); err != nil {
			return c.fail(fmt.Errorf("reading stdin: %w", err))
		}
	}
	if *end {
		ctx, cancel := timeoutCtx(*timeout)
		defer cancel()
		if err := q.CloseSend(ctx); err != nil {
			return c.fail(err)
		}
	}
	return exitOK
}

// openReceiving opens the queue name to receive whatever is sent to it:
// large messages too, unless its messages are too small for their
// references (then none can be sent to it).
func openReceiving(name string) (*ipcchan.Queue[[]byte], error) {
	q, err := ipcchan.OpenQueue[[]byte](name, ipcchan.LargeMessages())
	if errors.Is(err, ipcchan.ErrInvalid) {
		return ipcchan.OpenQueue[[]byte](name)
	}
	return q, err
}

func timeoutCtx(d time.Duration) (context.Context, context.CancelFunc) {
	if d > 0 {
		return context.WithTimeout(context.Background(), d)
	}
	return context.WithCancel(context.Background())
}

func runRecv(c *cli, cmd *command, args []string) int {
	fs := c.flags(cmd)
	n := fs.Int("n", 0, "receive this many messages, waiting for them (0: what is there now)")
	follow := fs.Bool("follow", false, "keep waiting for messages until interrupted or the end of the stream")
	timeout := fs.Duration("timeout", 0, "give up waiting after this long, with status 4 (0: no limit)")
	asJSON := fs.Bool("json", false, `one JSON object per message: {"prio":0,"text":"..."}`)
	rest, code, ok := c.parse(fs, args)
	if !ok {
		return code
	}
	if len(rest) != 1 {
		return c.usageErr(cmd, "want one QUEUE")
	}
	if *n < 0 {
		return c.usageErr(cmd, "-n %d: want 0 or more", *n)
	}
	q, err := openReceiving(rest[0])
	if err != nil {
		return c.fail(err)
	}
	defer q.Close()
	ctx, cancel := timeoutCtx(*timeout)
	defer cancel()
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt)
	defer stop()
	w := bufio.NewWriter(c.stdout)
	defer w.Flush()
	wait := *n > 0 || *follow
	for got := 0; *n == 0 || got < *n; got++ {
		var msg []byte
		var prio uint
		if wait {
			msg, prio, err = q.ReceivePriority(ctx)
		} else {
			msg, prio, err = q.TryReceivePriority()
		}
		switch {
		case err == io.EOF:
			return exitOK // the end of the stream
		case errors.Is(err, ipcchan.ErrEmpty):
			return exitOK
		case errors.Is(err, context.DeadlineExceeded):
			w.Flush()
			return c.fail(fmt.Errorf("%w after %v with %s received", errTimeout, *timeout, plural(got, "message", "messages")))
		case errors.Is(err, context.Canceled):
			return exitOK // Ctrl-C
		case err != nil:
			w.Flush()
			return c.fail(err)
		}
		printMessage(w, msg, prio, *asJSON)
		if wait {
			w.Flush()
		}
	}
	return exitOK
}

// printMessage prints one message. A typed ipcchan message with a
// MessagePack payload is shown as JSON; binary bytes (a NUL, or not UTF-8:
// a C struct, the message of a codec.Layout queue, which has no header to
// say what it is) in hex after "hex "; other bytes as text.
func printMessage(w io.Writer, msg []byte, prio uint, asJSON bool) {
	value, typed := decodeTyped(msg)
	if !asJSON {
		switch {
		case typed:
			b, _ := json.Marshal(value)
			fmt.Fprintf(w, "%s\n", b)
		case bytes.IndexByte(msg, 0) >= 0 || !utf8.Valid(msg):
			fmt.Fprintf(w, "hex %x\n", msg)
		default:
			fmt.Fprintf(w, "%s\n", textesc.Append(nil, msg))
		}
		return
	}
	rec := struct {
		Prio   uint   `json:"prio"`
		Text   string `json:"text,omitempty"`
		Base64 string `json:"base64,omitempty"`
		Value  any    `json:"value,omitempty"`
	}{Prio: prio}
	switch {
	case typed:
		rec.Value = value
	case utf8.Valid(msg):
		rec.Text = string(msg)
	default:
		rec.Base64 = base64.StdEncoding.EncodeToString(msg)
	}
	b, _ := json.Marshal(rec)
	fmt.Fprintf(w, "%s\n", b)
}

// decodeTyped decodes a typed ipcchan message of the default codec
// (MessagePack), whatever its type: recv does not know the type.
func decodeTyped(msg []byte) (any, bool) {
	payload, ok := typed.Framed(msg)
	if !ok {
		return nil, false
	}
	var v any
	if codec.Msgpack.Decode(payload, &v) != nil {
		return nil, false
	}
	return jsonable(v), true
}

// jsonable turns MessagePack's map[any]any into maps JSON can print.
func jsonable(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = jsonable(e)
		}
	case map[any]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[fmt.Sprint(k)] = jsonable(e)
		}
		return m
	case []any:
		for i, e := range x {
			x[i] = jsonable(e)
		}
	}
	return v
}
