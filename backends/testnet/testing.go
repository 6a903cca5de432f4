package testnet

import (
	"errors"
	"testing"

	"github.com/tracep/tracep/tracep"
	"github.com/tracep/tracep/tracep/tracetest"
)

// NewT starts a fake internet for the test t, like New, and closes it
// when t ends, failing t if Close fails. Without the privilege New needs
// it skips t, or fails it under TRACEP_REQUIRE_PRIVILEGED=1, as
// harness.Trace does; off Linux likewise. Any other error fails t.
func NewT(t testing.TB, cfg *Config) *Net {
	t.Helper()
	n, err := New(cfg)
	if errors.Is(err, tracep.ErrNotSupported) {
		if tracetest.PrivilegeRequired() {
			t.Fatalf("%v, and %s=1", err, tracetest.RequirePrivilegedEnv)
		}
		t.Skip(err)
	}
	tracetest.SkipIfUnprivileged(t, err)
	t.Cleanup(func() {
		if err := n.Close(); err != nil {
			t.Errorf("close the test network: %v", err)
		}
	})
	return n
}
