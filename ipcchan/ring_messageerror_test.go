package ipcchan_test

import (
	"encoding/binary"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/ipcchan/ipcchan/internal/objfmt"
	"github.com/ipcchan/ipcchan/ipcchan"
)

// TestRingMessageErrorNamesTheRing: a message a ring cannot hand over (here
// a reference to a large message whose file is gone) comes back in a
// *MessageError that names the ring, not a queue, and no priority.
func TestRingMessageErrorNamesTheRing(t *testing.T) {
	name := ringName(t)
	r := openRing[[]byte](t, name, ipcchan.Create(), ipcchan.LargeMessages())
	ref := make([]byte, 32) // a large message's reference (docs/FORMATS.md), to no file
	copy(ref, []byte{0xC1, 'L', 'M', 1})
	ref[8] = 1
	if err := r.Send(t.Context(), ref); err != nil {
		t.Fatal(err)
	}
	_, err := r.Receive(t.Context())
	var me *ipcchan.MessageError
	if !errors.As(err, &me) || me.Kind != "ring" || !strings.HasPrefix(err.Error(), "ring "+name+": receive: message of 32 bytes: ") {
		t.Errorf("receive of a dangling reference: %v; want a MessageError of ring %s", err, name)
	}
}

// TestRingLayoutOfAnotherSize: a ring of a pointer-free type whose slots
// (a foreign creator's) are not the type's size hands over no bytes as a
// value: Receive and TryReceive, on the direct path and through Recv,
// return a *MessageError of ErrTypeMismatch holding the message.
func TestRingLayoutOfAnotherSize(t *testing.T) {
	name := ringName(t)
	type Pair struct{ A, B uint64 }
	r := openRing[Pair](t, name, ipcchan.Create(), ipcchan.Capacity(4))
	for i := range uint64(3) {
		if err := r.Send(t.Context(), Pair{i, i}); err != nil {
			t.Fatal(err)
		}
	}
	// As a C program could have made it: slots of 8 bytes for a 16-byte type.
	f, err := os.OpenFile("/dev/shm/ipcchan.ring."+strings.TrimPrefix(name, "/"), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	var b [4]byte
	binary.LittleEndian.PutUint32(b[:], 8)
	if _, err := f.WriteAt(b[:], objfmt.HeaderSize+12); err != nil { // the control block's maxLen
		t.Fatal(err)
	}
	f.Close()
	other := openRing[Pair](t, name)
	check := func(how string, v Pair, err error) {
		t.Helper()
		var me *ipcchan.MessageError
		if !errors.As(err, &me) || !errors.Is(err, ipcchan.ErrTypeMismatch) || len(me.Data) != 8 || v != (Pair{}) {
			t.Errorf("%s of an 8-byte slot as a 16-byte Pair: %+v, %v; want a zero Pair and a MessageError of 8 bytes", how, v, err)
		}
	}
	v, err := other.Receive(t.Context())
	check("Receive", v, err)
	v, err = other.TryReceive()
	check("TryReceive", v, err)
	for range other.Recv() {
		t.Error("Recv delivered a value")
		break
	}
	if err := other.Err(); err == nil {
		t.Error("Recv ended without saying why")
	}

	// A batch into such slots is cut to them, as Send is, and writes
	// nothing beyond them: the next slot's word still reads.
	third := openRing[Pair](t, name)
	if n, err := third.SendBatch(t.Context(), []Pair{{7, 7}, {8, 8}}); n != 2 || err != nil {
		t.Fatalf("SendBatch into 8-byte slots: %d, %v", n, err)
	}
	buf := make([]Pair, 4)
	for range 2 {
		n, err := third.ReceiveBatch(t.Context(), buf)
		check("ReceiveBatch", buf[0], err)
		if n != 0 {
			t.Errorf("ReceiveBatch of an 8-byte slot as a 16-byte Pair delivered %d values", n)
		}
	}
	if _, err := third.TryReceive(); !errors.Is(err, ipcchan.ErrEmpty) {
		t.Errorf("after the batch, TryReceive = %v; want ErrEmpty", err)
	}

	// The same with slots too small for the type, as a C creator may lay
	// them out (40 bytes, 64 apart, for a 100-byte type): a batch writes
	// none of the next slot's header.
	type Big struct{ B [100]byte }
	bigName := ringName(t)
	big := openRing[Big](t, bigName, ipcchan.Create(), ipcchan.Capacity(2))
	mem, err := os.ReadFile("/dev/shm/ipcchan.ring." + strings.TrimPrefix(bigName, "/"))
	if err != nil {
		t.Fatal(err)
	}
	ctl := mem[objfmt.HeaderSize:]
	binary.LittleEndian.PutUint32(ctl[8:], 64)  // stride
	binary.LittleEndian.PutUint32(ctl[12:], 40) // maxLen
	for i := range 2 {
		binary.LittleEndian.PutUint64(ctl[objfmt.RingCtlSize+i*64:], objfmt.RingFree(uint64(i)))
	}
	if err := os.WriteFile("/dev/shm/ipcchan.ring."+strings.TrimPrefix(bigName, "/"), mem, 0o600); err != nil {
		t.Fatal(err)
	}
	big.Close()
	small := openRing[Big](t, bigName)
	var full Big
	for i := range full.B {
		full.B[i] = 0xff
	}
	if n, err := small.SendBatch(t.Context(), []Big{full, full}); n != 2 || err != nil {
		t.Fatalf("SendBatch into 40-byte slots: %d, %v", n, err)
	}
	for range 2 {
		if _, err := small.TryReceive(); !errors.Is(err, ipcchan.ErrTypeMismatch) {
			t.Errorf("a 40-byte message as a 100-byte type: %v; want ErrTypeMismatch", err)
		}
	}
	if _, err := small.TryReceive(); !errors.Is(err, ipcchan.ErrEmpty) {
		t.Errorf("after the batch into small slots, TryReceive = %v; want ErrEmpty", err)
	}
}
