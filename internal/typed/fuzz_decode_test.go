package typed

import (
	"errors"
	"testing"

	"github.com/ipcchan/ipcchan/codec"
	"github.com/ipcchan/ipcchan/internal/ipcerr"
)

type fuzzJob struct {
	ID    int
	Name  string
	Tags  map[string]string
	Score []float64
	Child *fuzzJob
}

// FuzzDecodeTyped: whatever bytes arrive in a typed queue, Decode returns
// a value or a *MessageError holding exactly those bytes; it never panics
// or hangs, and what it accepts re-encodes to a message it accepts again.
func FuzzDecodeTyped(f *testing.F) {
	w, err := NewWire[fuzzJob](ipcerr.Object{Kind: "queue", Name: "/fuzz"}, nil, false)
	if err != nil {
		f.Fatal(err)
	}
	w.SetLimit(64<<10, "its MsgSize of 65536", nil)
	good, _ := codec.Msgpack.Append(w.header[:], fuzzJob{ID: 7, Name: "seven", Tags: map[string]string{"a": "b"}, Score: []float64{1, 2}})
	f.Add(good)
	f.Add(good[:len(good)-3])         // truncated
	f.Add(w.header[:])                // a header alone
	f.Add([]byte("plain text"))       // raw bytes from a []byte queue or C
	f.Add([]byte{0xC1, 'Q', 9, 0, 1}) // another version, too short
	f.Add(append(append([]byte{}, good...), 0xc0))
	f.Fuzz(func(t *testing.T, msg []byte) {
		v, err := w.Decode(msg, 3)
		if err != nil {
			var me *ipcerr.MessageError
			if !errors.As(err, &me) || string(me.Data) != string(msg) || me.Priority != 3 || me.Queue != "/fuzz" ||
				!(errors.Is(err, ipcerr.ErrTypeMismatch) || errors.Is(err, ipcerr.ErrCorrupt)) {
				t.Fatalf("decode error %v does not carry the message", err)
			}
			return
		}
		again, err := w.Encode(nil, &v)
		if err != nil {
			return // too large to send back: fine
		}
		if _, err := w.Decode(again, 0); err != nil {
			t.Fatalf("a decoded value does not decode after encoding: %v", err)
		}
	})
}
