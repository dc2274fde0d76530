package typed

import (
	"errors"
	"strings"
	"testing"

	"github.com/ipcchan/ipcchan/codec"
	"github.com/ipcchan/ipcchan/internal/ipcerr"
)

var obj = ipcerr.Object{Kind: "queue", Name: "/w"}

type job struct {
	ID   int
	Name string
}

// TestCodecErrorsKeepTheirType: a codec's failure, on either side, stays
// reachable with errors.As beneath the sentinel.
func TestCodecErrorsKeepTheirType(t *testing.T) {
	w, err := NewWire[job](obj, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := w.Encode(nil, &job{ID: 1, Name: "x"})
	if err != nil {
		t.Fatal(err)
	}
	corrupt := append(append([]byte(nil), msg[:HeaderSize]...), 0xc1) // 0xc1: never a MessagePack value
	_, err = w.Decode(corrupt, 5)
	var me *ipcerr.MessageError
	var ce *codec.Error
	if !errors.As(err, &me) || !errors.Is(err, ipcerr.ErrCorrupt) || !errors.As(err, &ce) || ce.Op != "decode" ||
		string(me.Data) != string(corrupt) || me.Priority != 5 || me.Queue != "/w" {
		t.Errorf("Decode of a corrupt payload = %#v", err)
	}

	type bad struct{ C chan int }
	wb, _ := NewWire[bad](obj, nil, false)
	_, err = wb.Encode(nil, &bad{C: make(chan int)})
	var e *ipcerr.Error
	if !errors.As(err, &e) || !errors.Is(err, ipcerr.ErrInvalid) || !errors.As(err, &ce) || ce.Op != "encode" || e.Op != "send" {
		t.Errorf("Encode of a channel = %#v", err)
	}
}

func TestEncodeChecks(t *testing.T) {
	w, _ := NewWire[[]byte](obj, nil, false)
	w.SetLimit(4, "its MsgSize of 4", func() string { return "send less" })
	in := []byte("abcd")
	msg, err := w.Encode(nil, &in)
	if err != nil || &msg[0] != &in[0] {
		t.Errorf("Encode of raw bytes copied them or failed: %v", err)
	}
	five := []byte("abcde")
	_, err = w.Encode(nil, &five)
	if !errors.Is(err, ipcerr.ErrTooLarge) || err.Error() != "queue /w: send: message of 5 bytes exceeds its MsgSize of 4; send less" {
		t.Errorf("Encode of 5 bytes = %v", err)
	}
	if _, err := w.Encode(nil, new([]byte)); !errors.Is(err, ipcerr.ErrInvalid) || !strings.Contains(err.Error(), "CloseSend") {
		t.Errorf("Encode of nothing = %v", err)
	}
	data, _ := NewWire[string](obj, nil, true) // NoEndOfStream: empty is data
	if msg, err := data.Encode(nil, new(string)); err != nil || len(msg) != 0 || data.IsEOF(nil) {
		t.Errorf("with NoEndOfStream, Encode(\"\") = %q, %v", msg, err)
	}
	typ, _ := NewWire[job](obj, nil, false)
	if err := typ.CheckMsgSize(HeaderSize, "MsgSize(12)"); !errors.Is(err, ipcerr.ErrInvalid) {
		t.Errorf("CheckMsgSize(12) of a typed wire = %v", err)
	}
	if _, err := NewWire[job](obj, codec.Raw, false); !errors.Is(err, ipcerr.ErrInvalid) || !strings.Contains(err.Error(), "queue /w: open: codec.Raw carries only") {
		t.Errorf("NewWire with Raw for a struct = %v", err)
	}
}

// TestDefaultCodec: without WithCodec, []byte and string (and types
// defined on them) travel as they are, everything else in MessagePack.
func TestDefaultCodec(t *testing.T) {
	type line string
	for _, c := range []struct {
		name string
		kind Payload
		get  func() (Payload, error)
	}{
		{"[]byte", Bytes, kindOf[[]byte]}, {"string", String, kindOf[string]}, {"line", String, kindOf[line]},
		{"int", Typed, kindOf[int]}, {"job", Typed, kindOf[job]}, {"[]int", Typed, kindOf[[]int]},
	} {
		if k, err := c.get(); err != nil || k != c.kind {
			t.Errorf("%s: kind %v, %v; want %v", c.name, k, err, c.kind)
		}
	}
}

func kindOf[T any]() (Payload, error) {
	w, err := NewWire[T](obj, nil, false)
	if err != nil {
		return 0, err
	}
	return w.Kind(), nil
}
