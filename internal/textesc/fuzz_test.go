package textesc

import (
	"bytes"
	"testing"
	"unicode"
	"unicode/utf8"
)

// FuzzAppend: any bytes come out as one line of valid UTF-8 without
// control characters, and printable text is left as it is.
func FuzzAppend(f *testing.F) {
	f.Add([]byte("plain"))
	f.Add([]byte("a\nb\x00\xff\\ \u2028"))
	f.Fuzz(func(t *testing.T, b []byte) {
		out := Append(nil, b)
		if !utf8.Valid(out) {
			t.Fatalf("%q escaped to invalid UTF-8 %q", b, out)
		}
		for _, r := range string(out) {
			if r < 0x20 || r == 0x7f || r == '\u2028' || r == '\u2029' {
				t.Fatalf("%q escaped to %q, with %U", b, out, r)
			}
		}
		printable := utf8.Valid(b) && !bytes.ContainsRune(b, '\\')
		for _, r := range string(b) {
			printable = printable && unicode.IsPrint(r)
		}
		if printable && !bytes.Equal(out, b) {
			t.Fatalf("printable %q changed to %q", b, out)
		}
	})
}
