package tlstrace

import (
	"os"
	"testing"
)

// TRACEP_TLS_UPROBES=perf makes a test process attach one perf event per
// uprobe instead of uprobe_multi links (see TestIntegrationPerfEventUprobes).
func init() { uprobeMode = os.Getenv("TRACEP_TLS_UPROBES") }

// UsesUprobeMulti reports whether the loaded programs attach through
// uprobe_multi links.
func UsesUprobeMulti() bool { return useMulti }

// BuildGoClient builds the Go HTTPS client of the tests (see buildGoClient)
// and returns its directory.
func BuildGoClient(t testing.TB) string { return buildGoClient(t) }

// InspectNow inspects the file at path, and attaches to it, as the kernel's
// report of its exec would have the prober of the process do (one must
// be running): it is known then.
func InspectNow(path string) error {
	p := currentProber()
	if p == nil {
		return os.ErrNotExist
	}
	_, err := p.probePath(path, path)
	return err
}

// Holds is how many processes the kernel has held for the prober of the
// process to inspect; 0 without one.
func Holds() uint64 {
	if p := currentProber(); p != nil {
		return p.holds.Load()
	}
	return 0
}
