package main_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// The tracep binary holds the tracers alone: a tracer must not map and
// initialise net/http, crypto/tls or testscript (~4 MB of its resident
// set) for commands it does not run. An import that brings one back fails
// here, with the path that brought it.
func TestTracepLinksNoExtension(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}} {{join .Imports \" \"}}", ".").CombinedOutput()
	require.NoError(t, err, "%s", out)
	var deps []string
	importers := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		deps = append(deps, f[0])
		for _, imp := range f[1:] {
			importers[imp] = append(importers[imp], f[0])
		}
	}
	for _, heavy := range []string{"net/http", "crypto/tls", "crypto/x509", "github.com/rogpeppe/go-internal/testscript", "github.com/tracep/tracep/backends/testnet", "github.com/tracep/tracep/cmd/tracep/web"} {
		if !slices.Contains(deps, heavy) {
			continue
		}
		t.Errorf("tracep links %s, imported by %s", heavy, strings.Join(importers[heavy], ", "))
	}
}

// tracep hands a command line it cannot run to tracep-full beside it, in
// place of itself; without one, it says where to get it.
func TestHandOverToFull(t *testing.T) {
	out, err := exec.Command(tracepBin, "ca", "-h").CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.Contains(t, string(out), "tracep ca [flags] <hostname> [port]")

	// The same binary alone, with nothing on PATH.
	alone := filepath.Join(t.TempDir(), "tracep")
	b, err := os.ReadFile(plainBin)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(alone, b, 0o755))
	for _, args := range [][]string{{"ca", "-h"}, {"view", "x.jsonl"}, {"exec", "-web", ":0", "--", "true"}} {
		cmd := exec.Command(alone, args...)
		cmd.Env = append(os.Environ(), "PATH=/nonexistent")
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		require.ErrorAs(t, err, &ee, "%q: %s", args, out)
		require.Equal(t, 1, ee.ExitCode(), "%q", args)
		require.Regexp(t, `^tracep [a-z]+( -web)?: needs tracep-full, which is neither beside tracep nor on PATH \(go install github.com/tracep/tracep/cmd/tracep/tracep-full@latest\)\n$`, string(out))
	}
}
