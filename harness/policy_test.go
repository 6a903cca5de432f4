package harness

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tracep/tracep/tracep"
)

func dnsEvent(pid int32, name string, answers ...string) tracep.Event {
	d := &tracep.DNS{Name: name, Type: "A", RCode: "NOERROR", Answered: true}
	for _, a := range answers {
		d.Answers = append(d.Answers, tracep.DNSRecord{Name: name, Type: "A", Data: a})
	}
	return tracep.Event{Kind: tracep.KindDNS, Proc: tracep.Proc{PID: pid, Comm: "curl"}, DNS: d}
}

func connEvent(pid int32, dst string) tracep.Event {
	return tracep.Event{Kind: tracep.KindNet, Proc: tracep.Proc{PID: pid, Comm: "curl"},
		Net: &tracep.Net{Op: tracep.NetOpConnect, Proto: "tcp", Dir: tracep.DirOut, Dst: netip.MustParseAddrPort(dst)}}
}

func numbered(evs ...tracep.Event) []tracep.Event {
	for i := range evs {
		evs[i].Seq = uint64(i + 1)
		evs[i].KTime = uint64(1000 * (i + 1)) // in time order, as traces are
	}
	return evs
}

func TestParsePolicy(t *testing.T) {
	p, err := ParsePolicy(strings.NewReader(`
# a comment
allow exec prog=sh    # trailing comment
deny  net dst!=192.0.2.0/24:443
require connect-from-dns
`))
	require.NoError(t, err)
	require.Len(t, p.Rules, 2)
	require.Equal(t, 3, p.Rules[0].Line)
	require.True(t, p.Rules[0].Allow)
	require.False(t, p.Rules[1].Allow)
	require.Equal(t, []string{RequireConnectFromDNS}, p.Requires)

	for _, bad := range []string{"allow", "allow prog=sh", "permit exec", "require everything", "allow exec noequals", "allow disk x=y"} {
		_, err := ParsePolicy(strings.NewReader(bad))
		require.ErrorIs(t, err, tracep.ErrInvalid, bad)
		require.ErrorContains(t, err, "policy line 1", bad)
	}

	// Rules that could never match are refused with their file and line;
	// an empty policy is refused too.
	dir := t.TempDir()
	for i, bad := range []string{"deny net dst=127.0.0.1/33", "deny net dst=127.0.0.0/8:99999", "deny net dst=localhost"} {
		path := filepath.Join(dir, fmt.Sprintf("p%d.policy", i))
		require.NoError(t, os.WriteFile(path, []byte("allow exec prog=sh\n"+bad+"\n"), 0o644))
		_, err := ReadPolicyFile(path)
		require.ErrorIs(t, err, tracep.ErrInvalid, bad)
		require.ErrorContains(t, err, path+":2: ", bad)
	}
	for _, empty := range []string{"", "# nothing\n\n"} {
		_, err := ParsePolicy(strings.NewReader(empty))
		require.ErrorIs(t, err, tracep.ErrInvalid)
		require.ErrorContains(t, err, "no rules")
	}
	// A bare address denies that address on any port.
	p, err = ParsePolicy(strings.NewReader("allow net dst=*\ndeny net dst=127.0.0.1\n"))
	require.NoError(t, err)
	p.Rules[0], p.Rules[1] = p.Rules[1], p.Rules[0]
	vs := p.Check(numbered(connEvent(1, "127.0.0.1:8443"), connEvent(1, "127.0.0.2:8443")))
	require.Len(t, vs, 1)
	require.Equal(t, "127.0.0.1:8443", vs[0].Event.Net.Dst.String())
}

func TestPolicyCheck(t *testing.T) {
	evs := numbered(
		execEvent(10, 1, "/bin/sh", "sh", "-c", "curl https://example.test"),
		execEvent(11, 10, "/usr/bin/curl", "curl", "https://example.test"),
		dnsEvent(11, "Example.TEST.", "192.0.2.10"),
		dnsEvent(11, "tracker.test", "192.0.2.99"),
		connEvent(11, "192.0.2.10:443"),
		tracep.Event{Kind: tracep.KindExec, Proc: tracep.Proc{PID: 11, PPID: 10}, Exec: &tracep.Exec{Op: tracep.ExecOpExit}},
	)
	p, err := ParsePolicy(strings.NewReader("allow exec prog=sh\nallow exec prog=curl\nallow dns name=*example.test\nallow net dst=192.0.2.10:443\n"))
	require.NoError(t, err)
	vs := p.Check(evs)
	require.Len(t, vs, 1)
	v := vs[0]
	require.Equal(t, "tracker.test", v.Event.DNS.Name)
	require.Nil(t, v.Rule)
	s := v.String()
	require.Contains(t, s, "tracker.test")
	require.Contains(t, s, "no rule allows this dns event")
	require.Contains(t, s, "curl[11] ← sh[10]")

	// A deny rule names its line; first match wins.
	p, err = ParsePolicy(strings.NewReader("deny dns name=tracker.*\nallow dns name=*\n"))
	require.NoError(t, err)
	vs = p.Check(evs)
	require.Len(t, vs, 1)
	require.Equal(t, 1, vs[0].Rule.Line)
	require.Contains(t, vs[0].String(), "denied by line 1: deny dns name=tracker.*")

	// Kinds without rules are not judged.
	p, err = ParsePolicy(strings.NewReader("allow exec prog=*\n"))
	require.NoError(t, err)
	require.Empty(t, p.Check(evs))
}

func TestPolicyNames(t *testing.T) {
	p, err := ParsePolicy(strings.NewReader("allow dns name=*.Example.TEST.\nallow dns name=localhost\n"))
	require.NoError(t, err)
	for name, ok := range map[string]bool{
		"a.example.test":         true,
		"a.b.example.test":       true,
		"A.Example.Test.":        true,
		"example.test":           false,
		"localhost":              true,
		"localhost.example.test": true, // matched by the first rule
		"localhost.corp":         false,
		"notexample.test":        false,
	} {
		vs := p.Check(numbered(dnsEvent(1, name)))
		require.Equal(t, ok, len(vs) == 0, name)
	}
}

func TestRequireConnectFromDNS(t *testing.T) {
	p, err := ParsePolicy(strings.NewReader("require connect-from-dns\n"))
	require.NoError(t, err)
	vs := p.Check(numbered(
		dnsEvent(5, "example.test", "192.0.2.10"),
		connEvent(5, "192.0.2.10:443"),
		connEvent(5, "127.0.0.1:53"),
		connEvent(5, "198.51.100.7:443"),
	))
	require.Len(t, vs, 1)
	require.Contains(t, vs[0].String(), "no DNS answer in this trace gave 198.51.100.7")

	// An answer after the connection does not excuse it.
	vs = p.Check(numbered(connEvent(5, "192.0.2.10:443"), dnsEvent(5, "example.test", "192.0.2.10")))
	require.Len(t, vs, 1)
}

func TestRequireSNIFromDNS(t *testing.T) {
	p, err := ParsePolicy(strings.NewReader("require sni-from-dns\n"))
	require.NoError(t, err)
	hs := func(sni string) tracep.Event {
		return tracep.Event{Kind: tracep.KindTLS, Proc: tracep.Proc{PID: 5}, TLS: &tracep.TLS{Op: tracep.TLSOpHandshake, SNI: sni}}
	}
	cname := dnsEvent(5, "www.example.test")
	cname.DNS.Answers = []tracep.DNSRecord{{Name: "www.example.test", Type: "CNAME", Data: "example.test"}}
	vs := p.Check(numbered(dnsEvent(5, "api.example.test", "192.0.2.1"), cname, hs("API.example.test"), hs("example.test"), hs("evil.test")))
	require.Len(t, vs, 1)
	require.Contains(t, vs[0].String(), "server name evil.test was not looked up")
}

func TestAudit(t *testing.T) {
	evs := numbered(
		execEvent(10, 1, "/bin/sh", "sh", "-c", "x"),
		execEvent(11, 10, "/usr/bin/curl", "curl"),
		execEvent(12, 10, "/usr/bin/curl", "curl"),
		dnsEvent(11, "Example.test.", "192.0.2.10"),
		connEvent(11, "192.0.2.10:443"),
	)
	var b strings.Builder
	require.NoError(t, Audit(&b, evs))
	out := b.String()
	require.Equal(t, 1, strings.Count(out, "allow exec filename=/usr/bin/curl"))
	require.Contains(t, out, "allow dns name=example.test type=A")
	require.Contains(t, out, "allow net proto=tcp dir=out dst=192.0.2.10:443")
	// The suggestion is itself a policy the run satisfies.
	p, err := ParsePolicy(strings.NewReader(out))
	require.NoError(t, err)
	require.Empty(t, p.Check(evs))
}

// Judging on the fly: events of different tracers may arrive out of time
// order, and a long trace keeps the process index small.
func TestJudgingStream(t *testing.T) {
	p, err := ParsePolicy(strings.NewReader("allow exec prog=*\nrequire connect-from-dns\n"))
	require.NoError(t, err)
	j := p.Judging()
	dns := dnsEvent(5, "example.test", "192.0.2.10")
	dns.KTime = 10
	conn := connEvent(5, "192.0.2.10:443")
	conn.KTime = 20
	j.Add(conn) // delivered first, made after the answer
	j.Add(dns)
	require.True(t, j.Verdict().Clean())

	for pid := int32(100); pid < 5100; pid++ {
		ev := execEvent(pid, 1, "/bin/true", "true")
		ev.KTime = uint64(pid) * 100
		j.Add(ev)
		exit := tracep.Event{Kind: tracep.KindExec, KTime: ev.KTime + 1, Proc: tracep.Proc{PID: pid, PPID: 1}, Exec: &tracep.Exec{Op: tracep.ExecOpExit}}
		j.Add(exit)
	}
	require.Less(t, len(j.procs), 10, "exited processes are forgotten")
	require.True(t, j.Verdict().Clean())
}
