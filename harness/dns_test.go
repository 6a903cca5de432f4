package harness

import (
	"net/netip"
	"os/exec"
	"runtime"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tracep/tracep/backends/testnet"
	"github.com/tracep/tracep/tracep"
	"github.com/tracep/tracep/tracep/tracetest"
)

func lookupEvent(pid int32, typ, name, rcode string, answers ...tracep.DNSRecord) tracep.Event {
	return tracep.Event{Kind: tracep.KindDNS, Proc: tracep.Proc{PID: pid, Comm: "getent"},
		DNS: &tracep.DNS{Name: name, Type: typ, RCode: rcode, Answered: rcode != "", Answers: answers, Transport: "udp"}}
}

func rr(name, typ, data string) tracep.DNSRecord {
	return tracep.DNSRecord{Name: name, Type: typ, TTL: 60, Data: data}
}

func dnsCapture() *Capture {
	return &Capture{Events: numbered(
		execEvent(10, 1, "/usr/bin/getent", "getent", "ahosts", "www.example.test"),
		lookupEvent(10, "A", "WWW.Example.TEST.", "NOERROR", rr("www.example.test", "CNAME", "example.test"), rr("example.test", "A", "192.0.2.10")),
		lookupEvent(10, "AAAA", "www.example.test", "NOERROR", rr("www.example.test", "CNAME", "example.test"), rr("example.test", "AAAA", "2001:db8::10")),
		lookupEvent(10, "A", "nxdomain.test", "NXDOMAIN"),
		lookupEvent(10, "A", "slow.test", ""),
		lookupEvent(10, "AAAA", "v4.test", "NOERROR"), // NODATA
		lookupEvent(10, "A", "localhost", "NOERROR", rr("localhost", "A", "127.0.0.1")),
		lookupEvent(10, "TXT", "evil\x1b[2J.test", "NOERROR", rr("evil\x1b[2J.test", "TXT", "\"\\027[2J\"")),
	)}
}

func TestMatchName(t *testing.T) {
	for _, tc := range []struct {
		pattern, name string
		want          bool
	}{
		{"example.test", "example.test", true},
		{"example.test", "Example.Test.", true},
		{"Example.Test.", "example.test", true},
		{"*.example.test", "www.example.test", true},
		{"*.example.test", "a.b.example.test", true},
		{"*.example.test", "example.test", false},
		{"*example.test", "example.test", true},
		{"*example.test", "badexample.test", true},
		{"localhost", "localhost", true},
		{"localhost", "localhost.example.test", false},
		{"*", "anything.test", true},
		{"?.test", "a.test", true},
		{"?.test", "ab.test", false},
	} {
		require.Equal(t, tc.want, MatchName(tc.pattern, tc.name), "MatchName(%q, %q)", tc.pattern, tc.name)
	}
}

func TestDNSQueries(t *testing.T) {
	c := dnsCapture()
	require.Len(t, c.Lookups("www.example.test"), 2, "name compared in lower case without the root dot")
	require.Len(t, c.Lookups("*.test"), 6)
	require.Equal(t, []netip.Addr{netip.MustParseAddr("192.0.2.10"), netip.MustParseAddr("2001:db8::10")}, c.Addrs("www.example.test"))
	require.Len(t, c.Answers("www.example.test"), 4)
	require.Empty(t, c.Addrs("nxdomain.test"))
	require.Equal(t, []string{"evil\x1b[2j.test", "localhost", "nxdomain.test", "slow.test", "v4.test", "www.example.test"}, c.Names())

	ev := c.RequireResolved(t, "www.example.test", "a", "AAAA")
	require.Equal(t, uint64(2), ev.Seq)
	c.RequireResolved(t, "*.example.test")
	c.RequireLookup(t, "nxdomain.test", "rcode=NXDOMAIN")
	c.RequireLookup(t, "slow.test", "answered=false")
	c.RequireLookup(t, "www.example.test", "type=AAAA", "answers.data=2001:db8::/32")
	c.RequireNoLookup(t, "other.test")
	c.RequireOnlyNames(t, "*.example.test", "*.test", "localhost")
}

func TestDNSFailures(t *testing.T) {
	c := dnsCapture()
	for _, tc := range []struct {
		name string
		run  func(ft *fakeT)
		want []string
	}{
		{"nxdomain is not resolved", func(ft *fakeT) { c.RequireResolved(ft, "nxdomain.test") },
			[]string{"nxdomain.test was not resolved", "getent[10] dns A nxdomain.test → NXDOMAIN []"}},
		{"nodata is not resolved", func(ft *fakeT) { c.RequireResolved(ft, "v4.test", "AAAA") },
			[]string{"AAAA v4.test was not resolved"}},
		{"unanswered is not resolved", func(ft *fakeT) { c.RequireResolved(ft, "slow.test") },
			[]string{"slow.test → no answer"}},
		{"wrong type", func(ft *fakeT) { c.RequireResolved(ft, "localhost", "AAAA") },
			[]string{"AAAA localhost was not resolved"}},
		{"lookup terms", func(ft *fakeT) { c.RequireLookup(ft, "www.example.test", "transport=tcp") },
			[]string{"no lookup of www.example.test (transport=tcp)"}},
		{"bad term", func(ft *fakeT) { c.RequireLookup(ft, "x", "nonsense") },
			[]string{"want key=glob"}},
		{"no lookup", func(ft *fakeT) { c.RequireNoLookup(ft, "*.example.test") },
			[]string{"unexpected lookup of *.example.test", "WWW.Example.TEST."}},
		{"only names, single label exact", func(ft *fakeT) { c.RequireOnlyNames(ft, "*.example.test", "*.test", "local*host.example") },
			[]string{"lookups outside the allowed names", "localhost"}},
		{"control characters escaped", func(ft *fakeT) { c.RequireOnlyNames(ft, "*.example.test", "localhost") },
			[]string{`evil\x1b[2J.test`, "nxdomain.test"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ft := &fakeT{}
			tc.run(ft)
			require.True(t, ft.failed)
			for _, w := range tc.want {
				require.Contains(t, ft.msg, w)
			}
			require.NotContains(t, ft.msg, "\x1b", "escaped for the terminal")
		})
	}

	empty := &Capture{}
	ft := &fakeT{}
	empty.RequireResolved(ft, "example.test")
	require.Contains(t, ft.msg, "systemd-resolved", "an empty trace says what no DNS means")
}

// The helpers on a real trace: glibc's getaddrinfo (getent) inside the
// hermetic network, a CNAME chain and a name that does not exist.
func TestIntegrationDNSAssertions(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("needs Linux")
	}
	tracetest.SkipUnlessRoot(t, "DNS tracing in a hermetic network")
	n, err := testnet.New(nil)
	require.NoError(t, err)
	defer n.Close()
	c := Trace(t, exec.Command("sh", "-c", "getent ahosts cname.test; getent hosts nxdomain.test; exit 0"),
		Kinds(tracep.KindDNS), InNet(n))
	ev := c.RequireResolved(t, "cname.test", "A", "AAAA")
	require.Equal(t, "getent", ev.Proc.Comm)
	require.Equal(t, c.CgroupID, ev.Proc.CgroupID)
	require.Equal(t, []netip.Addr{netip.MustParseAddr("192.0.2.10"), netip.MustParseAddr("2001:db8::10")}, c.Addrs("cname.test"))
	c.RequireLookup(t, "cname.test", "type=A", "answers.type=CNAME", "answers.data=www.example.test", "answers.data=192.0.2.10")
	c.RequireLookup(t, "nxdomain.test", "rcode=NXDOMAIN", "pid!="+strconv.Itoa(int(ev.Proc.PID)))
	c.RequireOnlyNames(t, "cname.test", "nxdomain.test")
	c.RequireNoLookup(t, "*.example.test")
}

// A failed lookup assertion shows the lookups of the name asked about, or,
// when there were none, the names that were looked up: not every event.
func TestDNSFailureShowsWhatMatters(t *testing.T) {
	c := dnsCapture()
	ft := &fakeT{}
	c.RequireLookup(ft, "www.example.test", "type=MX")
	require.Equal(t, `no lookup of www.example.test (type=MX); the lookups of www.example.test were:
  getent[10] dns A WWW.Example.TEST. → NOERROR [CNAME example.test, A 192.0.2.10] (udp, 0s)
  getent[10] dns AAAA www.example.test → NOERROR [CNAME example.test, AAAA 2001:db8::10] (udp, 0s)
`, ft.msg)

	ft = &fakeT{}
	c.RequireLookup(ft, "other.test")
	require.Equal(t, `no lookup of other.test; the names looked up were:
  evil\x1b[2j.test (TXT)
  localhost (A)
  nxdomain.test (A)
  slow.test (A)
  v4.test (AAAA)
  www.example.test (A, AAAA)
`, ft.msg)

	ft = &fakeT{}
	c.RequireResolved(ft, "nxdomain.test")
	require.Equal(t, "nxdomain.test was not resolved; the lookups of nxdomain.test were:\n  getent[10] dns A nxdomain.test → NXDOMAIN [] (udp, 0s)\n", ft.msg)
}
