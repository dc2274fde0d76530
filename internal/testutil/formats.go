package testutil

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// docs/FORMATS.md, read by the tests that keep it true (its tables against
// the code) and by BuildC (its C header block, for the C peers).
//
// A machine-checked table follows a marker line "<!-- KIND: NAME -->" (or
// "<!-- names -->"), then the table's header row and its separator row. A
// layout table (KIND "layout") has the columns offset, size, type, field,
// meaning; a bits table (KIND "bits") bit, width, field, meaning; a values
// table (KIND "values") value, name, meaning. The C header is the fenced
// block opened by the line "```c ipcchan_format.h".

// FormatsPath is the path of docs/FORMATS.md from the module's root.
const FormatsPath = "docs/FORMATS.md"

// CHeaderName is the name of the C header that FORMATS.md holds.
const CHeaderName = "ipcchan_format.h"

// Formats is the text of docs/FORMATS.md.
type Formats struct {
	Text string
}

// ReadFormats reads the module's docs/FORMATS.md.
func ReadFormats(t testing.TB) *Formats {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(moduleRoot(t), FormatsPath))
	if err != nil {
		t.Fatal(err)
	}
	return &Formats{Text: string(b)}
}

// Markers returns the names of the machine-checked tables of kind
// ("layout", "bits", "values", "vectors"), in the order of the document.
func (f *Formats) Markers(kind string) []string {
	var names []string
	for _, m := range markerRE.FindAllStringSubmatch(f.Text, -1) {
		if m[1] == kind {
			names = append(names, m[2])
		}
	}
	return names
}

var markerRE = regexp.MustCompile(`(?m)^<!-- ([a-z]+): ([a-z0-9-]+) -->$`)

// Table returns the cells of the rows of the table after the marker line
// "<!-- marker -->", its header row first. Cells are trimmed, and a cell
// that is all one `code span` loses its backticks.
func (f *Formats) Table(t testing.TB, marker string) [][]string {
	t.Helper()
	rows, err := f.table(marker)
	if err != nil {
		t.Fatalf("%s: %v", FormatsPath, err)
	}
	return rows
}

func (f *Formats) table(marker string) ([][]string, error) {
	line := "<!-- " + marker + " -->"
	i := strings.Index(f.Text, "\n"+line+"\n")
	if i < 0 {
		return nil, fmt.Errorf("no line %q", line)
	}
	if strings.Count(f.Text, "\n"+line+"\n") > 1 {
		return nil, fmt.Errorf("the line %q is there twice", line)
	}
	lines := strings.Split(f.Text[i+len(line)+2:], "\n")
	var rows [][]string
	for n, l := range lines {
		if !strings.HasPrefix(l, "|") {
			break
		}
		if n == 1 { // the separator row
			if strings.Trim(l, "|-: ") != "" {
				return nil, fmt.Errorf("table %s: the second row is not a separator: %q", marker, l)
			}
			continue
		}
		cells := strings.Split(strings.Trim(strings.TrimSpace(l), "|"), "|")
		for j, c := range cells {
			c = strings.TrimSpace(c)
			if len(c) >= 2 && c[0] == '`' && c[len(c)-1] == '`' && !strings.Contains(c[1:len(c)-1], "`") {
				c = c[1 : len(c)-1]
			}
			cells[j] = c
		}
		rows = append(rows, cells)
	}
	if len(rows) < 2 {
		return nil, fmt.Errorf("table %s: no rows after the marker", marker)
	}
	return rows, nil
}

// A Field is one row of a layout table (offset and size in bytes) or of a
// bits table (bit and width). Size is -1 for a field of variable size
// ("maxLen"), which only the last row may be.
type Field struct {
	Name   string
	Offset int
	Size   int
	Type   string // layout tables only
}

func (fd Field) String() string {
	if fd.Size < 0 {
		return fmt.Sprintf("%s@%d (variable)", fd.Name, fd.Offset)
	}
	return fmt.Sprintf("%s@%d+%d", fd.Name, fd.Offset, fd.Size)
}

// Pad is the field name of padding in layout and bits tables.
const Pad = "(zero)"

// Layout returns the rows of the layout table name ("<!-- layout: name -->")
// and checks them: the columns, each row starting where the previous one
// ended (from offset 0), only the last of variable size, and a type of known
// size ("uint32", "uint8[16]", "char[8]") that agrees with the size.
func (f *Formats) Layout(t testing.TB, name string) []Field {
	t.Helper()
	return f.fields(t, "layout: "+name, []string{"offset", "size", "type", "field", "meaning"})
}

// Bits returns the rows of the bits table name ("<!-- bits: name -->"),
// checked as Layout checks a layout (bits instead of bytes).
func (f *Formats) Bits(t testing.TB, name string) []Field {
	t.Helper()
	return f.fields(t, "bits: "+name, []string{"bit", "width", "field", "meaning"})
}

func (f *Formats) fields(t testing.TB, marker string, columns []string) []Field {
	t.Helper()
	rows := f.Table(t, marker)
	if strings.Join(rows[0], ",") != strings.Join(columns, ",") {
		t.Fatalf("%s: table %s has columns %q, want %q", FormatsPath, marker, rows[0], columns)
	}
	layout := columns[0] == "offset"
	var out []Field
	end := 0
	for i, r := range rows[1:] {
		if len(r) != len(columns) {
			t.Fatalf("%s: table %s: row %q has %d cells, want %d", FormatsPath, marker, r, len(r), len(columns))
		}
		off, err := strconv.Atoi(r[0])
		if err != nil {
			t.Fatalf("%s: table %s: row %q: offset %q is not a number", FormatsPath, marker, r, r[0])
		}
		fd := Field{Name: r[2], Offset: off, Size: -1}
		if layout {
			fd.Name, fd.Type = r[3], r[2]
		}
		if n, err := strconv.Atoi(r[1]); err == nil {
			fd.Size = n
		} else if i != len(rows)-2 {
			t.Fatalf("%s: table %s: row %q: only the last field may have a size that is not a number (%q)", FormatsPath, marker, r, r[1])
		}
		if off != end {
			t.Fatalf("%s: table %s: field %s starts at %d, but the previous one ends at %d", FormatsPath, marker, fd.Name, off, end)
		}
		if layout && fd.Size >= 0 {
			if n, ok := typeSize(fd.Type); ok && n != fd.Size {
				t.Fatalf("%s: table %s: field %s is a %s, %d bytes, but its size says %d", FormatsPath, marker, fd.Name, fd.Type, n, fd.Size)
			}
		}
		end = off + fd.Size
		out = append(out, fd)
	}
	return out
}

var typeRE = regexp.MustCompile(`^(u?int(8|16|32|64)|char)(\[(\d+)\])?$`)

// typeSize is the size of a C-like type of a layout table, if it knows it.
func typeSize(typ string) (int, bool) {
	m := typeRE.FindStringSubmatch(typ)
	if m == nil {
		return 0, false
	}
	n := 1
	if m[2] != "" {
		bits, _ := strconv.Atoi(m[2])
		n = bits / 8
	}
	if m[4] != "" {
		count, _ := strconv.Atoi(m[4])
		n *= count
	}
	return n, true
}

// CheckFields compares the fields of a layout or bits table (from Layout or
// Bits) with want, the fields the code has, in order; padding rows of the
// table are left out of the comparison (the table's rows tile the layout,
// so they fill exactly the gaps between want's fields). total is the size
// of the whole layout, or -1 when its last field has a variable size.
func CheckFields(t testing.TB, table string, doc []Field, want []Field, total int) {
	t.Helper()
	var got []Field
	for _, fd := range doc {
		if fd.Name != Pad {
			fd.Type = ""
			got = append(got, fd)
		}
	}
	for i := range max(len(got), len(want)) {
		switch {
		case i >= len(got):
			t.Errorf("%s: table %s lacks the field %v", FormatsPath, table, want[i])
		case i >= len(want):
			t.Errorf("%s: table %s has a field %v that the code does not have", FormatsPath, table, got[i])
		case got[i] != want[i]:
			t.Errorf("%s: table %s says %v; the code has %v", FormatsPath, table, got[i], want[i])
		}
	}
	if len(doc) == 0 {
		return
	}
	last := doc[len(doc)-1]
	switch {
	case total < 0 && last.Size >= 0:
		t.Errorf("%s: table %s ends with %v, want a field of variable size", FormatsPath, table, last)
	case total >= 0 && last.Offset+last.Size != total:
		t.Errorf("%s: table %s covers %d bytes (or bits); the layout has %d", FormatsPath, table, last.Offset+last.Size, total)
	}
}

// Values returns the values table name ("<!-- values: name -->") as a map
// from each name to its value.
func (f *Formats) Values(t testing.TB, name string) map[string]int {
	t.Helper()
	rows := f.Table(t, "values: "+name)
	if strings.Join(rows[0], ",") != "value,name,meaning" {
		t.Fatalf("%s: table values: %s has columns %q, want value, name, meaning", FormatsPath, name, rows[0])
	}
	out := map[string]int{}
	for _, r := range rows[1:] {
		v, err := strconv.Atoi(r[0])
		if err != nil || len(r) != 3 {
			t.Fatalf("%s: table values: %s: bad row %q", FormatsPath, name, r)
		}
		if _, dup := out[r[1]]; dup {
			t.Fatalf("%s: table values: %s: %s twice", FormatsPath, name, r[1])
		}
		out[r[1]] = v
	}
	return out
}
