package natsq

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ipcchan/ipcchan/internal/ipcerr"
	"github.com/ipcchan/ipcchan/internal/options"
	"github.com/ipcchan/ipcchan/internal/typed"
	"github.com/ipcchan/ipcchan/ipcchan"
)

// Levels is the number of priority levels (subjects) of a NATS queue.
const Levels = 4

// MaxPriority is the highest priority, as for a POSIX queue.
const MaxPriority = 32767

// Level returns the level (0 to Levels-1) that carries priority prio:
// 0 for 0, 1 for 1-9, 2 for 10-99 and 3 for 100 and above. Higher levels
// are received first.
func Level(prio uint) int {
	switch {
	case prio == 0:
		return 0
	case prio < 10:
		return 1
	case prio < 100:
		return 2
	}
	return 3
}

// kind is how errors name a queue.
const kind = "NATS queue"

// priorityHeader carries a message's exact priority.
const priorityHeader = "Ipcchan-Priority"

// attrTimeout bounds the JetStream request of Attr.
const attrTimeout = 10 * time.Second

// A Queue is a typed message queue on a NATS JetStream stream. It is an
// ipcchan.Sender[T] and an ipcchan.Receiver[T]; its methods are safe for
// concurrent use. See the package documentation for delivery, priorities
// and costs.
type Queue[T any] struct {
	base
	subject [Levels]string
	w       *typed.Wire[T]
	rx      typed.Receiving[T] // Recv
	win     *window            // receiving: what the handle holds, and its requests
	maxSize int                // largest message: the stream's MaxMsgSize or the server's max_payload
	pipe    *pipeline          // Pipelined sends, or nil
	bounded bool               // the stream has a Capacity (MaxMsgs or MaxBytes): receives confirm their acknowledgements

	closeOnce sync.Once // of win.close, which closes done
}

// base is what every natsq handle, a Queue or a Topic, is: an object on a
// stream of a JetStream, and how its errors read.
type base struct {
	js     jetstream.JetStream
	obj    ipcerr.Object // "NATS queue", "/jobs"
	stream string        // "jobs"
	done   chan struct{} // closed by Close
}

var (
	_ ipcchan.PrioritySender[[]byte]   = (*Queue[[]byte])(nil)
	_ ipcchan.PriorityReceiver[[]byte] = (*Queue[[]byte])(nil)
)

// Open opens the queue name ("/jobs") on the JetStream js, making its
// requests to the server within ctx. It takes ipcchan's queue options:
// Create, Exclusive, Capacity, MsgSize, WithCodec, NoEndOfStream and
// LargeMessages, and Pipelined (see the package documentation). Without
// Create the stream must exist; with it, a stream that an earlier natsq
// created without AllowDirect gets it (see the package documentation).
// When Capacity or MsgSize is given and the stream exists with other
// limits, Open fails with ipcchan.ErrExist. The JetStream connection stays
// the caller's: Close does not close it.
func Open[T any](ctx context.Context, js jetstream.JetStream, name string, opts ...ipcchan.Option) (*Queue[T], error) {
	obj := ipcerr.Object{Kind: kind, Name: name}
	o, err := options.Apply(obj, options.Queue|options.Pipeline, opts)
	if err != nil {
		return nil, err
	}
	stream, err := streamName(kind, name, "open")
	if err != nil {
		return nil, err
	}
	if err := checkOpen(obj, o, js); err != nil {
		return nil, err
	}
	w, err := typed.NewWire[T](obj, o.Codec, o.Has(options.NoEOF))
	if err != nil {
		return nil, err
	}
	if o.Has(options.MsgSize) {
		if err := w.CheckMsgSize(o.MsgSize, fmt.Sprintf("MsgSize(%d)", o.MsgSize)); err != nil {
			return nil, err
		}
	}
	q := &Queue[T]{base: base{js: js, obj: obj, stream: stream, done: make(chan struct{})}, w: w}
	q.rx.Obj, q.rx.RenewEvery = obj, holdRenew
	if o.Has(options.Pipeline) {
		q.pipe = newPipeline(o.Pipeline)
	}
	for l := range Levels {
		q.subject[l] = fmt.Sprintf("ipcchan.%s.p%d", stream, l)
	}
	info, err := q.openStream(ctx, o)
	if err != nil {
		return nil, err
	}
	q.bounded = info.Config.MaxMsgs > 0 || info.Config.MaxBytes > 0
	q.maxSize = int(js.Conn().MaxPayload()) - headerRoom
	if s := msgSize(info.Config); s > 0 && s < q.maxSize {
		q.maxSize = s
	}
	w.SetLimit(q.maxSize, fmt.Sprintf("the largest message the stream takes, %d bytes (its MaxMsgSize, or the server's max_payload)", q.maxSize),
		func() string { return "send smaller messages" })
	var cons [Levels]jetstream.Consumer
	for l := range Levels {
		if cons[l], err = q.consumer(ctx, l); err != nil {
			return nil, q.natsError("open", err, fmt.Sprintf("cannot create the consumer of level %d", l))
		}
	}
	q.win = newWindow(obj, js.Conn(), cons, q.done)
	return q, nil
}

// checkOpen refuses what no natsq handle takes: Perm, and a nil JetStream.
func checkOpen(obj ipcerr.Object, o *options.Config, js jetstream.JetStream) error {
	if o.Has(options.Perm) {
		return obj.Err("open", ipcchan.ErrInvalid, fmt.Sprintf("option Perm does not apply to a %s: NATS accounts and permissions decide who may use a stream", obj.Kind))
	}
	if js == nil {
		return obj.Err("open", ipcchan.ErrInvalid, "nil JetStream")
	}
	return nil
}

// consumer creates level l's consumer, or takes the one that exists (with
// whatever AckWait, MaxDeliver ... an operator gave it).
func (q *Queue[T]) consumer(ctx context.Context, l int) (jetstream.Consumer, error) {
	name := consumerName(l)
	c, err := q.js.CreateConsumer(ctx, q.stream, jetstream.ConsumerConfig{
		Durable:       name,
		FilterSubject: q.subject[l],
		AckPolicy:     jetstream.AckExplicitPolicy,
		Description:   fmt.Sprintf("ipcchan queue %s, priority level %d", q.obj.Name, l),
	})
	if errors.Is(err, jetstream.ErrConsumerExists) {
		return q.js.Consumer(ctx, q.stream, name)
	}
	return c, err
}

// consumerName is the name of level l's durable consumer: "p0" to "p3".
func consumerName(l int) string { return fmt.Sprintf("p%d", l) }

// openStream creates or finds the stream and checks its shape.
func (q *Queue[T]) openStream(ctx context.Context, o *options.Config) (*jetstream.StreamInfo, error) {
	cfg := jetstream.StreamConfig{
		Name:        q.stream,
		Description: q.description(),
		Subjects:    q.subject[:],
		Retention:   jetstream.WorkQueuePolicy,
		Storage:     jetstream.FileStorage,
		Discard:     jetstream.DiscardNew,
		MaxMsgs:     -1,
		MaxMsgSize:  -1,
		AllowDirect: true, // direct gets: the NATS tools read the stream without a consumer
	}
	if o.Capacity > 0 {
		cfg.MaxMsgs = int64(o.Capacity)
	}
	setMsgSize(&cfg, o)
	info, created, err := q.createOrFind(ctx, o, cfg)
	if err != nil || created {
		return info, err
	}
	if err := q.checkShape(info.Config, o); err != nil {
		return nil, err
	}
	if o.Has(options.Create) {
		info = q.allowDirect(ctx, info)
	}
	return info, nil
}

// createOrFind creates the stream of cfg, with Create, or finds the
// stream that exists, and returns its info and whether it created it.
func (b *base) createOrFind(ctx context.Context, o *options.Config, cfg jetstream.StreamConfig) (*jetstream.StreamInfo, bool, error) {
	if o.Has(options.Create) {
		s, err := b.js.CreateStream(ctx, cfg)
		for try := 0; try < 3 && isStoreFailure(err); try++ {
			// Seen about once in 300 creations on an embedded server
			// under -race: the store's creation fails and the next
			// attempt works. A lasting cause (a full disk) fails again.
			time.Sleep(10 * time.Millisecond)
			s, err = b.js.CreateStream(ctx, cfg)
		}
		switch {
		case err == nil:
			return s.CachedInfo(), true, nil
		case !errors.Is(err, jetstream.ErrStreamNameAlreadyInUse):
			return nil, false, b.natsError("open", err, "cannot create the stream "+b.stream)
		case o.Has(options.Exclusive):
			return nil, false, &ipcchan.Error{Kind: b.obj.Kind, Name: b.obj.Name, Op: "open", Err: ipcchan.ErrExist, Sys: err,
				Detail: fmt.Sprintf("the stream %s already exists", b.stream),
				Hint:   fmt.Sprintf("open it without Exclusive() to share it, or remove it (%s)", b.unlinkCall())}
		}
	}
	s, err := b.js.Stream(ctx, b.stream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil, false, &ipcchan.Error{Kind: b.obj.Kind, Name: b.obj.Name, Op: "open", Err: ipcchan.ErrNotExist, Sys: err,
			Detail: fmt.Sprintf("the stream %s does not exist", b.stream),
			Hint:   "create it with ipcchan.Create(), or start the program that creates it"}
	}
	if err != nil {
		return nil, false, b.natsError("open", err, "cannot look up the stream "+b.stream)
	}
	return s.CachedInfo(), false, nil
}

// unlinkCall is the call that removes the handle's object, for hints.
func (b *base) unlinkCall() string {
	if b.obj.Kind == topicKind {
		return fmt.Sprintf("natsq.UnlinkTopic(ctx, js, %q)", b.obj.Name)
	}
	return fmt.Sprintf("natsq.Unlink(ctx, js, %q)", b.obj.Name)
}

// setMsgSize sets the MaxMsgSize of a new stream for the MsgSize option,
// and records MsgSize in its metadata.
func setMsgSize(cfg *jetstream.StreamConfig, o *options.Config) {
	if o.MsgSize > 0 {
		cfg.MaxMsgSize = int32(o.MsgSize + headerRoom)
		if cfg.Metadata == nil {
			cfg.Metadata = map[string]string{}
		}
		cfg.Metadata[msgSizeKey] = strconv.Itoa(o.MsgSize)
	}
}

// description is the Description of the streams natsq creates; it tells
// them from the streams an operator made (allowDirect).
func (q *Queue[T]) description() string { return "ipcchan queue " + q.obj.Name }

// allowDirectTimeout bounds the update of allowDirect: a client without
// the permission to update streams gets no answer, only a timeout.
const allowDirectTimeout = 5 * time.Second

// allowDirect adds AllowDirect to a stream that natsq created before it
// set AllowDirect (one with natsq's description), keeping the rest of its
// configuration, and returns the stream's info. A stream an operator made
// is used as it is. It is best effort: when the update fails (no
// permission, an older server), the queue works as before, without direct
// gets, and returns info unchanged.
func (q *Queue[T]) allowDirect(ctx context.Context, info *jetstream.StreamInfo) *jetstream.StreamInfo {
	if info.Config.AllowDirect || info.Config.Description != q.description() {
		return info
	}
	ctx, cancel := context.WithTimeout(ctx, allowDirectTimeout)
	defer cancel()
	cfg := info.Config
	cfg.AllowDirect = true
	s, err := q.js.UpdateStream(ctx, cfg)
	if err != nil {
		return info
	}
	return s.CachedInfo()
}

// checkShape refuses a stream that is not an ipcchan queue, or has other
// limits than those asked for.
func (q *Queue[T]) checkShape(cfg jetstream.StreamConfig, o *options.Config) error {
	has := map[string]bool{}
	for _, s := range cfg.Subjects {
		has[s] = true
	}
	for _, s := range q.subject {
		if !has[s] {
			return q.obj.Err("open", ipcchan.ErrTypeMismatch, fmt.Sprintf(
				"the stream %s exists but is not an ipcchan queue: its subjects %v lack %s", q.stream, cfg.Subjects, s))
		}
	}
	if cfg.Retention != jetstream.WorkQueuePolicy {
		return q.obj.Err("open", ipcchan.ErrTypeMismatch, fmt.Sprintf(
			"the stream %s has %s retention; an ipcchan queue needs work-queue retention", q.stream, cfg.Retention))
	}
	capacity, size := int(max(cfg.MaxMsgs, 0)), msgSize(cfg)
	if (o.Has(options.Capacity) && o.Capacity != capacity) || (o.Has(options.MsgSize) && o.MsgSize != size) {
		e := q.obj.Err("open", ipcchan.ErrExist, fmt.Sprintf(
			"the stream %s exists with Capacity %d and MsgSize %d (0: no limit), not those asked for", q.stream, capacity, size))
		e.Hint = fmt.Sprintf("open it without Capacity/MsgSize, or remove it first (%s)", q.unlinkCall())
		return e
	}
	return nil
}

// headerRoom is what a stream's MaxMsgSize allows beyond MsgSize for the
// headers of a message (JetStream counts them): the priority and the
// expected stream's name.
const headerRoom = 512

// msgSizeKey is the stream's metadata entry that records MsgSize.
const msgSizeKey = "ipcchan-msgsize"

// msgSize is the MsgSize of a stream: as recorded at its creation, or else
// what its MaxMsgSize leaves beside the headers (0: no limit).
func msgSize(cfg jetstream.StreamConfig) int {
	if n, err := strconv.Atoi(cfg.Metadata[msgSizeKey]); err == nil {
		return n
	}
	if cfg.MaxMsgSize <= 0 {
		return 0
	}
	return max(int(cfg.MaxMsgSize)-headerRoom, 1)
}

// errCodeSealed is JetStream's JSStreamSealedErr ("invalid operation on
// sealed stream"), which has no constant in nats.go.
const errCodeSealed jetstream.ErrorCode = 10109

// isSealed tells JetStream's refusal of an operation on a sealed stream.
func isSealed(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode == errCodeSealed
}

// isStoreFailure tells JetStream's "error creating store for stream".
func isStoreFailure(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && apiErr.Code == 500 && strings.Contains(apiErr.Description, "creating store")
}

// streamName checks name, of an object of kind k, and returns its base:
// the name without its slash, which is a queue's stream.
func streamName(k, name, op string) (string, error) {
	if err := ipcchan.CheckName(name); err != nil {
		var e *ipcchan.Error
		if errors.As(err, &e) {
			e.Kind, e.Op = k, op
		}
		return "", err
	}
	base := name[1:]
	for _, r := range base {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return "", &ipcchan.Error{Kind: k, Name: name, Op: op, Err: ipcchan.ErrInvalidName, Detail: fmt.Sprintf(
				"invalid name: %q is not allowed in a NATS stream or subject name; use letters, digits, '-' and '_' after the slash", r)}
		}
	}
	return base, nil
}

// Name returns the name of the queue or topic, as given to its Open.
func (b *base) Name() string { return b.obj.Name }

// Stream returns the name of the JetStream stream behind the queue or
// topic.
func (b *base) Stream() string { return b.stream }

// Attr describes the queue: Capacity is the stream's MaxMsgs (0: no
// limit), MsgSize the largest message this handle sends, and Len the
// messages in the stream, including those delivered but not yet
// acknowledged. It asks the server, waiting at most 10 seconds.
func (q *Queue[T]) Attr() (ipcchan.QueueAttr, error) {
	info, err := q.streamInfo()
	if err != nil {
		return ipcchan.QueueAttr{}, err
	}
	return ipcchan.QueueAttr{Capacity: int(max(info.Config.MaxMsgs, 0)), MsgSize: q.maxSize, Len: int(info.State.Msgs)}, nil
}

// streamInfo asks the server for the stream's configuration and state,
// for Attr, waiting at most attrTimeout.
func (b *base) streamInfo() (*jetstream.StreamInfo, error) {
	ctx, cancel := context.WithTimeout(context.Background(), attrTimeout)
	defer cancel()
	s, err := b.js.Stream(ctx, b.stream)
	if err != nil {
		return nil, b.natsError("attr", err, "cannot read the stream's state")
	}
	return s.CachedInfo(), nil
}

// Close closes this handle: waiting calls return ipcchan.ErrClosed, the
// Recv channel closes, and what the handle held (a message that Recv had
// read ahead, its window) goes back to the stream, in its order: Close
// waits until the server has taken it back (up to 5 s each for the
// levels), so that a receiver that follows finds it there. A Pipelined
// handle first waits (up to 10 s) for its messages in flight to be
// stored, and returns an *UnsentError for those that were not. The queue
// and the JetStream connection stay. Closing twice is harmless.
func (q *Queue[T]) Close() error {
	var flushErr error
	if q.pipe != nil && !q.closed() { // what is in flight is stored, or reported, before the handle goes
		ctx, cancel := context.WithTimeout(context.Background(), closeFlushTimeout)
		flushErr = q.Flush(ctx)
		cancel()
	}
	// What Recv read ahead goes back first, and with it, behind it, what
	// the window holds of its level (putBack): one give-back, not two.
	rxErr := q.rx.Close()
	q.closeOnce.Do(q.win.close)
	if rxErr != nil {
		return rxErr
	}
	return flushErr
}

// closeFlushTimeout bounds how long Close waits for the acknowledgements
// of a Pipelined handle's messages in flight.
const closeFlushTimeout = 10 * time.Second

// Unlink removes the queue's stream, with every message in it.
func (q *Queue[T]) Unlink(ctx context.Context) error { return Unlink(ctx, q.js, q.obj.Name) }

// Unlink removes the queue name's stream, with every message in it,
// making its request to the server within ctx.
func Unlink(ctx context.Context, js jetstream.JetStream, name string) error {
	stream, err := streamName(kind, name, "unlink")
	if err != nil {
		return err
	}
	return deleteStream(ctx, js, ipcerr.Object{Kind: kind, Name: name}, stream)
}

// deleteStream deletes the stream of obj.
func deleteStream(ctx context.Context, js jetstream.JetStream, obj ipcerr.Object, stream string) error {
	err := js.DeleteStream(ctx, stream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return &ipcchan.Error{Kind: obj.Kind, Name: obj.Name, Op: "unlink", Err: ipcchan.ErrNotExist, Sys: err}
	}
	if err != nil {
		return &ipcchan.Error{Kind: obj.Kind, Name: obj.Name, Op: "unlink", Sys: err, Detail: "cannot delete the stream " + stream + ": " + err.Error()}
	}
	return nil
}

func (b *base) closed() bool {
	select {
	case <-b.done:
		return true
	default:
		return false
	}
}

// natsError wraps an error of the NATS client, saying what failed.
func (b *base) natsError(op string, err error, what string) *ipcchan.Error {
	e := &ipcchan.Error{Kind: b.obj.Kind, Name: b.obj.Name, Op: op, Sys: err, Detail: what + ": " + err.Error()}
	down := b.connDown()
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		e.Err = err
		if down != "" && errors.Is(err, context.DeadlineExceeded) {
			e.Detail = what + ": timed out while the NATS connection is " + down
		}
	case errors.Is(err, nats.ErrConnectionClosed):
		e.Err = ipcchan.ErrClosed
		e.Detail = what + ": the NATS connection is closed"
	case errors.Is(err, jetstream.ErrStreamNotFound):
		e.Err = ipcchan.ErrNotExist
		e.Detail = fmt.Sprintf("%s: the stream %s no longer exists (deleted?)", what, b.stream)
	case isSealed(err):
		e.Err = ipcchan.ErrClosed
		e.Detail = fmt.Sprintf("%s: the stream %s is sealed: its stream of messages has ended (CloseSend), and it takes no more", what, b.stream)
	case errors.Is(err, jetstream.ErrConsumerNotFound), errors.Is(err, jetstream.ErrConsumerDeleted):
		e.Err = ipcchan.ErrNotExist
		e.Detail = fmt.Sprintf("%s: a consumer of the stream %s was deleted", what, b.stream)
	case errors.Is(err, jetstream.ErrServerShutdown):
		e.Detail = what + ": the NATS server is shutting down"
	case down != "" && connectionLevel(err):
		// No answer while the connection is down says nothing of the
		// server's JetStream.
		e.Detail = what + ": the NATS connection is " + down + ": no JetStream answers until it is back (" + err.Error() + ")"
	case errors.Is(err, jetstream.ErrJetStreamNotEnabled), errors.Is(err, nats.ErrNoResponders):
		e.Detail = what + ": no JetStream answers on this connection (is the server started with JetStream enabled, -js?)"
	}
	return e
}

// connectionLevel tells the failures of the NATS client that a
// connection going down causes: no answer, or no connection to send on.
func connectionLevel(err error) bool {
	return errors.Is(err, nats.ErrNoResponders) || errors.Is(err, jetstream.ErrJetStreamNotEnabled) || errors.Is(err, nats.ErrTimeout) ||
		errors.Is(err, nats.ErrConnectionReconnecting) || errors.Is(err, nats.ErrDisconnected) || errors.Is(err, nats.ErrReconnectBufExceeded) ||
		errors.Is(err, jetstream.ErrNoHeartbeat)
}

// connDown says how the NATS connection is down ("down (reconnecting)"),
// or returns "" while it is connected.
func (b *base) connDown() string {
	nc := b.js.Conn()
	if nc == nil {
		return ""
	}
	switch s := nc.Status(); s {
	case nats.CONNECTED, nats.DRAINING_SUBS, nats.DRAINING_PUBS:
		return ""
	case nats.CLOSED:
		return "closed"
	default:
		return "down (" + strings.ToLower(s.String()) + ")"
	}
}
