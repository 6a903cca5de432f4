package base

import (
	"context"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tracep/tracep/backends/testnet"
	"github.com/tracep/tracep/cmd/tracep/web"
)

// The tests of the live page and the hermetic network run with what
// package cli installs in tracep-full (ca and script are cli's tests).
func init() {
	Extend(Extensions{
		StartWeb: func(ctx context.Context, addr, title string) (LivePage, error) {
			return web.Start(ctx, web.Config{Addr: addr, Title: title})
		},
		NewNetwork: func() (Network, error) { return testnet.New(nil) },
	})
}

// isFullCommand: ca and script exist in tracep-full only.
func isFullCommand(name string) bool { return slices.Contains([]string{"ca", "script"}, name) }

// Without the extensions, as in the tracep binary, a command line that
// needs one says so in one line and fails before anything runs; Main
// would hand it over to tracep-full instead (cmd/tracep's
// TestHandOverToFull).
func TestLightHandsOver(t *testing.T) {
	saved := extensions
	extensions = Extensions{}
	t.Cleanup(func() { extensions = saved })
	for _, tc := range []struct {
		args []string
		what string
	}{
		{[]string{"ca", "example.test"}, "tracep ca"},
		{[]string{"ca", "-h"}, "tracep ca"},
		{[]string{"script", "x.txtar"}, "tracep script"},
		{[]string{"view", "trace.jsonl"}, "tracep view"},
		{[]string{"demo"}, "tracep demo"},
		{[]string{"exec", "-web", ":0", "--", "true"}, "tracep exec -web"},
		{[]string{"run", "-net", "--", "true"}, "tracep run -net"},
		{[]string{"dns", "-j", "-net", "--", "true"}, "tracep dns -net"},
	} {
		code, out, errOut := run(tc.args...)
		require.Equal(t, ExitError, code, "%q", tc.args)
		require.Empty(t, out, "%q", tc.args)
		require.Equal(t, tc.what+": "+errNoFull.Error()+"\n", errOut, "%q", tc.args)
	}
	// A usage error is still the light binary's to say.
	code, _, errOut := run("run", "-net")
	require.Equal(t, ExitUsage, code)
	require.Contains(t, errOut, "-net, -wait and -as need a command")
}
