package main

import (
	"bytes"
	"testing"
)

// FuzzLineBuffer: however a stream is cut into reads, the lines the
// splitter emits are the stream's lines, none is longer than maxLine, and
// what it holds between reads stays bounded.
func FuzzLineBuffer(f *testing.F) {
	f.Add([]byte("a\nb\r\nc"), uint8(1))
	f.Add(bytes.Repeat([]byte("x"), 3*maxLine+5), uint8(200))
	f.Add([]byte("nul\x00\xff\xfe\ninvalid utf8\n\n\r\n"), uint8(3))
	f.Fuzz(func(t *testing.T, stream []byte, cut uint8) {
		step := int(cut)%4096 + 1
		var lb lineBuffer
		var got [][]byte
		var pieces []byte // pieces of a line cut for length
		emit := func(line []byte, isCut bool) {
			if len(line) > maxLine {
				t.Fatalf("a line of %d bytes", len(line))
			}
			pieces = append(pieces, line...)
			if !isCut {
				got = append(got, pieces)
				pieces = nil
			}
		}
		for rest := stream; len(rest) > 0; {
			n := min(step, len(rest))
			lb.feed(rest[:n], emit)
			rest = rest[n:]
			if len(lb.buf) > maxLine {
				t.Fatalf("holds %d bytes between reads", len(lb.buf))
			}
		}
		lb.flush(emit)
		// The expected lines: split on \n, drop one \r before it, and no
		// empty last line after a final \n.
		var want [][]byte
		if len(stream) > 0 {
			parts := bytes.Split(stream, []byte("\n"))
			if len(parts[len(parts)-1]) == 0 {
				parts = parts[:len(parts)-1]
			}
			for _, p := range parts {
				want = append(want, bytes.TrimSuffix(p, []byte("\r")))
			}
		}
		if len(got) != len(want) {
			t.Fatalf("%d lines, want %d", len(got), len(want))
		}
		for i := range want {
			if !bytes.Equal(got[i], want[i]) {
				t.Fatalf("line %d = %q, want %q", i, got[i], want[i])
			}
		}
	})
}
