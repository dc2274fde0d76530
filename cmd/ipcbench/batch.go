package main

import (
	"fmt"
	"io"
	"strconv"

	"github.com/ipcchan/ipcchan/ipcchan"
)

// The ring's batches (SendBatch, ReceiveBatch): one claim and one
// publication per run of messages, against the SPSC rings at the
// machine's ceiling (spsc.go) and the ring's single messages, measured in
// the same run; and batches between several senders and receivers.

// batchScenarios are the ring's batches.
var batchScenarios = []scenario{{
	name: "ring batches of a 64-byte struct, per message", unit: "message",
	impls: []impl{
		{name: "ipcchan Ring[Tick], batches of 8", ipcchan: true, ops: 2000000, run: tickBatchStream(1, 8)},
		{name: "ipcchan Ring[Tick], batches of 64", ipcchan: true, ops: 2000000, run: tickBatchStream(1, 64)},
		{name: "ipcchan Ring[Tick], batches of 512", ipcchan: true, ops: 2000000, run: tickBatchStream(1, 512)},
		{name: "ipcchan Ring[Tick], Send/Receive", ipcchan: true, ops: 400000, run: tickRingStream},
		{name: "C, SPSC ring, release/acquire index stores", ops: 2000000, run: inC("ring-relacq %d")},
		{name: "Go SPSC ring, atomic.Store per message", ops: 2000000, run: goSPSC(1)},
		{name: "Go SPSC ring, atomic.Store per 64 messages", ops: 2000000, run: goSPSC(64)},
	},
}, {
	name: "ring batches of 64, 2 senders x 2 receivers, total per message", unit: "message",
	impls: []impl{
		{name: "ipcchan Ring[Tick], 2 x 2, batches of 64", ipcchan: true, ops: 2000000, run: tickBatchStream(2, 64)},
		{name: "ipcchan Ring[Tick], 1 x 1, batches of 64", ipcchan: true, ops: 2000000, run: tickBatchStream(1, 64)},
	},
}}

// tickBatchStream is ringStream of Ticks in batches of batch: senders
// peers send with SendBatch, as many receivers here take with
// ReceiveBatch into buffers of batch.
func tickBatchStream(senders, batch int) measurement {
	return ringStreamOf("ring-tick-batches", []string{strconv.Itoa(batch)}, senders,
		func(r *ipcchan.Ring[Tick]) (int, error) { return drainBatches(r, batch) })
}

// drainBatches receives Ticks in batches of up to batch until the end of
// the stream, checking each, and returns how many.
func drainBatches(r *ipcchan.Ring[Tick], batch int) (int, error) {
	buf := make([]Tick, batch)
	got := 0
	for {
		k, err := r.ReceiveBatch(ctx, buf)
		if err == io.EOF {
			return got, nil
		}
		if err != nil {
			return got, err
		}
		for _, v := range buf[:k] {
			if err := checkTick(v); err != nil {
				return got, err
			}
		}
		got += k
	}
}

// ringTickBatches is the role NAME N SENDERS BATCH: send N+1 Ticks on the
// ring in batches of BATCH, then end the stream as ringSends does.
func ringTickBatches(a peerArgs) error {
	name, n, senders, batch := a[0], a.int(1), a.int(2), a.int(3)
	r, err := ipcchan.OpenRing[Tick](name)
	if err != nil {
		return err
	}
	vs := make([]Tick, batch)
	for i := range vs {
		vs[i] = sampleTick
	}
	for left := n + 1; left > 0; {
		k, err := r.SendBatch(ctx, vs[:min(batch, left)])
		if err != nil {
			return fmt.Errorf("SendBatch: %d sent, %w", k, err)
		}
		left -= k
	}
	return endStream(r, name, senders)
}
