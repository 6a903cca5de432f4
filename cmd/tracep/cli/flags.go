package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// newFlagSet returns a FlagSet that reports errors instead of exiting, so
// Run keeps control of the exit status.
func newFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// parseCommandLine parses args with fs. On -h it prints the usage to stdout
// and returns exitOK; on a bad flag, flag's own message and the usage go to
// stderr and it returns exitUsage. ok is true when the command should run.
func parseCommandLine(fs *flag.FlagSet, args []string, e *env, usageLine string) (pos []string, code int, ok bool) {
	fs.Usage = func() {} // printed below, to the right stream
	pos, err := parseInterspersed(fs, args)
	if err == nil {
		return pos, 0, true
	}
	w, code := e.stderr, exitUsage
	if errors.Is(err, flag.ErrHelp) {
		w, code = e.stdout, exitOK
	}
	fmt.Fprintf(w, "Usage of %s:\n  %s\n\n", fs.Name(), strings.TrimPrefix(usageLine, "usage: "))
	printDefaults(fs, w)
	return nil, code, false
}

// parseInterspersed parses flags that may come before, between or after the
// positional arguments (`ca host -o -` and `ca -o - host` are the same), as
// the reference tool does. "--" ends flag parsing; everything after it is
// positional.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		// flag stops at "--" and drops it; keep what follows as positional.
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			return append(pos, rest...), nil
		}
		if len(rest) == 0 {
			return pos, nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// secondsFlag is a duration flag that also accepts a bare number of seconds,
// the reference tool's form ("-timeout 3").
type secondsFlag struct{ d *time.Duration }

func (s secondsFlag) String() string {
	if s.d == nil {
		return ""
	}
	return strconv.FormatFloat(s.d.Seconds(), 'f', -1, 64)
}

func (s secondsFlag) Set(v string) error {
	var d time.Duration
	if f, err := strconv.ParseFloat(v, 64); err == nil {
		d = time.Duration(f * float64(time.Second))
	} else if d, err = time.ParseDuration(v); err != nil {
		return fmt.Errorf("%q is neither seconds nor a duration", v)
	}
	if d <= 0 {
		return fmt.Errorf("%q must be positive", v)
	}
	*s.d = d
	return nil
}

// printDefaults writes fs's flags as flag.PrintDefaults does.
func printDefaults(fs *flag.FlagSet, w io.Writer) {
	old := fs.Output()
	fs.SetOutput(w)
	fs.PrintDefaults()
	fs.SetOutput(old)
}

// sanitizeFileName keeps a host name usable as part of a file name.
func sanitizeFileName(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '-', r == '_':
			return r
		}
		return '_'
	}, s)
}
