// Package textesc prints message bytes as one readable line, for
// cmd/mqserver and cmd/ipcchan.
package textesc

import (
	"strconv"
	"unicode"
	"unicode/utf8"
)

// Append appends text so that it stays on one line and shows every
// byte: control characters, backslashes and invalid UTF-8 are escaped as Go
// does (\n, \t, \\, \x00); everything printable is kept as it is.
func Append(dst, text []byte) []byte {
	const hex = "0123456789abcdef"
	for len(text) > 0 {
		r, size := utf8.DecodeRune(text)
		switch {
		case r == utf8.RuneError && size <= 1:
			dst = append(dst, '\\', 'x', hex[text[0]>>4], hex[text[0]&15])
		case r == '\\':
			dst = append(dst, '\\', '\\')
		case r == '\n':
			dst = append(dst, '\\', 'n')
		case r == '\r':
			dst = append(dst, '\\', 'r')
		case r == '\t':
			dst = append(dst, '\\', 't')
		case r < 0x80 && !unicode.IsPrint(r):
			dst = append(dst, '\\', 'x', hex[r>>4], hex[r&15])
		case !unicode.IsPrint(r) && r != ' ':
			q := strconv.QuoteRuneToASCII(r) // '\u2028', with its quotes
			dst = append(dst, q[1:len(q)-1]...)
		default:
			dst = append(dst, text[:size]...)
		}
		text = text[size:]
	}
	return dst
}
