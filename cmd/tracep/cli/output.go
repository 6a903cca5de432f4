package cli

import (
	"fmt"
	"io"
	"os"
	"sync"
)

// sink is where a tracer's lines go: stdout or an -o file opened for
// appending. Each line is written with one write call and flushed at once,
// so output survives a kill and interleaves cleanly with other writers.
type sink struct {
	mu    sync.Mutex
	w     io.Writer
	f     *os.File // non-nil when we opened it
	color bool
	err   error
}

// openSink opens path for appending ("" means stdout) and decides colour:
// on with force, else on exactly when NO_COLOR is empty and the output is a
// character device (the reference's rule).
func openSink(path string, stdout io.Writer, force bool) (*sink, error) {
	s := &sink{w: stdout}
	if path != "" && path != "-" {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			return nil, err
		}
		s.w, s.f = f, f
	}
	s.color = force || (os.Getenv("NO_COLOR") == "" && isCharDevice(s.w))
	return s, nil
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
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return
	}
	b := fmt.Appendf(nil, format, args...)
	b = append(b, '\n')
	_, s.err = s.w.Write(b)
}

// write writes b as is (a JSON line).
func (s *sink) write(b []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err == nil {
		_, s.err = s.w.Write(b)
	}
}

func (s *sink) close() error {
	if s.f != nil {
		if err := s.f.Close(); err != nil && s.err == nil {
			s.err = err
		}
	}
	return s.err
}

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
