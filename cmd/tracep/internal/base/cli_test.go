package base

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tracep/tracep/tracep"
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
		if _, full := extensions.Commands[c.name]; !full && isFullCommand(c.name) {
			continue // TestLightHandsOver; package cli runs them
		}
		code, out, errOut = run(c.name, "-h")
		require.Equal(t, 0, code, "%s -h", c.name)
		require.NotEmpty(t, out, "%s -h prints help on stdout", c.name)
		require.NotContains(t, errOut, "unknown command")
	}
}

// printed parses args for a tracing command as tracep does, hands evs over
// as a trace does and returns what was written.
func printed(t *testing.T, c tracingCommand, name string, color bool, args []string, evs ...tracep.Event) string {
	t.Helper()
	var out, errOut bytes.Buffer
	tr, _, ok := parseTrace(&env{ctx: context.Background(), stdout: &out, stderr: &errOut}, name, c, args)
	require.True(t, ok, errOut.String())
	var err error
	tr.out, err = openSink("", &out, color)
	require.NoError(t, err)
	for _, ev := range evs {
		tr.output(ev)
	}
	require.NoError(t, tr.out.close())
	return out.String()
}

func TestFlagParse(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		want    string // the flags set, as name=value, then | and the command
		wantErr string
	}{
		{args: []string{"-ct"}, want: "c=true t=true |"},
		{args: []string{"-Qo", "out.txt", "-f"}, want: "Q=true f=true o=out.txt |"},
		{args: []string{"-p1234", "-p", "5, 6"}, want: "p=1234,5,6 |"},
		{args: []string{"-f", "sh", "-c", "x"}, want: "f=true | sh -c x"},
		{args: []string{"-f", "--", "-weird-prog"}, want: "f=true | -weird-prog"},
		{args: []string{"-"}, want: "| -"},
		{args: []string{"-timeout", "2", "--ports=53,5353", "-j=false", "--t"}, want: "j=false ports=53,5353 t=true timeout=2 |"},
		{args: []string{"-tT", "A"}, want: "T=A t=true |"},
		{args: []string{"-x"}, wantErr: "unknown flag -x"},
		{args: []string{"--long"}, wantErr: "unknown flag --long"},
		{args: []string{"-o"}, wantErr: "flag -o needs a value (FILE)"},
		{args: []string{"-j=5"}, wantErr: `invalid value "5" for flag -j: want true or false`},
		{args: []string{"-timeout", "0"}, wantErr: `invalid value "0" for flag -timeout: "0" must be positive`},
		{args: []string{"-\x1b"}, wantErr: `unknown flag -\x1b`},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var c, f, j, tt, q bool
			var o, tp string
			var p, ports []string
			d := time.Second
			fs := NewFlags("test")
			fs.Bool("c", &c, "")
			fs.Bool("f", &f, "")
			fs.Bool("j", &j, "")
			fs.Bool("t", &tt, "")
			fs.Bool("Q", &q, "")
			fs.String("o", "FILE", &o, "")
			fs.String("T", "TYPES", &tp, "")
			fs.List("p", "PIDS", &p, "")
			fs.List("ports", "LIST", &ports, "")
			fs.Var("timeout", "D", secondsFlag{&d}, "")
			cmd, err := fs.Parse(tc.args)
			if tc.wantErr != "" {
				require.EqualError(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			var set []string
			for _, def := range fs.order {
				if def.set {
					set = append(set, def.name+"="+def.value.String())
				}
			}
			slices.Sort(set)
			require.Equal(t, tc.want, strings.TrimSpace(strings.Join(set, " ")+" | "+strings.Join(cmd, " ")))
		})
	}
	_, err := NewFlags("x").Parse([]string{"-h"})
	require.ErrorIs(t, err, ErrHelp)
}

// -p: a list of process ids, 0 for the events of no known process; an
// empty list or item is a usage error, so an empty $(pidof x) never
// traces the whole system.
func TestPIDFlag(t *testing.T) {
	parse := func(args ...string) (*traceRun, string) {
		var out, errOut bytes.Buffer
		tr, code, ok := parseTrace(&env{ctx: context.Background(), stdout: &out, stderr: &errOut}, "exec", &execCmd{}, args)
		if !ok {
			require.Equal(t, ExitUsage, code)
		}
		return tr, errOut.String()
	}
	tr, _ := parse("-p", " 1, 2,3 ", "-p4")
	require.Equal(t, []int{1, 2, 3, 4}, tr.pids)
	require.False(t, tr.unowned)
	tr, _ = parse("-p", "0,7")
	require.Equal(t, []int{7}, tr.pids)
	require.True(t, tr.unowned)
	for _, bad := range [][]string{{"-p", ""}, {"-p", ","}, {"-p", " "}, {"-p", "1,,2"}, {"-p", "-3"}, {"-p", "x"}, {"-p", "1.5"}, {"-p", "1", "true"}} {
		tr, msg := parse(bad...)
		require.Nil(t, tr, "%q", bad)
		require.Contains(t, msg, "-p", "%q", bad)
		require.Contains(t, msg, "usage: tracep exec", "%q: the usage follows", bad)
	}
}

// Every tracing command: usage errors exit 2 with the message and the
// usage on stderr, a missing process exits 1 with one line.
func TestTracingUsageErrors(t *testing.T) {
	common := [][]string{{"-Z"}, {"-p", "abc"}, {"-p", ""}, {"-p", ","}, {"-o"}, {"-p", "1", "true"}, {"-j=5"}, {"-net"}}
	own := map[string][][]string{
		"net":  {{"-i", "x"}},
		"tls":  {{"-l"}},
		"dns":  {{"-T", "NOPE"}, {"-ports", "0"}, {"-timeout", "0"}},
		"exec": nil,
		"run":  {{"-kinds", "disk"}, {"-kinds", "ca"}, {"-policy", "/nonexistent"}, {}},
	}
	for name, bad := range own {
		for _, args := range append(bad, common...) {
			code, out, errOut := run(append([]string{name}, args...)...)
			require.Equal(t, ExitUsage, code, "%s %q", name, args)
			require.Empty(t, out)
			require.Contains(t, errOut, "tracep "+name+": ", "%s %q", name, args)
			require.Contains(t, errOut, "tracep "+name+" [", "%s %q: the usage follows", name, args)
		}
		_, _, errOut := run(name, "-Z")
		require.Contains(t, errOut, "unknown flag -Z")
		code, _, errOut := run(name, "-p", "2147483646")
		require.Equal(t, ExitError, code)
		require.Equal(t, "tracep "+name+": -p 2147483646: no such process\n", errOut)
	}
}
