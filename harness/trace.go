package harness

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode"

	"github.com/tracep/tracep/tracep"
	"github.com/tracep/tracep/tracep/tracetest"
)

// Trace runs cmd under the tracers like Run and returns the capture. Setup
// errors fail the test; missing privileges skip it (fail under
// TRACEP_REQUIRE_PRIVILEGED=1); lost events fail it unless AllowLost is
// given. The command's exit status is in the capture, not an error.
func Trace(t testing.TB, cmd *exec.Cmd, opts ...Option) *Capture {
	t.Helper()
	var cfg config
	for _, o := range opts {
		o(&cfg)
	}
	ctx := context.Background()
	if dl, ok := t.(interface{ Deadline() (time.Time, bool) }); ok {
		if d, ok := dl.Deadline(); ok {
			// Leave a little time to report the failure.
			var cancel context.CancelFunc
			ctx, cancel = context.WithDeadline(ctx, d.Add(-5*time.Second))
			defer cancel()
		}
	}
	c, err := Run(ctx, cmd, opts...)
	if c != nil {
		saveOnFailure(t, cfg.saveDir, c)
	}
	if err != nil && errors.Is(err, os.ErrPermission) {
		tracetest.SkipIfUnprivileged(t, err)
	}
	if c == nil {
		t.Fatalf("trace %s: %v", cmd.Path, err)
	}
	if err != nil {
		if !(cfg.allowLost && errors.Is(err, tracep.ErrLost) && onlyLost(err)) {
			t.Fatalf("trace %s: %v", cmd.Path, err)
		}
	}
	return c
}

// onlyLost reports whether every part of err is a lost-events error.
func onlyLost(err error) bool {
	for _, e := range tracep.SplitErrors(err) {
		if !errors.Is(e, tracep.ErrLost) {
			return false
		}
	}
	return true
}

// SaveTracesEnv names the environment variable that makes every Trace save
// the capture of a failed test in the directory it gives (see
// SaveOnFailure).
const SaveTracesEnv = "TRACEP_SAVE_TRACES"

// saveOnFailure arranges for c to be written to dir (or $TRACEP_SAVE_TRACES)
// if the test has failed when it ends.
func saveOnFailure(t testing.TB, dir string, c *Capture) {
	if dir == "" {
		dir = os.Getenv(SaveTracesEnv)
	}
	if dir == "" {
		return
	}
	// Numbered in the order of the traces, not of the cleanups (which run
	// last first).
	savedMu.Lock()
	traced[t]++
	n := traced[t]
	savedMu.Unlock()
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		name, err := writeCapture(dir, t.Name(), n, c.Events)
		if err != nil {
			t.Logf("save the trace: %v", err)
			return
		}
		t.Logf("trace saved: tracep view %s", name)
	})
}

var (
	savedMu sync.Mutex
	traced  = map[testing.TB]int{} // how many traces each test saves on failure
)

// writeCapture writes evs, the test's nth trace, as JSON lines to a new
// file in dir named after the test, and returns its name.
func writeCapture(dir, test string, n int, evs []tracep.Event) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	base := filepath.Join(dir, strings.Map(func(r rune) rune {
		if r == '-' || r == '.' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r) {
			return r
		}
		return '_'
	}, test))
	for i := n; ; i++ {
		name := base + ".jsonl"
		if i > 1 {
			name = fmt.Sprintf("%s-%d.jsonl", base, i)
		}
		// O_EXCL: what an earlier run (-count) saved stays.
		f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if errors.Is(err, os.ErrExist) {
			continue
		}
		if err != nil {
			return "", err
		}
		w := bufio.NewWriter(f)
		enc := tracep.NewEncoder(w)
		for _, ev := range evs {
			if err == nil {
				err = enc.Encode(ev)
			}
		}
		if err == nil {
			err = w.Flush()
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		return name, err
	}
}
