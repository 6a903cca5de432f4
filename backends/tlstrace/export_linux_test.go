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
