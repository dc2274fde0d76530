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
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/ipcchan/ipcchan/codec"
	"github.com/ipcchan/ipcchan/internal/kinds"
	"github.com/ipcchan/ipcchan/internal/posix"
	"github.com/ipcchan/ipcchan/internal/textesc"
	"github.com/ipcchan/ipcchan/internal/typed"
	"github.com/ipcchan/ipcchan/ipcchan"
)

var cmdSend = &command{
	name:  "send",
	usage: "send QUEUE|RING|TOPIC [--priority N] [--timeout D] [--end] [--large] [--kind K] [MESSAGE...]",
	help:  "send each MESSAGE, or each line of stdin, to an existing queue or ring of bytes, or publish it on a topic of bytes",
	example: `  $ ipcchan send /jobs --priority 5 "resize a.png" "resize b.png"
  $ seq 3 | ipcchan send /jobs
  $ ipcchan send /events "a ring takes them too"   # made with ipcchan mk ring
  $ ipcchan send /ticks "to every subscriber"      # a topic (ipcchan mk topic) publishes
  $ ipcchan send /jobs --end                 # end the stream: receivers' loops stop`,
	run: runSend,
}

var cmdRecv = &command{
	name:  "recv",
	usage: "recv QUEUE|RING|TOPIC [-n N] [--follow] [--timeout D] [--json] [--kind K]",
	help:  "print messages from a queue or a ring of bytes, one per line (typed ipcchan messages as JSON, binary ones in hex), or subscribe to a topic and print what it publishes",
	example: `  $ ipcchan recv /jobs                      # what is waiting now, then exit
  $ ipcchan recv /jobs -n 3 --timeout 5s     # wait for 3 messages, at most 5s (status 4 if not)
  $ ipcchan recv /jobs --follow --json       # everything, as it comes, until Ctrl-C
  $ ipcchan recv /ticks                      # a topic: its history, or else the next message published
  $ ipcchan recv /ticks --follow             # every message published, until Ctrl-C or the end of the stream`,
	run: runRecv,
}

// A channel is what send and recv move messages through: a queue, a ring
// of bytes (which has no priorities), or a topic of bytes (send publishes,
// recv subscribes).
type channel struct {
	kind    string // kinds.Queue, kinds.Ring or kinds.Topic
	send    func(ctx context.Context, msg []byte, prio uint) error
	receive func(ctx context.Context) ([]byte, uint, error) // nil ctx: do not wait
	end     func(ctx context.Context) error
	close   func() error
}

// channelKinds are the kinds of object that send and recv take.
var channelKinds = []string{kinds.Queue, kinds.Ring, kinds.Topic}

// channelKind says whether name is a queue, a ring or a topic: kind, if
// the user said (--kind), or else the one of them that exists. With none,
// it is a queue, whose error says what the name is instead, if anything.
func (c *cli) channelKind(cmd *command, name, kind string) (string, int, bool) {
	if err := ipcchan.CheckName(name); err != nil {
		return "", c.usageErr(cmd, "%v", err), false
	}
	switch {
	case kind == "":
	case slices.Contains(channelKinds, kind):
		return kind, 0, true
	default:
		return "", c.usageErr(cmd, "--kind %q: want queue, ring or topic", kind), false
	}
	var found []string
	for _, k := range kinds.Named(name) {
		if slices.Contains(channelKinds, k) {
			found = append(found, k)
		}
	}
	switch len(found) {
	case 0:
		return kinds.Queue, 0, true
	case 1:
		return found[0], 0, true
	}
	choices := make([]string, len(found))
	for i, k := range found {
		choices[i] = "--kind " + k
	}
	return "", c.usageErr(cmd, "%s names %s; say which with %s or %s", name, kinds.List(found), strings.Join(choices[:len(choices)-1], ", "), choices[len(choices)-1]), false
}

// openChannel opens the queue, ring or topic name of kind for cmd. A
// sender with large opens it with LargeMessages; a receiver (receiving)
// takes large messages whenever its messages are big enough for their
// references. A receiver of a topic subscribes to it.
func openChannel(name, kind string, large, receiving bool) (*channel, error) {
	if kind == kinds.Topic {
		return openTopic(name, receiving)
	}
	var opts []ipcchan.Option
	if large || receiving {
		opts = append(opts, ipcchan.LargeMessages())
	}
	if kind == kinds.Ring {
		r, err := ipcchan.OpenRing[[]byte](name, opts...)
		if receiving && errors.Is(err, ipcchan.ErrInvalid) {
			r, err = ipcchan.OpenRing[[]byte](name)
		}
		if err != nil {
			return nil, err
		}
		return &channel{kind: kind,
			send: func(ctx context.Context, msg []byte, _ uint) error { return r.Send(ctx, msg) },
			receive: func(ctx context.Context) ([]byte, uint, error) {
				if ctx == nil {
					m, err := r.TryReceive()
					return m, 0, err
				}
				m, err := r.Receive(ctx)
				return m, 0, err
			},
			end: r.CloseSend, close: r.Close}, nil
	}
	var q *ipcchan.Queue[[]byte]
	var err error
	if receiving {
		q, err = openReceiving(name)
	} else {
		q, err = ipcchan.OpenQueue[[]byte](name, opts...)
	}
	if err != nil {
		return nil, err
	}
	return &channel{kind: kind, send: q.SendPriority,
		receive: func(ctx context.Context) ([]byte, uint, error) {
			if ctx == nil {
				return q.TryReceivePriority()
			}
			return q.ReceivePriority(ctx)
		},
		end: q.CloseSend, close: q.Close}, nil
}

// openTopic opens the topic name; a receiver subscribes to it: from the
// next message published, after the history the topic keeps.
func openTopic(name string, receiving bool) (*channel, error) {
	t, err := ipcchan.OpenTopic[[]byte](name)
	if err != nil {
		return nil, err
	}
	ch := &channel{kind: kinds.Topic, send: func(ctx context.Context, msg []byte, _ uint) error { return t.Send(ctx, msg) },
		end: t.CloseSend, close: t.Close}
	if receiving {
		sub, err := t.Subscribe()
		if err != nil {
			t.Close()
			return nil, err
		}
		ch.receive = func(ctx context.Context) ([]byte, uint, error) {
			if ctx == nil {
				m, err := sub.TryReceive()
				return m, 0, err
			}
			m, err := sub.Receive(ctx)
			return m, 0, err
		}
	}
	return ch, nil
}

func runSend(c *cli, cmd *command, args []string) int {
	fs := c.flags(cmd)
	prio := fs.Uint("priority", 0, "queue: priority, 0 to 32767; receivers get higher ones first")
	timeout := fs.Duration("timeout", 10*time.Second, "how long to wait for room while full, per message (0: no limit)")
	end := fs.Bool("end", false, "after the messages, send the end of the stream")
	big := fs.Bool("large", false, "send messages beyond the MsgSize through /dev/shm (ipcchan.LargeMessages: its receivers must take them, C gets 32-byte references)")
	kind := fs.String("kind", "", "queue, ring or topic, when the name is several")
	rest, code, ok := c.parse(fs, args)
	if !ok {
		return code
	}
	if len(rest) == 0 {
		return c.usageErr(cmd, "want a QUEUE, RING or TOPIC")
	}
	name := rest[0]
	k, code, ok := c.channelKind(cmd, name, *kind)
	if !ok {
		return code
	}
	switch k {
	case kinds.Ring:
		if code, ok := c.onlyFlags(cmd, fs, "a ring", "timeout", "end", "large", "kind"); !ok {
			return code
		}
	case kinds.Topic:
		if code, ok := c.onlyFlags(cmd, fs, "a topic", "timeout", "end", "kind"); !ok {
			return code
		}
	}
	if *prio >= posix.MqPrioMax {
		return c.usageErr(cmd, "--priority %d: want 0 to %d", *prio, posix.MqPrioMax-1)
	}
	ch, err := openChannel(name, k, *big, false)
	if err != nil {
		return c.fail(err)
	}
	defer ch.close()
	send := func(msg []byte) error {
		ctx, cancel := timeoutCtx(*timeout)
		defer cancel()
		if err := ch.send(ctx, msg, *prio); err != nil {
			if errors.Is(err, context.DeadlineExceeded) {
				if k == kinds.Topic { // it blocks (Overflow(Block)) for its slowest subscriber
					return fmt.Errorf("%w: a subscriber of topic %s stayed a whole capacity behind for %v; is it still reading? (`ipcchan stat %s` shows the subscribers and their lag)", errTimeout, name, *timeout, name)
				}
				return fmt.Errorf("%w: %s %s stayed full for %v; is anything reading it?", errTimeout, k, name, *timeout)
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
		if err := ch.end(ctx); err != nil {
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
	n := fs.Int("n", 0, "receive this many messages, waiting for them (0: what is there now; of a topic, its history, or if it keeps none the next message)")
	follow := fs.Bool("follow", false, "keep waiting for messages until interrupted or the end of the stream")
	timeout := fs.Duration("timeout", 0, "give up waiting after this long, with status 4 (0: no limit)")
	asJSON := fs.Bool("json", false, `one JSON object per message: {"prio":0,"text":"..."} ("prio" for a queue's)`)
	kind := fs.String("kind", "", "queue, ring or topic, when the name is several")
	rest, code, ok := c.parse(fs, args)
	if !ok {
		return code
	}
	if len(rest) != 1 {
		return c.usageErr(cmd, "want one QUEUE, RING or TOPIC")
	}
	if *n < 0 {
		return c.usageErr(cmd, "-n %d: want 0 or more", *n)
	}
	if *timeout < 0 {
		return c.usageErr(cmd, "--timeout %v: want 0 or more", *timeout)
	}
	k, code, ok := c.channelKind(cmd, rest[0], *kind)
	if !ok {
		return code
	}
	ch, err := openChannel(rest[0], k, false, true)
	if err != nil {
		return c.fail(err)
	}
	defer ch.close()
	ctx, cancel := timeoutCtx(*timeout)
	defer cancel()
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt)
	defer stop()
	w := bufio.NewWriter(c.stdout)
	defer w.Flush()
	wait, limit := *n > 0 || *follow, *n
	for got := 0; limit == 0 || got < limit; got++ {
		var msg []byte
		var prio uint
		if wait {
			msg, prio, err = ch.receive(ctx)
		} else {
			msg, prio, err = ch.receive(nil)
			// A topic holds nothing for a new subscriber but its
			// history: with none, what is there now is the next message.
			if ch.kind == kinds.Topic && got == 0 && errors.Is(err, ipcchan.ErrEmpty) {
				msg, prio, err = ch.receive(ctx)
				limit = 1
			}
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
		var p *uint
		if ch.kind == kinds.Queue {
			p = &prio
		}
		printMessage(w, msg, p, *asJSON)
		if wait {
			w.Flush()
		}
	}
	return exitOK
}

// printMessage prints one message, with its priority if it has one (a
// queue's). A typed ipcchan message with a MessagePack payload is shown as
// JSON; binary bytes (a NUL, or not UTF-8: a C struct, the message of a
// codec.Layout queue, which has no header to say what it is) in hex after
// "hex "; other bytes as text.
func printMessage(w io.Writer, msg []byte, prio *uint, asJSON bool) {
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
		Prio   *uint  `json:"prio,omitempty"`
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
