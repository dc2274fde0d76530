package natsq

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ipcchan/ipcchan/internal/typed"
	"github.com/ipcchan/ipcchan/ipcchan"
)

// A Subscription is one subscriber's view of a NATS topic: the messages
// published since it subscribed (plus the topic's History), in the
// stream's order, each once. It is an ipcchan.Receiver; its methods are
// safe for concurrent use, and each message goes to one of the goroutines
// that receive on it (for every message to reach several goroutines, give
// each its own subscription).
//
// It is a JetStream ordered consumer (ephemeral, in the server's memory,
// without acknowledgements) which this process reads ahead of its
// receives, up to 64 messages (or the Capacity, if smaller). Close it when
// done: Close deletes the consumer; one that is dropped without Close is
// removed by the server 5 minutes after its process stopped asking.
type Subscription[T any] struct {
	t  *Topic[T]
	rx typed.Receiving[T]

	msgs     chan delivery // from the pump, in the stream's order
	pumpDone chan struct{} // closed when the pump has returned
	pumpErr  error         // why: io.EOF after the end of the stream; read after pumpDone
	done     chan struct{} // closed by Close

	missed atomic.Uint64
	ended  atomic.Bool // a receive returned the end of the stream

	mu   sync.Mutex         // guards cons and it, which the pump replaces when it resumes
	cons jetstream.Consumer // the ordered consumer, whose server side Close deletes
	it   jetstream.MessagesContext

	closeOnce sync.Once
}

// A delivery is a message the pump hands over, with the number of the
// stream's messages that were gone before it (Missed).
type delivery struct {
	m   jetstream.Msg
	gap uint64
}

// readAhead is how many messages a subscription takes from the server
// ahead of its receives, at most.
const readAhead = 64

// subscribeTimeout bounds the requests of Subscribe, which has no ctx
// (the signature of ipcchan.Topic.Subscribe), and of a subscription that
// resumes.
const subscribeTimeout = 10 * time.Second

// Subscribe starts a subscription: from the next message published, after
// the last History(n) messages the stream holds. On a topic whose stream
// has ended, it gets that history and then the end of the stream. It
// makes two requests to the server, within 10 seconds (or until Close);
// it fails with ipcchan.ErrLimit when the stream has as many consumers as
// its Subscribers.
func (t *Topic[T]) Subscribe() (*Subscription[T], error) {
	if t.closed() {
		return nil, t.obj.Closed("subscribe")
	}
	ctx, cancel := doneCtx(t.done, subscribeTimeout)
	defer cancel()
	st, err := t.js.Stream(ctx, t.stream)
	if err != nil {
		return nil, t.subscribeError(err, "cannot look up the stream "+t.stream)
	}
	state := st.CachedInfo().State
	// The first message it gets: after the last one stored, or the
	// History before it, as far as the stream still has them.
	start := state.LastSeq + 1
	if h := uint64(t.history); h > 0 {
		start = max(start-min(h, state.LastSeq), state.FirstSeq, 1)
	}
	// The consumer starts at the last message stored at least, which a
	// subscription without history takes only if it is the end of the
	// stream: so a subscription to an ended topic ends.
	from := start
	if state.Msgs > 0 {
		from = min(from, state.LastSeq)
	}
	s := &Subscription[T]{t: t, msgs: make(chan delivery), pumpDone: make(chan struct{}), done: make(chan struct{})}
	s.rx.Obj = t.obj
	it, err := s.consume(ctx, from)
	if err != nil {
		return nil, t.subscribeError(err, "cannot create the subscription's consumer")
	}
	t.mu.Lock()
	if t.subs == nil { // Close ran meanwhile
		t.mu.Unlock()
		s.stop()
		deleteConsumer(t.js, t.stream, s.cons)
		return nil, t.obj.Closed("subscribe")
	}
	t.subs[s] = struct{}{}
	t.mu.Unlock()
	go s.pump(it, start)
	return s, nil
}

// subscribeError explains a failure of Subscribe's requests.
func (t *Topic[T]) subscribeError(err error, what string) error {
	switch {
	case t.closed():
		return t.obj.Closed("subscribe")
	case errors.Is(err, jetstream.ErrMaximumConsumersLimit):
		e := t.natsError("subscribe", err, what)
		e.Err = ipcchan.ErrLimit
		e.Detail = fmt.Sprintf("%s: the stream %s has as many consumers as its Subscribers (MaxConsumers)", what, t.stream)
		e.Hint = fmt.Sprintf("close subscriptions that are done, or make the topic again with a larger Subscribers(n) (%s, then OpenTopic with Subscribers)", t.unlinkCall())
		return e
	}
	return t.natsError("subscribe", err, what)
}

// consume starts an ordered consumer at the stream sequence from, and the
// reading ahead of its messages.
func (s *Subscription[T]) consume(ctx context.Context, from uint64) (jetstream.MessagesContext, error) {
	cons, err := s.t.js.OrderedConsumer(ctx, s.t.stream, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{s.t.subject},
		DeliverPolicy:  jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:    from,
		// One attempt at each reset of the consumer (a heartbeat
		// missed, the connection back): the pump resumes after a
		// failure itself, in a way that Close ends.
		MaxResetAttempts: 1,
	})
	if err != nil {
		return nil, err
	}
	n := readAhead
	if s.t.capacity > 0 {
		n = min(n, s.t.capacity)
	}
	it, err := cons.Messages(jetstream.PullMaxMessages(n))
	if err != nil {
		deleteConsumer(s.t.js, s.t.stream, cons)
		return nil, err
	}
	s.mu.Lock()
	s.cons, s.it = cons, it
	s.mu.Unlock()
	return it, nil
}

// pump takes the subscription's messages from the server, in the
// stream's order, and hands them to its receives, each with the number of
// messages gone before it (the stream dropped them before this
// subscription read them). next is the sequence of the message it expects
// next; a message before it is looked at only for the end of the stream.
// After a failure of the consumer it resumes at next, until Close, or
// until asking again cannot mend it (the stream deleted).
func (s *Subscription[T]) pump(it jetstream.MessagesContext, next uint64) {
	defer close(s.pumpDone)
	for {
		m, err := it.Next()
		if err != nil {
			it.Stop()
			if s.isClosed() {
				return
			}
			if it, err = s.resume(next, err); err != nil {
				s.pumpErr = err
				return
			}
			continue
		}
		md, err := m.Metadata()
		if err != nil {
			continue // not a message of the stream: an ordered consumer does not deliver one
		}
		seq, eof := md.Sequence.Stream, s.t.w.IsEOF(m.Data())
		if seq < next && !eof {
			continue
		}
		d := delivery{m: m}
		if seq > next {
			d.gap = seq - next
		}
		next = max(next, seq+1)
		select {
		case s.msgs <- d:
		case <-s.done:
			return
		}
		if eof {
			it.Stop()
			s.pumpErr = io.EOF
			return
		}
	}
}

// The pauses of a subscription that resumes after a failure.
const (
	minResumePause = 100 * time.Millisecond
	maxResumePause = 2 * time.Second
)

// resume starts a new consumer at next after its consumer failed with
// cause, trying again after a pause that grows from 100 ms to 2 s while
// it fails: a NATS server restarting, the connection down. A stream
// deleted, or a connection closed for good, ends the subscription with
// that error; Close ends it with ErrClosed.
func (s *Subscription[T]) resume(next uint64, cause error) (jetstream.MessagesContext, error) {
	pause := minResumePause
	for {
		switch {
		case errors.Is(cause, jetstream.ErrConnectionClosed):
			cause = nats.ErrConnectionClosed // as natsError tells it
			fallthrough
		case errors.Is(cause, jetstream.ErrStreamNotFound), errors.Is(cause, nats.ErrConnectionClosed):
			return nil, s.t.natsError("receive", cause, "cannot receive")
		}
		t := time.NewTimer(pause)
		select {
		case <-t.C:
		case <-s.done:
			t.Stop()
			return nil, s.t.obj.Closed("receive")
		}
		s.mu.Lock()
		old := s.cons
		s.mu.Unlock()
		ctx, cancel := doneCtx(s.done, subscribeTimeout)
		_, err := s.t.js.Stream(ctx, s.t.stream)
		var it jetstream.MessagesContext
		if err == nil {
			it, err = s.consume(ctx, next)
		}
		cancel()
		if err == nil {
			go deleteConsumer(s.t.js, s.t.stream, old) // if the server still has it
			if s.isClosed() {                          // Close came meanwhile, and stopped the one before
				s.stop()
				return nil, s.t.obj.Closed("receive")
			}
			return it, nil
		}
		cause = err
		pause = min(2*pause, maxResumePause)
	}
}

// Name returns the topic's name.
func (s *Subscription[T]) Name() string { return s.t.obj.Name }

// Missed is how many messages this subscription lost before the last one
// it received: messages the stream no longer held when the subscription
// came to them (it keeps the last Capacity; an operator may delete
// some), and the part of its History the stream dropped while it
// subscribed. It is exact: each message carries its stream sequence, and
// a gap is what was missed.
func (s *Subscription[T]) Missed() uint64 { return s.missed.Load() }

func (s *Subscription[T]) isClosed() bool {
	select {
	case <-s.done:
		return true
	default:
		return s.t.closed()
	}
}

// Receive returns the next message, waiting until one is published, ctx
// is done or the subscription is closed; io.EOF after the end of the
// stream (CloseSend) once every message published before it is received.
// A message that does not decode as T is a *ipcchan.MessageError holding
// its bytes. A subscription rides out a restart of the server and a
// connection that drops (it resumes where it was); it fails with
// ipcchan.ErrNotExist if the stream is deleted.
func (s *Subscription[T]) Receive(ctx context.Context) (T, error) {
	v, _, err := s.rx.Receive(ctx, true, func() (T, uint, error) { return s.receive(ctx, true) })
	return v, err
}

// TryReceive returns the next message, or ipcchan.ErrEmpty at once if none
// has reached this process yet (io.EOF after the end of the stream). As
// for a Queue, JetStream passes a message to its consumers
// asynchronously: for an instant after Send returns, TryReceive may still
// report ErrEmpty.
func (s *Subscription[T]) TryReceive() (T, error) {
	ctx := context.Background()
	v, _, err := s.rx.Receive(ctx, false, func() (T, uint, error) { return s.receive(ctx, false) })
	return v, err
}

func (s *Subscription[T]) receive(ctx context.Context, block bool) (T, uint, error) {
	var zero T
	switch {
	case s.ended.Load():
		return zero, 0, io.EOF
	case s.isClosed():
		return zero, 0, s.t.obj.Closed("receive")
	}
	var d delivery
	select {
	case d = <-s.msgs:
	case <-s.pumpDone:
		return zero, 0, s.pumpErr
	default:
		if !block {
			return zero, 0, s.t.obj.Err("receive", ipcchan.ErrEmpty, "no message has come yet")
		}
		select {
		case d = <-s.msgs:
		case <-s.pumpDone:
			return zero, 0, s.pumpErr
		case <-ctx.Done():
			return zero, 0, s.t.obj.Ended("receive", context.Cause(ctx), "a message")
		case <-s.done:
			return zero, 0, s.t.obj.Closed("receive")
		case <-s.t.done:
			return zero, 0, s.t.obj.Closed("receive")
		}
	}
	s.missed.Add(d.gap)
	data := d.m.Data()
	if s.t.w.IsEOF(data) {
		s.ended.Store(true)
		return zero, 0, io.EOF
	}
	v, err := s.t.w.DecodeOwned(data, 0) // the client made the message's bytes for it alone
	return v, 0, err
}

// Recv returns the channel of the subscription's messages, fed by a
// goroutine that holds at most one (which Close drops: the subscription
// is over). The channel closes at the end of the stream, on Close, or on
// an error, which Err then returns.
func (s *Subscription[T]) Recv() <-chan T { return s.rx.Recv(s.take) }

func (s *Subscription[T]) take(ctx context.Context) (typed.Taken[T], error) {
	v, _, err := s.receive(ctx, true)
	return typed.Taken[T]{Value: v}, err
}

// Err returns the error that ended the Recv channel, or nil.
func (s *Subscription[T]) Err() error { return s.rx.Err() }

// All iterates over the subscription's messages until the end of the
// stream, taking each only when the loop asks for it.
func (s *Subscription[T]) All(ctx context.Context) iter.Seq2[T, error] {
	return typed.All(ctx, s.Receive)
}

// Close ends the subscription and deletes its consumer on the server
// (waiting up to 5 s for the answer): every goroutine blocked on it
// returns ipcchan.ErrClosed. Calling Close twice is harmless.
func (s *Subscription[T]) Close() error {
	err := s.rx.Close()
	s.closeOnce.Do(func() {
		close(s.done)
		s.stop()
		<-s.pumpDone
		s.mu.Lock()
		cons := s.cons
		s.mu.Unlock()
		deleteConsumer(s.t.js, s.t.stream, cons)
		s.t.mu.Lock()
		delete(s.t.subs, s)
		s.t.mu.Unlock()
	})
	return err
}

// stop stops the reading of the current consumer.
func (s *Subscription[T]) stop() {
	s.mu.Lock()
	it := s.it
	s.mu.Unlock()
	if it != nil {
		it.Stop()
	}
}

// deleteTimeout bounds the deletion of a subscription's consumer.
const deleteTimeout = 5 * time.Second

// deleteConsumer deletes the server side of an ordered consumer, best
// effort: the server removes it anyway once it is inactive.
func deleteConsumer(js jetstream.JetStream, stream string, cons jetstream.Consumer) {
	if cons == nil {
		return
	}
	info := cons.CachedInfo()
	if info == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), deleteTimeout)
	defer cancel()
	js.DeleteConsumer(ctx, stream, info.Name)
}
