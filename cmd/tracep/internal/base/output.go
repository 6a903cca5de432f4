package base

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strconv"
	"sync"
	"syscall"
	"time"
	"unicode/utf8"
	"unsafe"

	"github.com/tracep/tracep/tracep"
)

// sink is where a tracer's lines go: stdout or an -o file opened for
// appending. On a terminal each line is written at once; to a file or a
// pipe, lines are batched (a write per event was half a busy tracer's
// CPU) and flushed when the trace has caught up (flush, called by the
// trace's consumer once it has printed every event waiting), or once the
// oldest is flushEvery old when the consumer never catches up. A timer of
// its own would wake the tracer ten times a second, which cost an idle
// tracer more than its events. A line is never split across writes, and
// close flushes everything.
type sink struct {
	mu     sync.Mutex
	w      io.Writer
	bw     *bufio.Writer // nil when every line is written at once
	oldest time.Time     // when the first line bw holds was written
	f      *os.File      // non-nil when we opened it
	color  bool
	err    error
	name   string      // the file, or "standard output", for messages
	fail   func(error) // called once, on the first write error
}

// flushEvery bounds how long a batched line may wait while lines come.
const flushEvery = 100 * time.Millisecond

// openSink opens path for appending ("" means stdout) and decides colour:
// on with force, else on exactly when NO_COLOR is empty and the output is a
// character device (the reference's rule).
func openSink(path string, stdout io.Writer, force bool) (*sink, error) {
	s := &sink{w: stdout, name: "standard output"}
	if path != "" && path != "-" {
		// Never through a symlink at the last component: tracep runs as
		// root, and the directory may be someone else's.
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND|syscall.O_NOFOLLOW, 0o644)
		if err != nil {
			return nil, err
		}
		if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() && st.Mode()&os.ModeCharDevice == 0 && st.Mode()&os.ModeNamedPipe == 0 {
			f.Close()
			return nil, fmt.Errorf("%s: not a regular file, device or pipe", path)
		}
		s.w, s.f, s.name = f, f, path
	}
	tty := isCharDevice(s.w)
	s.color = force || (os.Getenv("NO_COLOR") == "" && tty)
	if !tty {
		s.bw = bufio.NewWriterSize(s.w, 64<<10)
	}
	return s, nil
}

// flush writes the batched lines.
func (s *sink) flush() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.flushLocked()
}

func (s *sink) flushLocked() {
	if s.bw != nil && s.err == nil && s.bw.Buffered() > 0 {
		s.failed(s.bw.Flush())
	}
}

// failed keeps the first write error and says so, once. Called with s.mu
// held.
func (s *sink) failed(err error) {
	if err == nil || s.err != nil {
		return
	}
	s.err = fmt.Errorf("write %s: %w", s.name, cause(err)) // the name said once
	if s.fail != nil {
		s.fail(s.err)
	}
}

func isCharDevice(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// line writes one line (a newline is added). The first write error is kept
// and returned by close; later lines are dropped, since the reader is gone.
func (s *sink) line(format string, args ...any) {
	b := fmt.Appendf(nil, format, args...)
	s.write(append(b, '\n'))
}

// write writes b, one or more whole lines.
func (s *sink) write(b []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return
	}
	if s.bw == nil {
		_, err := s.w.Write(b)
		s.failed(err)
		return
	}
	if s.bw.Available() < len(b) {
		s.flushLocked() // keep lines whole in a write
	}
	if s.err != nil {
		return
	}
	now := time.Now()
	if s.bw.Buffered() == 0 {
		s.oldest = now
	}
	_, err := s.bw.Write(b)
	s.failed(err)
	if now.Sub(s.oldest) >= flushEvery {
		s.flushLocked()
	}
}

// close flushes and closes an -o file. It returns the first write error.
func (s *sink) close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.flushLocked()
	if s.f != nil {
		s.failed(s.f.Close())
		s.f = nil
	}
	return s.err
}

// line builds one output line in a buffer its formatter reuses, without
// fmt: a string per column and Sprintf for padding made formatting a
// quarter of a busy tracer's CPU. Its methods colour as clr does.
type line struct {
	b     []byte
	color bool
}

// start empties l for a line to out.
func (l *line) start(out *sink) {
	l.b, l.color = l.b[:0], out.color
}

// writeTo ends the line and writes it to out.
func (l *line) writeTo(out *sink) {
	l.b = append(l.b, '\n')
	out.write(l.b)
}

// text appends s in colour code.
func (l *line) text(code int, s string) {
	if !l.color || s == "" {
		l.b = append(l.b, s...)
		return
	}
	l.open(code)
	l.b = append(l.b, s...)
	l.close()
}

// padded appends s in colour code, spaces after it up to width runes
// (fmt's %-*s, the padding coloured with it).
func (l *line) padded(code int, s string, width int) {
	pad := width - utf8.RuneCountInString(s)
	if pad <= 0 {
		l.text(code, s)
		return
	}
	l.begin(code)
	l.b = append(l.b, s...)
	for ; pad > 0; pad-- {
		l.b = append(l.b, ' ')
	}
	l.end()
}

// number appends n in colour code, spaces before it up to width bytes
// (fmt's %*d).
func (l *line) number(code int, n int64, width int) {
	var digits [20]byte
	d := strconv.AppendInt(digits[:0], n, 10)
	l.begin(code)
	for pad := width - len(d); pad > 0; pad-- {
		l.b = append(l.b, ' ')
	}
	l.b = append(l.b, d...)
	l.end()
}

// escaped appends tracep.Escape(s) in colour code.
func (l *line) escaped(code int, s string) {
	if s == "" {
		return
	}
	l.begin(code)
	l.b = tracep.AppendEscape(l.b, s)
	l.end()
}

// clock appends t's local time of day to the millisecond, dimmed.
func (l *line) clock(t time.Time) {
	l.begin(cDim)
	l.b = t.Local().AppendFormat(l.b, "15:04:05.000")
	l.end()
}

// begin starts colour code when colour is on; end ends it.
func (l *line) begin(code int) {
	if l.color {
		l.open(code)
	}
}

func (l *line) end() {
	if l.color {
		l.close()
	}
}

// unsafeString is b as a string without a copy, for appending to a line:
// it must not outlive b's next change.
func unsafeString(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

func (l *line) open(code int) {
	l.b = append(l.b, "\x1b["...)
	l.b = strconv.AppendInt(l.b, int64(code), 10)
	l.b = append(l.b, 'm')
}

func (l *line) close() { l.b = append(l.b, "\x1b[0m"...) }

// clr wraps text in an ANSI SGR colour when colour is on.
func (s *sink) clr(code int, text string) string {
	if !s.color || text == "" {
		return text
	}
	return fmt.Sprintf("\x1b[%dm%s\x1b[0m", code, text)
}

// ANSI SGR codes used by the tracers (the reference's choices).
const (
	cDim     = 2
	cRed     = 31
	cGreen   = 32
	cYellow  = 33
	cBlue    = 34
	cMagenta = 35
	cCyan    = 36
	cBrRed   = 91
	cBrGreen = 92
	cBrCyan  = 96
)
