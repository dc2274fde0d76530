package main

import (
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// The engine itself: raw jetstream calls with the same message size, the
// way `nats bench js` measures the server, so that natsq's rows are ratios
// to what the server can do, not to a guess.

// rawJSStream makes a work-queue stream of one subject on file storage, as
// natsq's, and a durable consumer of it.
func (b *bench) rawJSStream(s *natsSide, what string) (stream, subject string, cons jetstream.Consumer, cleanup func(), err error) {
	stream = fmt.Sprintf("raw%d%s", b.seq, what)
	b.seq++
	subject = "raw." + stream
	if _, err = s.js.CreateStream(ctx, jetstream.StreamConfig{Name: stream, Subjects: []string{subject},
		Retention: jetstream.WorkQueuePolicy, Storage: jetstream.FileStorage}); err != nil {
		return "", "", nil, nil, err
	}
	cleanup = func() { s.js.DeleteStream(ctx, stream) }
	cons, err = s.js.CreateConsumer(ctx, stream, jetstream.ConsumerConfig{Durable: "c", AckPolicy: jetstream.AckExplicitPolicy})
	if err != nil {
		cleanup()
		return "", "", nil, nil, err
	}
	return stream, subject, cons, cleanup, nil
}

// rawJSPublish has a peer publish n messages, waiting for each
// acknowledgement, and returns its time per message: a publisher in a
// process of its own, as natsq's.
func rawJSPublish(b *bench, n int) (float64, error) {
	s, err := b.nats()
	if err != nil {
		return 0, err
	}
	_, subject, _, cleanup, err := b.rawJSStream(s, "pub")
	if err != nil {
		return 0, err
	}
	defer cleanup()
	return b.peerSays("raw-js-pub", s.url, subject, strconv.Itoa(n))
}

// rawJSAsyncFetch has a peer publish n messages asynchronously and
// fetches them here in batches of 100, acknowledging each (as nats bench).
func rawJSAsyncFetch(b *bench, n int) (float64, error) {
	s, err := b.nats()
	if err != nil {
		return 0, err
	}
	_, subject, cons, cleanup, err := b.rawJSStream(s, "async")
	if err != nil {
		return 0, err
	}
	defer cleanup()
	cmd, err := b.start("raw-js-async", s.url, subject, strconv.Itoa(n))
	if err != nil {
		return 0, err
	}
	var start time.Time
	got := 0
	for got < n {
		batch, err := cons.Fetch(100, jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			return 0, err
		}
		for m := range batch.Messages() {
			if got == 0 {
				start = time.Now()
			}
			m.Ack()
			got++
		}
		if err := batch.Error(); err != nil {
			return 0, err
		}
	}
	ns := nsPer(start, n-1)
	return ns, cmd.Wait()
}

// rawJSPingPong publishes to a stream the peer fetches from, and fetches
// its answer from another: one way is half a round trip.
func rawJSPingPong(b *bench, n int) (float64, error) {
	s, err := b.nats()
	if err != nil {
		return 0, err
	}
	pingStream, ping, _, cleanPing, err := b.rawJSStream(s, "ping")
	if err != nil {
		return 0, err
	}
	defer cleanPing()
	_, pong, pongs, cleanPong, err := b.rawJSStream(s, "pong")
	if err != nil {
		return 0, err
	}
	defer cleanPong()
	cmd, err := b.start("raw-js-echo", s.url, pingStream, ping, pong, strconv.Itoa(n+1))
	if err != nil {
		return 0, err
	}
	msg := make([]byte, 64)
	rt, err := roundTrips(n, func() error {
		if _, err := s.js.Publish(ctx, ping, msg); err != nil {
			return err
		}
		return fetchAcked(pongs, nil)
	})
	if err != nil {
		return 0, err
	}
	return rt / 2, cmd.Wait()
}

// fetchAcked fetches one message of cons, acknowledges it and hands it to
// use, if not nil.
func fetchAcked(cons jetstream.Consumer, use func(jetstream.Msg) error) error {
	batch, err := cons.Fetch(1, jetstream.FetchMaxWait(10*time.Second))
	if err != nil {
		return err
	}
	for m := range batch.Messages() {
		m.Ack()
		if use != nil {
			if err := use(m); err != nil {
				return err
			}
		}
	}
	return batch.Error()
}

// rawJSPub is the role URL SUBJECT N: publish N 64-byte messages, each
// waiting for its acknowledgement, and print the ns per message.
func rawJSPub(a peerArgs) error {
	js, err := natsConnect(a[0])
	if err != nil {
		return err
	}
	msg := make([]byte, 64)
	start := time.Now()
	for range a.int(2) {
		if _, err := js.Publish(ctx, a[1], msg); err != nil {
			return err
		}
	}
	fmt.Println(nsPer(start, a.int(2)))
	return nil
}

// rawJSAsync is the role URL SUBJECT N: publish N 64-byte messages
// asynchronously.
func rawJSAsync(a peerArgs) error {
	js, err := natsConnect(a[0])
	if err != nil {
		return err
	}
	msg := make([]byte, 64)
	for range a.int(2) {
		if _, err := js.PublishAsync(a[1], msg); err != nil {
			return err
		}
	}
	select {
	case <-js.PublishAsyncComplete():
		return nil
	case <-time.After(time.Minute):
		return fmt.Errorf("raw-js-async: acknowledgements still missing after a minute")
	}
}

// rawJSEcho is the role URL STREAM PING PONG N: fetch N messages from
// PING, publishing each to PONG.
func rawJSEcho(a peerArgs) error {
	js, err := natsConnect(a[0])
	if err != nil {
		return err
	}
	cons, err := js.Consumer(ctx, a[1], "c")
	if err != nil {
		return err
	}
	for range a.int(4) {
		if err := fetchAcked(cons, func(m jetstream.Msg) error {
			_, err := js.Publish(ctx, a[3], m.Data())
			return err
		}); err != nil {
			return err
		}
	}
	return nil
}
