package natsq_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ipcchan/ipcchan/internal/natstest"
	"github.com/ipcchan/ipcchan/ipcchan"
	"github.com/ipcchan/ipcchan/natsq"
)

// TestStreamAllowsDirectGets: the stream of a queue allows direct gets, as
// the NATS tools use them (nats stream view): the server answers a direct
// get with a message's bytes, and the message stays in the queue.
func TestStreamAllowsDirectGets(t *testing.T) {
	js, nc := natstest.ConnectConn(t, natstest.Server(t))
	tr := transport{name: "nats", js: js}
	q, err := natsq.Open[[]byte](t.Context(), js, tr.newName(t), ipcchan.Create())
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	s, err := js.Stream(t.Context(), q.Stream())
	if err != nil {
		t.Fatal(err)
	}
	if !s.CachedInfo().Config.AllowDirect {
		t.Errorf("the stream %s was created without AllowDirect", q.Stream())
	}
	want := []byte("seen from outside")
	if err := q.SendPriority(t.Context(), want, 42); err != nil {
		t.Fatal(err)
	}
	subject := fmt.Sprintf("ipcchan.%s.p%d", q.Stream(), natsq.Level(42))

	// What nats stream view sends: a request to the direct-get API, which
	// only a stream with AllowDirect answers (else: no responders).
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	resp, err := nc.RequestWithContext(ctx, "$JS.API.DIRECT.GET."+q.Stream(), []byte(`{"seq":1}`))
	if err != nil {
		t.Fatalf("direct get: %v", err)
	}
	if string(resp.Data) != string(want) || resp.Header.Get(jetstream.SequenceHeader) != "1" || resp.Header.Get(jetstream.SubjectHeader) != subject {
		t.Errorf("direct get answered %q with headers %v; want %q, sequence 1 on %s", resp.Data, resp.Header, want, subject)
	}
	// The same through the jetstream API, by subject.
	m, err := s.GetMsg(ctx, 1, jetstream.WithGetMsgSubject(subject))
	if err != nil || string(m.Data) != string(want) || m.Header.Get("Ipcchan-Priority") != "42" {
		t.Errorf("GetMsg = %+v, %v; want %q with its priority header", m, err, want)
	}

	// A direct get takes nothing: the message is still the queue's.
	if v, prio, err := q.ReceivePriority(ctx); err != nil || string(v) != string(want) || prio != 42 {
		t.Fatalf("ReceivePriority after the direct gets = %q, %d, %v", v, prio, err)
	}
}

// TestAllowDirectAddedToEarlierStreams: Open with Create adds AllowDirect
// to a stream that an earlier natsq created without it, keeping what an
// operator set on it since; Open without Create, and a stream an operator
// made, are left alone.
func TestAllowDirectAddedToEarlierStreams(t *testing.T) {
	js := natstest.Connect(t, natstest.Server(t))
	tr := transport{name: "nats", js: js}
	// A stream as natsq created it before AllowDirect, and as an operator
	// would make one of the same shape.
	legacy := func(name, description string) string {
		stream := name[1:]
		var subjects []string
		for l := range natsq.Levels {
			subjects = append(subjects, fmt.Sprintf("ipcchan.%s.p%d", stream, l))
		}
		_, err := js.CreateStream(t.Context(), jetstream.StreamConfig{
			Name: stream, Description: description, Subjects: subjects,
			Retention: jetstream.WorkQueuePolicy, Storage: jetstream.FileStorage, Discard: jetstream.DiscardNew,
			MaxMsgs: -1, MaxMsgSize: -1,
			MaxAge: time.Hour, Metadata: map[string]string{"owner": "ops"}, // set by an operator since
		})
		if err != nil {
			t.Fatal(err)
		}
		return stream
	}
	config := func(stream string) jetstream.StreamConfig {
		t.Helper()
		s, err := js.Stream(t.Context(), stream)
		if err != nil {
			t.Fatal(err)
		}
		return s.CachedInfo().Config
	}
	reopen := func(name string, opts ...ipcchan.Option) {
		t.Helper()
		q, err := natsq.Open[string](t.Context(), js, name, opts...)
		if err != nil {
			t.Fatal(err)
		}
		q.Close()
	}

	old := tr.newName(t)
	stream := legacy(old, "ipcchan queue "+old)
	reopen(old)
	if config(stream).AllowDirect {
		t.Errorf("Open without Create changed the stream's configuration")
	}
	reopen(old, ipcchan.Create())
	cfg := config(stream)
	if !cfg.AllowDirect {
		t.Errorf("Open with Create left an earlier natsq stream without AllowDirect")
	}
	if cfg.MaxAge != time.Hour || cfg.Metadata["owner"] != "ops" || cfg.Description != "ipcchan queue "+old || cfg.Retention != jetstream.WorkQueuePolicy {
		t.Errorf("adding AllowDirect changed the operator's settings: %+v", cfg)
	}

	theirs := tr.newName(t)
	stream = legacy(theirs, "orders, made by ops")
	reopen(theirs, ipcchan.Create())
	if config(stream).AllowDirect {
		t.Errorf("Open with Create changed an operator's stream")
	}
}

// TestForeignPublisher: a message another NATS client published on a
// level's subject, without ipcchan's priority header (or with one that is
// not a priority), has the lowest priority of its level, and a
// Queue[[]byte] receives its bytes as they are; a typed queue reports them
// as ErrTypeMismatch.
func TestForeignPublisher(t *testing.T) {
	js := natstest.Connect(t, natstest.Server(t))
	tr := transport{name: "nats", js: js}
	name := tr.newName(t)
	q := mustOpen[[]byte](t, tr, name, ipcchan.Create())
	stream := q.(*natsq.Queue[[]byte]).Stream()
	publish := func(level int, data string, header ...string) {
		t.Helper()
		m := &nats.Msg{Subject: fmt.Sprintf("ipcchan.%s.p%d", stream, level), Data: []byte(data)}
		if len(header) > 0 {
			m.Header = nats.Header{"Ipcchan-Priority": header}
		}
		if _, err := js.PublishMsg(t.Context(), m); err != nil { // plain JetStream, as nats pub does
			t.Fatal(err)
		}
	}
	publish(0, "zero")
	publish(1, "one")
	publish(2, "two")
	publish(3, "three")
	publish(2, "two, malformed", "high")
	publish(2, "two, too high", "40000")
	publish(1, "one, 500", "500") // a valid header is taken as it is
	const n = 7
	settle(t, tr, q, n)
	var got []string
	for range n {
		v, prio, err := q.ReceivePriority(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, fmt.Sprintf("%s=%d", v, prio))
	}
	want := []string{"three=100", "two=10", "two, malformed=10", "two, too high=10", "one=1", "one, 500=500", "zero=0"}
	if !slices.Equal(got, want) {
		t.Fatalf("received %q, want %q", got, want)
	}

	// A typed queue: the bytes lack ipcchan's type header.
	typedName := tr.newName(t)
	typed := mustOpen[Job](t, tr, typedName, ipcchan.Create())
	stream = typed.(*natsq.Queue[Job]).Stream()
	publish(2, "hello")
	_, err := typed.Receive(t.Context())
	var me *ipcchan.MessageError
	if !errors.Is(err, ipcchan.ErrTypeMismatch) || !errors.As(err, &me) || string(me.Data) != "hello" || me.Priority != 10 {
		t.Fatalf("a typed Receive of foreign bytes = %v; want a *MessageError with ErrTypeMismatch, the bytes and priority 10", err)
	}
}
