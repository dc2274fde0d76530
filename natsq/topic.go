package natsq

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ipcchan/ipcchan/internal/ipcerr"
	"github.com/ipcchan/ipcchan/internal/options"
	"github.com/ipcchan/ipcchan/internal/typed"
	"github.com/ipcchan/ipcchan/ipcchan"
)

// topicKind is how errors name a topic.
const topicKind = "NATS topic"

// topicPrefix starts the name of a topic's stream: "/ticks" is the stream
// "topic_ticks", whose subject is "ipcchan.topic_ticks".
const topicPrefix = "topic_"

// defaultTopicCapacity is the Capacity of a topic created without one, as
// in shared memory.
const defaultTopicCapacity = 1024

// The stream metadata that records a topic's History and Overflow.
const (
	historyKey  = "ipcchan-history"
	overflowKey = "ipcchan-overflow"
)

// A Topic is publish/subscribe on a NATS JetStream stream: every
// subscription, in any process on any machine, sees the messages
// published after it subscribed (plus the last History(n) published
// before), in each publisher's order. It is an ipcchan.Sender[T], and its
// Subscription an ipcchan.Receiver[T], as ipcchan.Topic and its
// Subscription are: code written for those moves to many machines by
// changing its Open. Its methods are safe for concurrent use. See the
// package documentation (Topics) for the stream, and for what Overflow
// means on NATS.
type Topic[T any] struct {
	base
	subject  string // "ipcchan.topic_ticks"
	w        *typed.Wire[T]
	capacity int                    // the stream's MaxMsgs (0: no limit)
	history  int                    // the topic's History
	overflow ipcchan.OverflowPolicy // as recorded, or Block
	maxSize  int                    // largest message: the stream's MaxMsgSize or the server's max_payload
	ended    atomic.Bool            // this handle ended the stream (CloseSend)

	closeOnce sync.Once
	mu        sync.Mutex
	subs      map[*Subscription[T]]struct{} // open subscriptions, which Close closes; nil once closed
}

var (
	_ ipcchan.Sender[[]byte]   = (*Topic[[]byte])(nil)
	_ ipcchan.Receiver[[]byte] = (*Subscription[[]byte])(nil)
)

// OpenTopic opens the topic name ("/ticks") on the JetStream js, making
// its requests to the server within ctx. It takes ipcchan's topic options:
// Create, Exclusive, Capacity (the stream's MaxMsgs, the messages it
// keeps; default 1024), MsgSize (as for Open: without it, the server's
// max_payload bounds messages), WithCodec, History (default 0, at most the
// Capacity), Overflow (Block or DropOldest; see the package documentation
// for what they mean on NATS) and Subscribers (the stream's MaxConsumers;
// default no limit). Without Create the stream must exist. When an option
// of the topic's shape is given and the stream exists with another value,
// OpenTopic fails with ipcchan.ErrExist. The JetStream connection stays
// the caller's: Close does not close it.
func OpenTopic[T any](ctx context.Context, js jetstream.JetStream, name string, opts ...ipcchan.Option) (*Topic[T], error) {
	obj := ipcerr.Object{Kind: topicKind, Name: name}
	o, err := options.Apply(obj, options.Topic, opts)
	if err != nil {
		return nil, err
	}
	stream, err := topicStream(name, "open")
	if err != nil {
		return nil, err
	}
	if err := checkOpen(obj, o, js); err != nil {
		return nil, err
	}
	capacity := defaultTopicCapacity
	if o.Has(options.Capacity) {
		capacity = o.Capacity
	}
	if o.History > capacity {
		return nil, obj.Err("open", ipcchan.ErrInvalid, fmt.Sprintf("History(%d) is more than the Capacity, %d: a topic keeps at most Capacity messages", o.History, capacity))
	}
	w, err := typed.NewWire[T](obj, o.Codec, false) // a message of zero bytes ends the stream
	if err != nil {
		return nil, err
	}
	if o.Has(options.MsgSize) {
		if err := w.CheckMsgSize(o.MsgSize, fmt.Sprintf("MsgSize(%d)", o.MsgSize)); err != nil {
			return nil, err
		}
	}
	t := &Topic[T]{base: base{js: js, obj: obj, stream: stream, done: make(chan struct{})}, subject: "ipcchan." + stream, w: w,
		subs: map[*Subscription[T]]struct{}{}}
	cfg := jetstream.StreamConfig{
		Name:         stream,
		Description:  t.description(),
		Subjects:     []string{t.subject},
		Retention:    jetstream.LimitsPolicy,
		Storage:      jetstream.FileStorage,
		Discard:      jetstream.DiscardOld,
		MaxMsgs:      int64(capacity),
		MaxMsgSize:   -1,
		MaxConsumers: -1,
		AllowDirect:  true,
		Metadata:     map[string]string{historyKey: strconv.Itoa(o.History), overflowKey: ipcchan.OverflowPolicy(o.Overflow).String()},
	}
	if o.Has(options.Subscribers) {
		cfg.MaxConsumers = o.Subscribers
	}
	setMsgSize(&cfg, o)
	info, created, err := t.createOrFind(ctx, o, cfg)
	if err != nil {
		return nil, err
	}
	if !created {
		if err := t.checkShape(info.Config, o); err != nil {
			return nil, err
		}
	}
	t.capacity = int(max(info.Config.MaxMsgs, 0))
	t.history, _ = strconv.Atoi(info.Config.Metadata[historyKey])
	if info.Config.Metadata[overflowKey] == ipcchan.DropOldest.String() {
		t.overflow = ipcchan.DropOldest
	}
	t.maxSize = int(js.Conn().MaxPayload()) - headerRoom
	if s := msgSize(info.Config); s > 0 && s < t.maxSize {
		t.maxSize = s
	}
	w.SetLimit(t.maxSize, fmt.Sprintf("the largest message the stream takes, %d bytes (its MaxMsgSize, or the server's max_payload)", t.maxSize),
		func() string { return "send smaller messages" })
	return t, nil
}

// maxStreamName is the longest name JetStream gives a stream.
const maxStreamName = 255

// topicStream checks name and returns the name of its topic's stream.
func topicStream(name, op string) (string, error) {
	bn, err := streamName(topicKind, name, op)
	if err != nil {
		return "", err
	}
	if stream := topicPrefix + bn; len(stream) <= maxStreamName {
		return stream, nil
	}
	return "", &ipcchan.Error{Kind: topicKind, Name: name, Op: op, Err: ipcchan.ErrInvalidName, Detail: fmt.Sprintf(
		"invalid name: its stream, %s followed by the name, would be %d characters, more than NATS allows (%d)", topicPrefix, len(topicPrefix)+len(bn), maxStreamName)}
}

// description is the Description of the topic streams natsq creates; it
// tells them from the streams an operator made (CloseSend seals only
// those).
func (t *Topic[T]) description() string { return "ipcchan topic " + t.obj.Name }

// checkShape refuses a stream that is not an ipcchan topic (a queue's, or
// an operator's of another kind), or that has another shape than the
// options given.
func (t *Topic[T]) checkShape(cfg jetstream.StreamConfig, o *options.Config) error {
	hasSubject := false
	for _, s := range cfg.Subjects {
		hasSubject = hasSubject || s == t.subject
	}
	switch {
	case !hasSubject:
		return t.obj.Err("open", ipcchan.ErrTypeMismatch, fmt.Sprintf(
			"the stream %s exists but is not an ipcchan topic: its subjects %v lack %s (a queue of that name?)", t.stream, cfg.Subjects, t.subject))
	case cfg.Retention != jetstream.LimitsPolicy:
		return t.obj.Err("open", ipcchan.ErrTypeMismatch, fmt.Sprintf(
			"the stream %s has %s retention; an ipcchan topic needs limits retention", t.stream, cfg.Retention))
	}
	capacity, size, subs := int(max(cfg.MaxMsgs, 0)), msgSize(cfg), max(cfg.MaxConsumers, 0)
	history, overflow := cfg.Metadata[historyKey], cfg.Metadata[overflowKey]
	if history == "" {
		history = "0"
	}
	if overflow == "" {
		overflow = ipcchan.Block.String()
	}
	if (o.Has(options.Capacity) && o.Capacity != capacity) || (o.Has(options.MsgSize) && o.MsgSize != size) ||
		(o.Has(options.History) && strconv.Itoa(o.History) != history) ||
		(o.Has(options.Overflow) && ipcchan.OverflowPolicy(o.Overflow).String() != overflow) ||
		(o.Has(options.Subscribers) && o.Subscribers != subs) {
		e := t.obj.Err("open", ipcchan.ErrExist, fmt.Sprintf(
			"the stream %s exists with Capacity %d, MsgSize %d, History %s, Overflow %s and Subscribers %d (0: no limit), not those asked for",
			t.stream, capacity, size, history, overflow, subs))
		e.Hint = fmt.Sprintf("open it without those options, or remove it first (%s)", t.unlinkCall())
		return e
	}
	return nil
}

// Attr describes the topic: Capacity is the stream's MaxMsgs (0: no
// limit), MsgSize the largest message this handle sends, Subscribers the
// stream's MaxConsumers (0: no limit), Subscriptions its consumers now,
// Published its last sequence number (the messages ever published to it,
// with the end of the stream), Ended whether the stream is sealed (or
// this handle ended it). It asks the server, waiting at most 10 seconds.
func (t *Topic[T]) Attr() (ipcchan.TopicAttr, error) {
	info, err := t.streamInfo()
	if err != nil {
		return ipcchan.TopicAttr{}, err
	}
	return ipcchan.TopicAttr{Capacity: int(max(info.Config.MaxMsgs, 0)), MsgSize: t.maxSize, History: t.history, Overflow: t.overflow,
		Subscribers: max(info.Config.MaxConsumers, 0), Subscriptions: info.State.Consumers, Published: info.State.LastSeq,
		Ended: info.Config.Sealed || t.ended.Load()}, nil
}

// Send publishes v. It returns once JetStream has stored the message; it
// never waits for subscribers (see the package documentation on
// Overflow). After CloseSend it fails with ipcchan.ErrClosed.
func (t *Topic[T]) Send(ctx context.Context, v T) error { return t.send(ctx, v) }

// TrySend is Send: a topic on NATS is never full. It still waits for
// JetStream's acknowledgement.
func (t *Topic[T]) TrySend(v T) error { return t.send(context.Background(), v) }

func (t *Topic[T]) send(ctx context.Context, v T) error {
	if t.ended.Load() {
		return t.obj.Err("send", ipcchan.ErrClosed, "the stream has ended (CloseSend): no message may follow")
	}
	data, err := t.w.Encode(nil, &v)
	if err != nil {
		return err
	}
	return t.publish(ctx, "send", &nats.Msg{Subject: t.subject, Data: data}, false)
}

// CloseSend ends the stream for every subscription, present and future:
// it publishes the zero-byte message after which each subscription's
// Receive returns io.EOF and Recv and All end, and then seals the stream
// (if natsq created it), so that later sends, from any handle, fail with
// ipcchan.ErrClosed. It is final until the topic is removed. Sealing is
// best effort: a client without the permission to update streams leaves
// the stream unsealed, and then only this handle refuses later sends.
// Calling it again is harmless.
func (t *Topic[T]) CloseSend(ctx context.Context) error {
	if t.ended.Load() {
		return nil
	}
	err := t.publish(ctx, "close send", &nats.Msg{Subject: t.subject}, false)
	if isSealed(err) {
		t.ended.Store(true)
		return nil // ended before
	}
	if err != nil {
		return err
	}
	t.ended.Store(true)
	t.seal(ctx)
	return nil
}

// seal seals a stream that natsq created, best effort, within
// allowDirectTimeout (a client without the permission to update streams
// gets no answer).
func (t *Topic[T]) seal(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, allowDirectTimeout)
	defer cancel()
	s, err := t.js.Stream(ctx, t.stream)
	if err != nil {
		return
	}
	cfg := s.CachedInfo().Config
	if cfg.Sealed || cfg.Description != t.description() {
		return
	}
	cfg.Sealed = true
	t.js.UpdateStream(ctx, cfg)
}

// Close closes this handle and the subscriptions made with it; the topic
// stays until Unlink. Every goroutine blocked on the handle or its
// subscriptions returns ipcchan.ErrClosed. Calling Close twice is
// harmless.
func (t *Topic[T]) Close() error {
	t.closeOnce.Do(func() { close(t.done) })
	t.mu.Lock()
	subs := t.subs
	t.subs = nil
	t.mu.Unlock()
	for s := range subs {
		s.Close()
	}
	return nil
}

// Unlink removes the topic's stream, with every message in it.
func (t *Topic[T]) Unlink(ctx context.Context) error { return UnlinkTopic(ctx, t.js, t.obj.Name) }

// UnlinkTopic removes the stream of the topic name, with every message in
// it, making its requests to the server within ctx. A stream of that name
// that is not a topic's (a queue "/topic_ticks" has the stream of the
// topic "/ticks") is left alone: ipcchan.ErrTypeMismatch.
func UnlinkTopic(ctx context.Context, js jetstream.JetStream, name string) error {
	obj := ipcerr.Object{Kind: topicKind, Name: name}
	stream, err := topicStream(name, "unlink")
	if err != nil {
		return err
	}
	s, err := js.Stream(ctx, stream)
	switch {
	case errors.Is(err, jetstream.ErrStreamNotFound):
		return &ipcchan.Error{Kind: topicKind, Name: name, Op: "unlink", Err: ipcchan.ErrNotExist, Sys: err}
	case err != nil:
		return &ipcchan.Error{Kind: topicKind, Name: name, Op: "unlink", Sys: err, Detail: "cannot look up the stream " + stream + ": " + err.Error()}
	}
	subject := "ipcchan." + stream
	for _, sub := range s.CachedInfo().Config.Subjects {
		if sub == subject {
			return deleteStream(ctx, js, obj, stream)
		}
	}
	return obj.Err("unlink", ipcchan.ErrTypeMismatch, fmt.Sprintf("the stream %s is not an ipcchan topic (its subjects lack %s), and is left as it is", stream, subject))
}

// doneCtx is a context that ends after d, or when done is closed.
func doneCtx(done <-chan struct{}, d time.Duration) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	go func() {
		select {
		case <-done:
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, cancel
}
