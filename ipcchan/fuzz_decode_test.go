package ipcchan

import (
	"errors"
	"reflect"
	"testing"

	"github.com/ipcchan/ipcchan/codec"
)

type fuzzJob struct {
	ID    int
	Name  string
	Tags  map[string]string
	Score []float64
	Child *fuzzJob
}

// FuzzDecodeTyped: whatever bytes arrive in a typed queue, decode returns
// a value or a *MessageError holding exactly those bytes; it never panics
// or hangs, and what it accepts re-encodes to a message it accepts again.
func FuzzDecodeTyped(f *testing.F) {
	q := &Queue[fuzzJob]{name: "/fuzz", w: Wire[fuzzJob]{codec: codec.Msgpack, kind: payloadTyped, typeName: "fuzzJob"}, msgSize: 64 << 10}
	q.bufs.New = func() any { b := make([]byte, q.msgSize); return &b }
	q.w.header = makeHeader("msgpack", reflect.TypeFor[fuzzJob]())
	good, _ := codec.Msgpack.Append(q.w.header[:], fuzzJob{ID: 7, Name: "seven", Tags: map[string]string{"a": "b"}, Score: []float64{1, 2}})
	f.Add(good)
	f.Add(good[:len(good)-3])         // truncated
	f.Add(q.w.header[:])              // a header alone
	f.Add([]byte("plain text"))       // raw bytes from a []byte queue or C
	f.Add([]byte{0xC1, 'Q', 9, 0, 1}) // another version, too short
	f.Add(append(append([]byte{}, good...), 0xc0))
	f.Fuzz(func(t *testing.T, msg []byte) {
		v, err := q.decode(msg, 3)
		if err != nil {
			var me *MessageError
			if !errors.As(err, &me) || string(me.Data) != string(msg) || me.Priority != 3 ||
				!(errors.Is(err, ErrTypeMismatch) || errors.Is(err, ErrCorrupt)) {
				t.Fatalf("decode error %v does not carry the message", err)
			}
			return
		}
		again, bp, err := q.encode(v)
		if bp != nil {
			defer q.bufs.Put(bp)
		}
		if err != nil {
			return // too large to send back: fine
		}
		if _, err := q.decode(again, 0); err != nil {
			t.Fatalf("a decoded value does not decode after encoding: %v", err)
		}
	})
}
