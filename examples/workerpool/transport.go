package main

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ipcchan/ipcchan/ipcchan"
	"github.com/ipcchan/ipcchan/natsq"
)

// queue is what the workerpool uses of a queue: ipcchan's Sender and
// Receiver, which POSIX queues, rings and NATS queues all are.
type queue[T any] interface {
	ipcchan.Sender[T]
	ipcchan.Receiver[T]
}

// length is how many messages q holds: each transport says it in its
// own Attr.
func length[T any](q queue[T]) (int, error) {
	switch x := q.(type) {
	case interface {
		Attr() (ipcchan.QueueAttr, error)
	}:
		a, err := x.Attr()
		return a.Len, err
	case interface {
		Attr() (ipcchan.RingAttr, error)
	}:
		a, err := x.Attr()
		return a.Len, err
	}
	return 0, fmt.Errorf("%T has no length", q)
}

// transport carries the two queues of a run: POSIX queues on this machine,
// with -ring rings in shared memory, or, with -nats, queues on a NATS
// JetStream server (package natsq). The rest of the program is the same
// whichever it is.
type transport struct {
	url  string // "" for POSIX and rings
	ring bool
	nc   *nats.Conn
	js   jetstream.JetStream
}

func connect(url string, ring bool) (*transport, error) {
	if url == "" {
		return &transport{ring: ring}, nil
	}
	nc, err := nats.Connect(url, nats.Name("ipcchan workerpool"))
	if err != nil {
		return nil, fmt.Errorf("cannot connect to NATS at %s: %w", url, err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, err
	}
	return &transport{url: url, nc: nc, js: js}, nil
}

func (tr *transport) String() string {
	if tr.ring {
		return "rings in shared memory"
	}
	if tr.url == "" {
		return "POSIX queues"
	}
	return "NATS JetStream queues at " + tr.url
}

// openQueue is the one line that differs between the transports.
func openQueue[T any](tr *transport, name string, opts ...ipcchan.Option) (queue[T], error) {
	if tr.ring {
		r, err := ipcchan.OpenRing[T](name, opts...)
		if err != nil {
			return nil, err
		}
		return r, nil
	}
	if tr.js == nil {
		q, err := ipcchan.OpenQueue[T](name, opts...)
		if err != nil {
			return nil, err
		}
		return q, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), natsTimeout)
	defer cancel()
	q, err := natsq.Open[T](ctx, tr.js, name, opts...)
	if err != nil {
		return nil, err
	}
	return q, nil
}

func (tr *transport) unlink(name string) {
	if tr.ring {
		ipcchan.UnlinkRing(name)
		return
	}
	if tr.js == nil {
		ipcchan.UnlinkQueue(name)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), natsTimeout)
	defer cancel()
	natsq.Unlink(ctx, tr.js, name)
}

// natsTimeout bounds the requests that open and remove a NATS queue.
const natsTimeout = 10 * time.Second

func (tr *transport) close() {
	if tr.nc != nil {
		tr.nc.Close()
	}
}
