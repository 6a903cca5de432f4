package tracep

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
)

// maxLine bounds one JSON line when decoding; TLS payloads of 16 KiB base64
// to about 22 KiB, so 8 MiB leaves room for configured larger captures.
const maxLine = 8 << 20

// Encoder writes events as JSON lines, one write per event so that lines from
// a crashed process are never torn.
type Encoder struct {
	w   io.Writer
	buf bytes.Buffer
	enc *json.Encoder
}

// NewEncoder returns an Encoder writing to w.
func NewEncoder(w io.Writer) *Encoder {
	e := &Encoder{w: w}
	e.enc = json.NewEncoder(&e.buf)
	e.enc.SetEscapeHTML(false)
	return e
}

// Encode writes ev as one line, setting its Schema field.
func (e *Encoder) Encode(ev Event) error {
	ev.Schema = SchemaVersion
	e.buf.Reset()
	if err := e.enc.Encode(ev); err != nil {
		return fmt.Errorf("encode event: %w", err)
	}
	_, err := e.w.Write(e.buf.Bytes())
	return err
}

// Decoder reads JSON lines written by an Encoder.
type Decoder struct {
	s    *bufio.Scanner
	line int
	off  int64
}

// NewDecoder returns a Decoder reading from r.
func NewDecoder(r io.Reader) *Decoder {
	s := bufio.NewScanner(r)
	s.Buffer(make([]byte, 64*1024), maxLine)
	return &Decoder{s: s}
}

// Decode returns the next event, or io.EOF after the last one. Blank lines
// are skipped. A line from a newer schema fails with ErrSchema.
func (d *Decoder) Decode() (Event, error) {
	for d.s.Scan() {
		d.line++
		d.off += int64(len(d.s.Bytes())) + 1
		b := bytes.TrimSpace(d.s.Bytes())
		if len(b) == 0 {
			continue
		}
		var ev Event
		if err := json.Unmarshal(b, &ev); err != nil {
			return Event{}, fmt.Errorf("line %d: %w", d.line, err)
		}
		if ev.Schema < 1 || ev.Schema > SchemaVersion {
			return Event{}, fmt.Errorf("line %d: schema %d: %w", d.line, ev.Schema, ErrSchema)
		}
		return ev, nil
	}
	if err := d.s.Err(); err != nil {
		return Event{}, fmt.Errorf("line %d: %w", d.line+1, err)
	}
	return Event{}, io.EOF
}

// Offset returns how many bytes of the input the lines read so far took,
// each with its newline.
func (d *Decoder) Offset() int64 { return d.off }

// ReadAll decodes every event from r.
func ReadAll(r io.Reader) ([]Event, error) {
	d := NewDecoder(r)
	var evs []Event
	for {
		ev, err := d.Decode()
		if err == io.EOF {
			return evs, nil
		}
		if err != nil {
			return evs, err
		}
		evs = append(evs, ev)
	}
}
