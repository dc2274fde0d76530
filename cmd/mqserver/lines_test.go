package main

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
)

func collect(lb *lineBuffer, chunks ...string) []string {
	var got []string
	emit := func(line []byte, cut bool) {
		s := string(line)
		if cut {
			s += "<cut>"
		}
		got = append(got, s)
	}
	for _, c := range chunks {
		lb.feed([]byte(c), emit)
	}
	lb.flush(emit)
	return got
}

func TestLineBuffer(t *testing.T) {
	for _, tc := range []struct {
		chunks []string
		want   string
	}{
		{[]string{"a\nb\n"}, "[a b]"},
		{[]string{"he", "llo\nwor", "ld"}, "[hello world]"}, // split across reads; last line without newline
		{[]string{"crlf\r\n", "\r\n", "\n"}, "[crlf  ]"},    // \r\n endings; empty lines are lines
		{[]string{"nul\x00byte\n"}, "[nul\x00byte]"},        // bytes pass through
		{[]string{"a\r", "\nb"}, "[a b]"},                   // \r and \n in different reads
		{[]string{""}, "[]"},
	} {
		if got := fmt.Sprint(collect(&lineBuffer{}, tc.chunks...)); got != tc.want {
			t.Errorf("feed(%q) = %q, want %q", tc.chunks, got, tc.want)
		}
	}
}

func TestLineBufferLongLine(t *testing.T) {
	long := strings.Repeat("x", 3*maxLine+10)
	// Sent in uneven reads, as a socket delivers it.
	var chunks []string
	for rest := long + "\nnext\n"; len(rest) > 0; {
		n := min(len(rest), 10000)
		chunks = append(chunks, rest[:n])
		rest = rest[n:]
	}
	lb := &lineBuffer{}
	got := collect(lb, chunks...)
	if len(got) != 5 {
		t.Fatalf("got %d lines, want 3 cut pieces, the tail and next", len(got))
	}
	for i := range 3 {
		if got[i] != strings.Repeat("x", maxLine)+"<cut>" {
			t.Errorf("piece %d has %d bytes", i, len(got[i]))
		}
	}
	if got[3] != strings.Repeat("x", 10) || got[4] != "next" {
		t.Errorf("after the pieces: %q, %q", got[3], got[4])
	}
	if cap(lb.buf) > 2*maxLine+32<<10 {
		t.Errorf("the buffer kept %d bytes of capacity", cap(lb.buf))
	}
}

func TestPrinterJSON(t *testing.T) {
	var b bytes.Buffer
	p := newPrinter(&b, true)
	p.message(source{kind: "mq", prio: 0}, []byte("zero prio"))
	p.message(source{kind: "unix", client: 3}, []byte("hi \"you\""))
	p.message(source{kind: "fifo"}, []byte("bad \xff"))
	p.flush()
	want := `{"source":"mq","prio":0,"text":"zero prio"}
{"source":"unix","client":3,"text":"hi \"you\""}
{"source":"fifo","text":"bad \ufffd","base64":"YmFkIP8="}
`
	if b.String() != want {
		t.Errorf("JSON output:\n%s\nwant\n%s", b.String(), want)
	}
}
