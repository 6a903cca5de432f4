package harness

import (
	"fmt"
	"net/netip"
	"path"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tracep/tracep/tracep"
)

func TestGlob(t *testing.T) {
	for _, tc := range []struct {
		pat, s string
		want   bool
	}{
		{"", "", true},
		{"", "a", false},
		{"*", "", true},
		{"*", "/usr/bin/curl", true},
		{"*/curl", "/usr/bin/curl", true},
		{"*/curl", "/usr/bin/curly", false},
		{"curl", "curl", true},
		{"c?rl", "curl", true},
		{"c?rl", "crl", false},
		{"*.example.test", "a.b.example.test", true},
		{"*.example.test", "example.test", false},
		{"a*b*c", "aXXbYYc", true},
		{"a*b*c", "aXXbYY", false},
		{"**", "x", true},
		{"a*a*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", false},
	} {
		require.Equal(t, tc.want, Glob(tc.pat, tc.s), "Glob(%q, %q)", tc.pat, tc.s)
	}
}

func TestParseMatcher(t *testing.T) {
	m, err := ParseMatcher("exec prog=curl args!=*-k*")
	require.NoError(t, err)
	require.Equal(t, Matcher{Kind: tracep.KindExec, Terms: []Term{
		{Key: "prog", Pattern: "curl"},
		{Key: "args", Pattern: "*-k*", Negate: true},
	}}, m)
	require.Equal(t, "exec prog=curl args!=*-k*", m.String())

	m, err = ParseMatcher("comm=sh")
	require.NoError(t, err)
	require.Empty(t, m.Kind)

	for _, bad := range []string{"nokind", "exec noequals", "exec =x", "exec !=x"} {
		_, err := ParseMatcher(bad)
		require.ErrorIs(t, err, tracep.ErrInvalid, bad)
	}
}

func execEvent(pid, ppid int32, filename string, argv ...string) tracep.Event {
	return tracep.Event{Kind: tracep.KindExec, Proc: tracep.Proc{PID: pid, PPID: ppid, Comm: path.Base(filename)},
		Exec: &tracep.Exec{Op: tracep.ExecOpExec, Filename: filename, Argv: argv}}
}

func TestMatch(t *testing.T) {
	ev := execEvent(10, 1, "/usr/bin/curl", "curl", "-s", "https://example.test/")
	for _, tc := range []struct {
		m    string
		want bool
	}{
		{"exec", true},
		{"dns", false},
		{"exec prog=curl", true},
		{"exec filename=/usr/bin/*", true},
		{"exec argv=-s", true},
		{"exec argv=-k", false},
		{"exec argv!=-k", true},
		{"exec args=*example.test*", true},
		{"exec pid=10 ppid=1", true},
		{"exec pid=11", false},
		{"op=exec kind=exec", true},
	} {
		m, err := ParseMatcher(tc.m)
		require.NoError(t, err)
		require.Equal(t, tc.want, m.Match(ev), tc.m)
	}
}

// A pattern that could never match is an error when it is parsed, not a
// rule that silently does nothing.
func TestMatcherChecked(t *testing.T) {
	for _, bad := range []string{
		"exec nosuchkey=*", "net dst=127.0.0.1/33", "net dst=127.0.0.0/8:99999", "net dst=example.test",
		"net dst=[::1/128]x", "dns answered=maybe", "exec pid=ten", "kind=disk", "tls sni=x nosuch!=y",
		"dns dst=127.0.0.1", // a net key on a dns matcher
	} {
		_, err := ParseMatcher(bad)
		require.ErrorIs(t, err, tracep.ErrInvalid, bad)
	}
	conn := func(dst string) tracep.Event {
		return tracep.Event{Kind: tracep.KindNet, Net: &tracep.Net{Op: tracep.NetOpConnect, Proto: "tcp", Dir: tracep.DirOut,
			Src: netip.MustParseAddrPort("10.0.0.1:40000"), Dst: netip.MustParseAddrPort(dst)}}
	}
	for _, tc := range []struct {
		m, dst string
		want   bool
	}{
		{"net dst=127.0.0.1", "127.0.0.1:443", true}, // a bare address: any port
		{"net dst=127.0.0.1", "127.0.0.2:443", false},
		{"net dst=::1", "[::1]:53", true},
		{"net dst=[::1]", "[::1]:53", true},
		{"net dst=127.0.0.1", "[::ffff:127.0.0.1]:80", true}, // v4-mapped
		{"net dst=127.0.0.1:443", "127.0.0.1:443", true},
		{"net dst=127.0.0.1:443", "127.0.0.1:80", false},
		{"net dst=127.0.0.0/8:443", "127.9.9.9:443", true},
		{"net dst=127.0.0.0/8:*", "127.9.9.9:1", true},
		{"net dst=[2001:db8::/32]:443", "[2001:db8::10]:443", true},
		{"net dst=*:53", "192.0.2.1:53", true},
		{"net dst!=127.0.0.1", "127.0.0.1:9", false},
	} {
		m, err := ParseMatcher(tc.m)
		require.NoError(t, err, tc.m)
		require.Equal(t, tc.want, m.Match(conn(tc.dst)), "%s on %s", tc.m, tc.dst)
	}
}

func TestExecQueries(t *testing.T) {
	c := &Capture{Events: []tracep.Event{
		execEvent(10, 1, "/bin/sh", "sh", "-c", "uname; true"),
		{Kind: tracep.KindExec, Proc: tracep.Proc{PID: 11, PPID: 10}, Exec: &tracep.Exec{Op: tracep.ExecOpFail, Filename: "/usr/local/bin/uname", Errno: "ENOENT"}},
		execEvent(11, 10, "/usr/bin/uname", "uname"),
		execEvent(12, 10, "/usr/bin/evil", "evil", "\x1b[2J"),
	}}
	require.Equal(t, []string{"/bin/sh", "/usr/bin/uname", "/usr/bin/evil"}, c.Programs())
	require.Len(t, c.FindExecs("sh", "-c", "*uname*"), 1)
	require.Empty(t, c.FindExecs("sh", "uname"))
	require.Len(t, c.FindExecs("/usr/bin/*"), 2)
	require.Len(t, c.FindExecs("*", "*[2J"), 1, "globs in arguments")
	require.Len(t, c.FindExecs("sh", "-c", "uname*true"), 1)
	require.Len(t, c.FindExecs("s?", "*;*"), 1)

	tree := c.ExecTree()
	require.Contains(t, tree, "  sh[10] exec /bin/sh: sh -c 'uname; true'\n")
	require.Contains(t, tree, "    [11] exec /usr/local/bin/uname failed: ENOENT\n")
	require.Contains(t, tree, `evil $'\x1b[2J'`, "control characters are escaped")
	require.NotContains(t, tree, "\x1b")

	ft := &fakeT{}
	c.RequireExec(ft, "curl")
	require.True(t, ft.failed)
	require.Contains(t, ft.msg, "no exec of curl matched")
	require.Contains(t, ft.msg, "uname")

	ft = &fakeT{}
	c.RequireOnlyExecs(ft, "sh", "uname")
	require.True(t, ft.failed)
	require.Contains(t, ft.msg, "/usr/bin/evil")

	ft = &fakeT{}
	c.RequireOnlyExecs(ft, "sh", "uname", "evil")
	require.False(t, ft.failed, ft.msg)
}

// fakeT records a failure instead of stopping the test.
type fakeT struct {
	testing.TB
	failed bool
	msg    string
}

func (f *fakeT) Helper() {}
func (f *fakeT) Fatal(args ...any) {
	f.failed = true
	f.msg = fmt.Sprint(args...)
}
func (f *fakeT) Fatalf(format string, args ...any) {
	f.failed = true
	f.msg = sprintf(format, args...)
}
func (f *fakeT) Errorf(format string, args ...any) {
	f.failed = true
	f.msg = sprintf(format, args...)
}
func (f *fakeT) FailNow() {}

func sprintf(format string, args ...any) string { return fmt.Sprintf(format, args...) }

func TestMatchCIDR(t *testing.T) {
	for _, tc := range []struct {
		pattern, value string
		want           bool
	}{
		{"127.0.0.0/8", "127.0.0.1:443", true},
		{"127.0.0.0/8:443", "127.0.0.1:443", true},
		{"127.0.0.0/8:443", "127.0.0.1:80", false},
		{"127.0.0.0/8:*", "127.0.0.9:80", true},
		{"10.0.0.0/8", "127.0.0.1:443", false},
		{"127.0.0.0/8", "[::ffff:127.0.0.1]:53", true},
		{"::1/128", "[::1]:53", true},
		{"[2001:db8::/32]:443", "[2001:db8::10]:443", true},
		{"[2001:db8::/32]:443", "[2001:db8::10]:80", false},
		{"2001:db8::/32", "192.0.2.1:443", false},
		{"192.0.2.0/24", "192.0.2.10", true},
		{"192.0.2.0/24", "example.test", false},
		{"not/a/prefix", "not/a/prefix", true}, // falls back to a glob
	} {
		require.Equal(t, tc.want, matchValue(tc.pattern, tc.value), "%s ~ %s", tc.pattern, tc.value)
	}
}

func TestSplitFields(t *testing.T) {
	got, err := splitFields(`exec args='/usr/bin/id -u'  name="a \"b\" c" x=it's'`)
	require.NoError(t, err)
	require.Equal(t, []string{"exec", "args=/usr/bin/id -u", `name=a "b" c`, "x=its"}, got)
	_, err = splitFields("a='open")
	require.ErrorIs(t, err, tracep.ErrInvalid)
	_, err = splitFields(`a="open`)
	require.ErrorIs(t, err, tracep.ErrInvalid)
}
