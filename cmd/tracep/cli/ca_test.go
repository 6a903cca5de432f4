package cli

import (
	"bytes"
	"context"
	"flag"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tracep/tracep/cmd/tracep/internal/base"
)

func run(args ...string) (code int, stdout, stderr string) {
	var o, e bytes.Buffer
	code = Run(context.Background(), args, strings.NewReader(""), &o, &e)
	return code, o.String(), e.String()
}

// With the extensions installed, every command the usage lists runs in
// process, ca and script included.
func TestEveryCommandRuns(t *testing.T) {
	code, out, _ := run("help")
	require.Equal(t, 0, code)
	require.Contains(t, out, "  ca ")
	require.Contains(t, out, "  script ")
	for _, name := range []string{"net", "tls", "dns", "exec", "ca", "run", "script", "demo", "view", "doctor"} {
		code, out, errOut := run(name, "-h")
		require.Equal(t, 0, code, "%s -h: %s", name, errOut)
		require.NotEmpty(t, out, "%s -h prints help on stdout", name)
		require.NotContains(t, errOut, "tracep-full")
	}
}

func TestSplitHostPort(t *testing.T) {
	for _, tc := range []struct{ in, host, port, err string }{
		{"example.test", "example.test", "", ""},
		{"example.test:8443", "example.test", "8443", ""},
		{"2001:db8::10", "2001:db8::10", "", ""},
		{"[2001:db8::10]:443", "2001:db8::10", "443", ""},
		{"[::1]", "::1", "", ""},
		{":443", "", "", "empty host"},
	} {
		host, port, err := splitHostPort(tc.in)
		if tc.err != "" {
			require.ErrorContains(t, err, tc.err)
			continue
		}
		require.NoError(t, err)
		require.Equal(t, tc.host, host, tc.in)
		require.Equal(t, tc.port, port, tc.in)
	}
}

func TestInterspersed(t *testing.T) {
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	d := 10 * time.Second
	fs.Var(base.Seconds(&d), "timeout", "")
	o := fs.String("o", "", "")
	pos, err := parseInterspersed(fs, []string{"host", "-timeout", "1.5", "443", "-o", "-", "--", "-notaflag"})
	require.NoError(t, err)
	require.Equal(t, []string{"host", "443", "-notaflag"}, pos)
	require.Equal(t, 1500*time.Millisecond, d)
	require.Equal(t, "-", *o)
	require.NoError(t, fs.Set("timeout", "250ms"))
	require.Equal(t, 250*time.Millisecond, d)
	require.Error(t, fs.Set("timeout", "soon"))
}

func TestSanitizeFileName(t *testing.T) {
	require.Equal(t, "example.test", sanitizeFileName("example.test"))
	require.Equal(t, "__1", sanitizeFileName("::1"))
	require.Equal(t, "a_b_c", sanitizeFileName("a/b\nc"))
}

// tracep ca -j -o - would put PEM into the JSON stream: a usage error
// before anything is fetched.
func TestCAJSONAndPEMOnStdoutRefused(t *testing.T) {
	code, out, errOut := run("ca", "-j", "-o", "-", "127.0.0.1", "1")
	require.Equal(t, base.ExitUsage, code)
	require.Empty(t, out)
	require.Contains(t, errOut, "-j and -o - both write to stdout")
	require.NotContains(t, errOut, "Connecting")
}
