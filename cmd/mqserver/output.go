package main

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"io"
	"strconv"
	"unicode/utf8"

	"github.com/ipcchan/ipcchan/internal/textesc"
)

// A printer writes one line per message to stdout: "[SOURCE] TEXT", or a
// JSON object with -json.
type printer struct {
	w    *bufio.Writer
	json bool
	line []byte
}

func newPrinter(w io.Writer, asJSON bool) *printer {
	return &printer{w: bufio.NewWriterSize(w, 64<<10), json: asJSON}
}

// A source says where a message came from.
type source struct {
	kind   string // "mq", "unix" or "fifo"
	client int    // unix: the client's number
	prio   uint   // mq: the message's priority
}

func (s source) tag() string {
	switch s.kind {
	case "mq":
		return "[mq prio=" + strconv.FormatUint(uint64(s.prio), 10) + "]"
	case "unix":
		return "[unix #" + strconv.Itoa(s.client) + "]"
	}
	return "[" + s.kind + "]"
}

// message prints one message; call flush when a batch is done.
func (p *printer) message(src source, text []byte) error {
	if p.json {
		rec := struct {
			Source string `json:"source"`
			Client int    `json:"client,omitempty"`
			Prio   *uint  `json:"prio,omitempty"`
			Text   string `json:"text"`
			Base64 string `json:"base64,omitempty"`
		}{Source: src.kind, Client: src.client, Text: string(text)}
		if src.kind == "mq" {
			rec.Prio = &src.prio
		}
		if !utf8.Valid(text) {
			// JSON strings hold Unicode: keep the exact bytes beside the text.
			rec.Base64 = base64.StdEncoding.EncodeToString(text)
		}
		b, _ := json.Marshal(rec)
		b = append(b, '\n')
		_, err := p.w.Write(b)
		return err
	}
	p.line = append(p.line[:0], src.tag()...)
	p.line = append(p.line, ' ')
	p.line = textesc.Append(p.line, text)
	p.line = append(p.line, '\n')
	_, err := p.w.Write(p.line)
	return err
}

func (p *printer) flush() error { return p.w.Flush() }
