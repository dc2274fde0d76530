package main

import (
	"bufio"
	"fmt"
	"io"
	"os/exec"
	"time"

	"github.com/ipcchan/ipcchan/ipcchan"
)

// topicScenarios are ipcchan's Topic[T] (publish/subscribe: every
// subscriber gets every message) against its Ring[T] (each message to one
// receiver), the figure a topic must keep while fanning out.
var topicScenarios = []scenario{{
	name: "topic fan-out of a 64-byte struct, each subscriber's time per message", unit: "message",
	impls: []impl{
		{name: "ipcchan Topic[Tick], 1 -> 4 subscriber processes", ipcchan: true, ops: 400000, run: topicFanOut(4)},
		{name: "ipcchan Topic[Tick], 1 -> 1 subscriber process", ipcchan: true, ops: 400000, run: topicFanOut(1)},
		{name: "ipcchan Ring[Tick], 1 -> 1", ipcchan: true, ops: 400000, run: ringToPeer},
	},
}, {
	name: "topic publisher's CPU time per message", unit: "message",
	impls: []impl{
		{name: "ipcchan Topic[Tick].Send, 4 subscriber processes", ipcchan: true, ops: 400000, run: topicPublisherCPU(4)},
		{name: "ipcchan Ring[Tick].Send, 1 receiver process", ipcchan: true, ops: 400000, run: ringSenderCPU},
	},
}, {
	name: "topic ping-pong (a 64-byte struct) through two topics, one-way latency", unit: "one-way trip",
	impls: []impl{
		{name: "ipcchan Topic[Tick]", ipcchan: true, ops: 20000, run: topicPingPong},
		{name: "ipcchan Ring[Tick]", ipcchan: true, ops: 20000, run: ringPingPong},
	},
}, {
	name: "topic DropOldest publisher, per message", unit: "message",
	impls: []impl{
		{name: "ipcchan Topic[Tick] DropOldest, one stalled subscription", ipcchan: true, ops: 400000, run: topicDropOldest(true)},
		{name: "ipcchan Topic[Tick] DropOldest, no subscription", ipcchan: true, ops: 400000, run: topicDropOldest(false)},
	},
}}

// topicTargets are issue 24's figures.
func topicTargets(ratio func(name, scenario, a, b string, limit float64, atMost bool, note string)) {
	const fan = "topic fan-out"
	ratio("topic 1 -> 4 subscriber processes, each one's rate vs a 1 -> 1 Ring", fan, "ipcchan Topic[Tick], 1 -> 4 subscriber processes", "ipcchan Ring[Tick], 1 -> 1", 0.8, false,
		"five busy processes on two cores: each subscriber has about 2/5 of a core where a ring's receiver has one (docs/BENCHMARKS.md)")
	ratio("topic 1 -> 1 subscriber process vs a 1 -> 1 Ring", fan, "ipcchan Topic[Tick], 1 -> 1 subscriber process", "ipcchan Ring[Tick], 1 -> 1", 0.8, false, "")
	ratio("topic publisher's CPU per message, 4 subscribers, vs a Ring Send's", "topic publisher's CPU", "ipcchan Topic[Tick].Send, 4 subscriber processes", "ipcchan Ring[Tick].Send, 1 receiver process", 1.5, true,
		"the publisher wakes subscribers that sleep; a ring's sender finds its receiver awake more often")
	ratio("topic ping-pong one-way latency vs the Ring's", "topic ping-pong", "ipcchan Topic[Tick]", "ipcchan Ring[Tick]", 1.2, true, "")
	ratio("topic DropOldest with a stalled subscription: publisher rate vs none", "topic DropOldest", "ipcchan Topic[Tick] DropOldest, one stalled subscription", "ipcchan Topic[Tick] DropOldest, no subscription", 0.9, false, "")
}

// startSubscribers starts n topic-sub peers on the topic name and returns
// once each has subscribed, with their output to read their figures from.
func startSubscribers(b *bench, name string, n int) ([]*exec.Cmd, []*bufio.Reader, error) {
	var cmds []*exec.Cmd
	var outs []*bufio.Reader
	for range n {
		cmd := b.peer("topic-sub", name)
		out, err := startReady(cmd)
		if err != nil {
			return cmds, outs, err
		}
		cmds, outs = append(cmds, cmd), append(outs, out)
	}
	return cmds, outs, nil
}

// topicFanOut publishes n+1 Ticks on a topic of 4096 slots to subs peer
// subscriber processes and returns the slowest one's time per message, as
// each measured it (from the first message to the end of the stream).
func topicFanOut(subs int) measurement {
	return func(b *bench, n int) (float64, error) {
		ns, _, err := fanOut(b, subs, n)
		return ns, err
	}
}

// topicPublisherCPU is topicFanOut's publisher's CPU time per message.
func topicPublisherCPU(subs int) measurement {
	return func(b *bench, n int) (float64, error) {
		_, cpu, err := fanOut(b, subs, n)
		return cpu, err
	}
}

func fanOut(b *bench, subs, n int) (slowest, cpu float64, err error) {
	t, done, err := create(b, "topic", ipcchan.OpenTopic[Tick], ipcchan.UnlinkTopic, ipcchan.Capacity(4096))
	if err != nil {
		return 0, 0, err
	}
	defer done()
	cmds, outs, err := startSubscribers(b, t.Name(), subs)
	defer func() {
		for _, c := range cmds {
			c.Process.Kill() // those that did not finish
			c.Wait()
		}
	}()
	if err != nil {
		return 0, 0, err
	}
	before := cpuTime()
	if err := flood(t, sampleTick, n); err != nil {
		return 0, 0, err
	}
	cpu = (cpuTime() - before) / float64(n+1)
	for _, out := range outs {
		l, _ := out.ReadString('\n')
		ns, err := number([]byte(l))
		if err != nil {
			return 0, 0, fmt.Errorf("topic-sub said %q", l)
		}
		slowest = max(slowest, ns)
	}
	return slowest, cpu, nil
}

// topicSub is the role NAME: subscribe, say "ready", receive Ticks until
// the end of the stream, and print the time per message from the first.
func topicSub(a peerArgs) error {
	t, err := ipcchan.OpenTopic[Tick](a[0])
	if err != nil {
		return err
	}
	sub, err := t.Subscribe()
	if err != nil {
		return err
	}
	fmt.Println("ready")
	ns, err := drain(sub, checkTick)
	if err != nil {
		return err
	}
	fmt.Println(ns)
	return nil
}

// ringToPeer is the 1 -> 1 ring in the direction of topicFanOut: this
// process sends, a peer receives and measures.
func ringToPeer(b *bench, n int) (float64, error) {
	ns, _, err := ringOut(b, n)
	return ns, err
}

// ringSenderCPU is ringToPeer's sender's CPU time per message.
func ringSenderCPU(b *bench, n int) (float64, error) {
	_, cpu, err := ringOut(b, n)
	return cpu, err
}

func ringOut(b *bench, n int) (ns, cpu float64, err error) {
	r, done, err := create(b, "ring", ipcchan.OpenRing[Tick], ipcchan.UnlinkRing, ipcchan.Capacity(4096))
	if err != nil {
		return 0, 0, err
	}
	defer done()
	cmd := b.peer("ring-tick-drain", r.Name())
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		return 0, 0, err
	}
	defer cmd.Wait()
	before := cpuTime()
	if err := flood(r, sampleTick, n); err != nil {
		cmd.Process.Kill()
		return 0, 0, err
	}
	cpu = (cpuTime() - before) / float64(n+1)
	out, _ := io.ReadAll(stdout)
	ns, err = number(out)
	return ns, cpu, err
}

// ringTickDrain is the role NAME: receive Ticks from the ring until the
// end of the stream, and print the time per message from the first.
func ringTickDrain(a peerArgs) error {
	r, err := ipcchan.OpenRing[Tick](a[0])
	if err != nil {
		return err
	}
	ns, err := drain(r, checkTick)
	if err != nil {
		return err
	}
	fmt.Println(ns)
	return nil
}

// topicPingPong is ringPingPong on two topics of 16 Ticks: this process
// publishes on one and subscribes to the other, the peer the other way.
func topicPingPong(b *bench, n int) (float64, error) {
	out, doneOut, err := create(b, "tping", ipcchan.OpenTopic[Tick], ipcchan.UnlinkTopic, ipcchan.Capacity(16))
	if err != nil {
		return 0, err
	}
	defer doneOut()
	in, doneIn, err := create(b, "tpong", ipcchan.OpenTopic[Tick], ipcchan.UnlinkTopic, ipcchan.Capacity(16))
	if err != nil {
		return 0, err
	}
	defer doneIn()
	sub, err := in.Subscribe()
	if err != nil {
		return 0, err
	}
	cmd := b.peer("topic-tick-echo", out.Name(), in.Name())
	if _, err := startReady(cmd); err != nil {
		return 0, err
	}
	defer cmd.Wait()
	return pingPong[Tick](out, sub, sampleTick, n, checkTick)
}

// topicTickEcho is the role IN OUT: subscribe to IN, say "ready", and
// publish every Tick on OUT until the end of the stream.
func topicTickEcho(a peerArgs) error {
	in, err := ipcchan.OpenTopic[Tick](a[0])
	if err != nil {
		return err
	}
	sub, err := in.Subscribe()
	if err != nil {
		return err
	}
	out, err := ipcchan.OpenTopic[Tick](a[1])
	if err != nil {
		return err
	}
	fmt.Println("ready")
	return echo[Tick](sub, out)
}

// topicDropOldest publishes n Ticks on a DropOldest topic of 4096 slots,
// with a subscription that reads nothing (stalled) or none, and returns
// the time per message.
func topicDropOldest(stalled bool) measurement {
	return func(b *bench, n int) (float64, error) {
		t, done, err := create(b, "tdrop", ipcchan.OpenTopic[Tick], ipcchan.UnlinkTopic, ipcchan.Capacity(4096), ipcchan.Overflow(ipcchan.DropOldest))
		if err != nil {
			return 0, err
		}
		defer done()
		if stalled {
			sub, err := t.Subscribe()
			if err != nil {
				return 0, err
			}
			defer sub.Close()
		}
		start := time.Now()
		for range n {
			if err := t.Send(ctx, sampleTick); err != nil {
				return 0, err
			}
		}
		return nsPer(start, n), nil
	}
}
