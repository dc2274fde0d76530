package main

import "bytes"

// maxLine is the longest line kept whole; a longer one is printed in
// pieces of maxLine bytes, so that a client cannot make the server hold an
// unbounded amount of memory.
const maxLine = 64 << 10

// A lineBuffer splits a byte stream into lines. It holds at most maxLine
// bytes between calls.
type lineBuffer struct {
	buf []byte
}

// feed takes the next bytes of the stream and calls emit for each complete
// line, without its "\n" and without a "\r" before it. A line longer than
// maxLine is emitted in pieces, with cut set on each piece but the last.
func (lb *lineBuffer) feed(data []byte, emit func(line []byte, cut bool)) {
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			lb.buf = append(lb.buf, data...)
			data = nil
		} else {
			lb.buf = append(lb.buf, data[:i]...)
			data = data[i+1:]
		}
		for len(lb.buf) > maxLine {
			emit(lb.buf[:maxLine], true)
			lb.buf = append(lb.buf[:0], lb.buf[maxLine:]...)
		}
		if i >= 0 {
			emit(bytes.TrimSuffix(lb.buf, []byte("\r")), false)
			lb.buf = lb.buf[:0]
		}
	}
	if cap(lb.buf) > 2*maxLine && len(lb.buf) < maxLine/4 {
		lb.buf = append([]byte(nil), lb.buf...) // give back a grown buffer
	}
}

// flush emits what is left at the end of the stream, a last line without
// its newline.
func (lb *lineBuffer) flush(emit func(line []byte, cut bool)) {
	if len(lb.buf) > 0 {
		emit(bytes.TrimSuffix(lb.buf, []byte("\r")), false)
		lb.buf = lb.buf[:0]
	}
}
