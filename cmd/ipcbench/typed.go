package main

import (
	"fmt"
	"strconv"

	"github.com/ipcchan/ipcchan/codec"
	"github.com/ipcchan/ipcchan/ipcchan"
)

// typedScenarios are typed messages: ipcchan's queues of structs against
// what a Go program would send over a Unix socket (wire.go) (see table.go).
var typedScenarios = []scenario{{
	name: "typed request/response (a 10-field struct), one-way latency", unit: "one-way trip",
	impls: []impl{
		{name: "ipcchan Queue[Order] (msgpack)", ipcchan: true, ops: 4000, run: queuePingPong("typed-queue-echo", sampleOrder, checkOrder)},
		{name: "Unix socket + msgpack", ops: 4000, run: socketPingPong("typed-msgpack-echo", msgpackFrames)},
		{name: "Unix socket + encoding/gob", ops: 4000, run: socketPingPong("typed-gob-echo", gobValues)},
	},
}, {
	name: "typed stream (a 10-field struct), per message", unit: "message",
	impls: []impl{
		{name: "ipcchan Queue[Order] (msgpack)", ipcchan: true, ops: 10000, run: typedQueue},
		{name: "Unix socket + msgpack", ops: 10000, run: socketStream[Order]("typed-msgpack", msgpackFrames, nil)},
		{name: "Unix socket + encoding/gob", ops: 10000, run: socketStream[Order]("typed-gob", gobValues, nil)},
	},
}, {
	name: "typed stream of a 64-byte struct (10 number fields), per message", unit: "message",
	impls: []impl{
		{name: "ipcchan Queue[Tick] (codec.Layout)", ipcchan: true, ops: 20000, run: tickQueue},
		{name: "raw mq syscalls from Go, 64 B", ops: 20000, run: rawStream(64)},
		{name: "Unix socket + encoding/gob", ops: 20000, run: tickGob},
	},
}}

// Order is the "10-field struct" of the typed-message scenarios.
type Order struct {
	ID       int64
	Customer string
	Item     string
	Quantity int32
	Price    float64
	Currency string
	Express  bool
	Created  int64
	Tags     []string
	Note     string
}

// Tick is the 64-byte pointer-free struct of the Layout (and ring)
// scenarios: ten number fields, with explicit padding, as a C struct.
type Tick struct {
	Seq   int64
	Time  int64
	Price float64
	Qty   float64
	Bid   float64
	Ask   float64
	Venue int32
	Flags uint32
	Side  int16
	Kind  uint16
	_     [4]byte
}

var sampleTick = Tick{Seq: 42, Time: 1764000000123, Price: 101.25, Qty: 3.5, Bid: 101.2, Ask: 101.3, Venue: 7, Flags: 0x11, Side: -1, Kind: 2}

var sampleOrder = Order{ID: 123456, Customer: "ada@example.com", Item: "widget-42", Quantity: 3, Price: 19.99,
	Currency: "EUR", Express: true, Created: 1764000000, Tags: []string{"gift", "fragile"}, Note: "leave at the door"}

// checkOrder tells a typed reply that is not sampleOrder.
func checkOrder(o Order) error {
	if o.ID != sampleOrder.ID {
		return fmt.Errorf("bad order %d", o.ID)
	}
	return nil
}

// checkTick tells a Tick that is not sampleTick.
func checkTick(t Tick) error {
	if t != sampleTick {
		return fmt.Errorf("bad tick %+v", t)
	}
	return nil
}

// typedQueue drains a stream of Orders (msgpack) from a peer.
func typedQueue(b *bench, n int) (float64, error) {
	name, err := b.queue("stream")
	if err != nil {
		return 0, err
	}
	defer ipcchan.UnlinkQueue(name)
	q, err := ipcchan.OpenQueue[Order](name)
	if err != nil {
		return 0, err
	}
	defer q.Close()
	return drainPeer(b, q, checkOrder, "typed-queue", name, strconv.Itoa(n))
}

// tickQueue drains a stream of Ticks, their bytes on the queue, made for
// them (its MsgSize is the size of a Tick).
func tickQueue(b *bench, n int) (float64, error) {
	q, done, err := create(b, "ticks", ipcchan.OpenQueue[Tick], ipcchan.UnlinkQueue, ipcchan.Capacity(10), ipcchan.WithCodec(codec.Layout))
	if err != nil {
		return 0, err
	}
	defer done()
	return drainPeer(b, q, checkTick, "tick-queue", q.Name(), strconv.Itoa(n))
}

// queueSends is the role NAME N: send v N+1 times on the queue opened
// with opts, then the end.
func queueSends[T any](v T, opts ...ipcchan.Option) func(peerArgs) error {
	return func(a peerArgs) error {
		q, err := ipcchan.OpenQueue[T](a[0], opts...)
		if err != nil {
			return err
		}
		return flood(q, v, a.int(1))
	}
}
