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
)

func run(args ...string) (code int, stdout, stderr string) {
	var o, e bytes.Buffer
	code = Run(context.Background(), args, strings.NewReader(""), &o, &e)
	return code, o.String(), e.String()
}

func TestDispatch(t *testing.T) {
	code, out, errOut := run()
	require.Equal(t, 2, code)
	require.Empty(t, out)
	require.Contains(t, errOut, "commands:")

	for _, h := range []string{"-h", "--help", "help"} {
		code, out, _ = run(h)
		require.Equal(t, 0, code)
		for _, c := range commands() {
			require.Contains(t, out, "  "+c.name+" ", "usage lists %s", c.name)
		}
	}
	for _, v := range []string{"-v", "--version", "version"} {
		code, out, _ = run(v)
		require.Equal(t, 0, code)
		require.Regexp(t, `^tracep v[0-9]`, out)
	}
	code, _, errOut = run("bogus")
	require.Equal(t, 2, code)
	require.True(t, strings.HasPrefix(errOut, "tracep: unknown command \"bogus\"\n\n"), errOut)

	for _, c := range commands() {
		code, out, errOut = run(c.name, "-h")
		require.Equal(t, 0, code, "%s -h", c.name)
		require.NotEmpty(t, out, "%s -h prints help on stdout", c.name)
		require.NotContains(t, errOut, "unknown command")
	}
}

func TestClusterParse(t *testing.T) {
	spec := clusterSpec{bools: "cfjqQt", values: "op", cmd: true}
	for _, tc := range []struct {
		args    []string
		set     string
		vals    map[byte][]string
		cmd     []string
		help    bool
		wantErr string
	}{
		{args: []string{"-ct"}, set: "ct"},
		{args: []string{"-Qo", "out.txt", "-f"}, set: "Qof", vals: map[byte][]string{'o': {"out.txt"}}},
		{args: []string{"-p1234", "-p", "5,6"}, set: "p", vals: map[byte][]string{'p': {"1234", "5,6"}}},
		{args: []string{"-f", "sh", "-c", "x"}, set: "f", cmd: []string{"sh", "-c", "x"}},
		{args: []string{"-f", "--", "-weird-prog"}, set: "f", cmd: []string{"-weird-prog"}},
		{args: []string{"-"}, cmd: []string{"-"}},
		{args: []string{"-h"}, help: true},
		{args: []string{"--help"}, help: true},
		{args: []string{"-x"}, wantErr: "unknown flag -x"},
		{args: []string{"--long"}, wantErr: "unknown flag --long"},
		{args: []string{"-o"}, wantErr: "flag -o requires an argument"},
		{args: []string{"-\x1b"}, wantErr: `unknown flag -\x1b`},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			a, err := spec.parse(tc.args)
			if tc.wantErr != "" {
				require.EqualError(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			for i := 0; i < len(tc.set); i++ {
				require.True(t, a.has(tc.set[i]), "flag %c", tc.set[i])
			}
			for k, v := range tc.vals {
				require.Equal(t, v, a.all(k))
			}
			require.Equal(t, tc.cmd, a.cmd)
			require.Equal(t, tc.help, a.help)
		})
	}
	_, err := clusterSpec{bools: "q"}.parse([]string{"extra"})
	require.EqualError(t, err, "unexpected argument: extra")
}

func TestParsePIDs(t *testing.T) {
	pids, err := parsePIDs([]string{" 1, 2,,3 ", "4"})
	require.NoError(t, err)
	require.Equal(t, []int{1, 2, 3, 4}, pids)
	for _, bad := range []string{"0", "-3", "x", "1.5"} {
		_, err := parsePIDs([]string{bad})
		require.EqualError(t, err, "-p: invalid PID: "+bad)
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

func TestSecondsFlagAndInterspersed(t *testing.T) {
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	d := 10 * time.Second
	fs.Var(secondsFlag{&d}, "timeout", "")
	o := fs.String("o", "", "")
	pos, err := parseInterspersed(fs, []string{"host", "-timeout", "1.5", "443", "-o", "-", "--", "-notaflag"})
	require.NoError(t, err)
	require.Equal(t, []string{"host", "443", "-notaflag"}, pos)
	require.Equal(t, 1500*time.Millisecond, d)
	require.Equal(t, "-", *o)
	require.NoError(t, fs.Set("timeout", "250ms"))
	require.Equal(t, 250*time.Millisecond, d)
	require.Error(t, fs.Set("timeout", "0"))
	require.Error(t, fs.Set("timeout", "soon"))
}

func TestSanitizeFileName(t *testing.T) {
	require.Equal(t, "example.test", sanitizeFileName("example.test"))
	require.Equal(t, "__1", sanitizeFileName("::1"))
	require.Equal(t, "a_b_c", sanitizeFileName("a/b\nc"))
}
