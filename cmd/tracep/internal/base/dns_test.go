package base

import (
	"bytes"
	"context"
	"encoding/json"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tracep/tracep/tracep"
	"github.com/tracep/tracep/tracep/tracetest"
)

func dnsEv(pid int32, comm, typ, name, rcode string, answers ...tracep.DNSRecord) tracep.Event {
	return tracep.Event{
		Kind:  tracep.KindDNS,
		KTime: 123,
		Time:  time.Date(2026, 11, 27, 10, 11, 12, 0, time.Local),
		Proc:  tracep.Proc{PID: pid, PPID: 1, Comm: comm, CgroupID: 9},
		DNS: &tracep.DNS{ID: 7, Name: name, Type: typ, Transport: "udp",
			Client: netip.MustParseAddrPort("127.0.0.1:40000"), Server: netip.MustParseAddrPort("127.0.0.1:53"),
			RCode: rcode, Answered: rcode != "", Answers: answers, Latency: 35783 * time.Microsecond},
	}
}

func rec(typ, data string) tracep.DNSRecord {
	return tracep.DNSRecord{Name: "x", Type: typ, TTL: 60, Data: data}
}

// printWith renders evs as tracep dns with args does.
func printWith(t *testing.T, color bool, args []string, evs ...tracep.Event) string {
	t.Helper()
	return printed(t, newDNSCmd(), "dns", color, args, evs...)
}

func TestDNSFlags(t *testing.T) {
	for _, tc := range []struct {
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{args: []string{"-h"}, code: ExitOK, stdout: "USAGE"},
		{args: []string{"--help"}, code: ExitOK, stdout: "USAGE"},
		{args: []string{"-Z"}, code: ExitUsage, stderr: "unknown flag -Z"},
		{args: []string{"-p", "12x"}, code: ExitUsage, stderr: `-p: invalid process id "12x"`},
		{args: []string{"-p", "-3"}, code: ExitUsage, stderr: `-p: invalid process id "-3"`},
		{args: []string{"-ports", "53,70000"}, code: ExitUsage, stderr: "-ports: invalid port: 70000"},
		{args: []string{"-ports", "0"}, code: ExitUsage, stderr: "-ports: invalid port: 0"},
		{args: []string{"-T", "A,NOPE"}, code: ExitUsage, stderr: "-T: unknown query type NOPE"},
		{args: []string{"-timeout", "0"}, code: ExitUsage, stderr: "must be positive"},
		{args: []string{"-p", "1", "--", "true"}, code: ExitUsage, stderr: "-p and a command exclude each other"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var out, errOut bytes.Buffer
			_, code, ok := parseTrace(&env{ctx: context.Background(), stdout: &out, stderr: &errOut}, "dns", newDNSCmd(), tc.args)
			require.False(t, ok)
			require.Equal(t, tc.code, code)
			require.Contains(t, out.String(), tc.stdout)
			require.Contains(t, errOut.String(), tc.stderr)
		})
	}

	// Every option in every mode: with -p, with a command, alone.
	for _, mode := range [][]string{{"-p", "0,1"}, {"--", "sh", "-c", "x"}, nil} {
		var out, errOut bytes.Buffer
		c := newDNSCmd()
		tr, _, ok := parseTrace(&env{ctx: context.Background(), stdout: &out, stderr: &errOut}, "dns", c,
			append([]string{"-T", "a,TYPE65", "-ports", "53, 5353", "-timeout", "1.5", "-n", "curl,dig", "-d", "Example", "-cj"}, mode...))
		require.True(t, ok, errOut.String())
		require.Equal(t, map[string]bool{"A": true, "TYPE65": true}, c.types)
		require.Equal(t, []uint16{53, 5353}, tr.tracers.DNS.Ports)
		require.Equal(t, 1500*time.Millisecond, tr.tracers.DNS.Timeout)
		require.Equal(t, map[string]bool{"curl": true, "dig": true}, c.names)
		require.True(t, tr.json && tr.color, "-cj clusters")
	}
}

func TestDNSText(t *testing.T) {
	a := dnsEv(4242, "curl", "A", "cname.test", "NOERROR",
		rec("CNAME", "www.example.test"), rec("A", "192.0.2.10"), rec("MX", "10 mail.example.test"),
		rec("SRV", "1 2 443 srv.test"), rec("TXT", `"v=1" "a\"b\\c\027d"`), rec("NS", "ns1.test"),
		rec("PTR", "host.test"), rec("HTTPS", "1 . alpn=h2"))
	nx := dnsEv(17, "a-very-long-process-name", "AAAA", "nxdomain.test", "NXDOMAIN")
	tc := dnsEv(18, "dig", "A", "tc.test", "NOERROR")
	tc.DNS.Truncated = true
	lost := dnsEv(19, "dig", "A", "silent.test", "")
	none := dnsEv(0, "", "A", "who.test", "NOERROR", rec("A", "192.0.2.1"))
	evil := dnsEv(20, "x\x1b[31m", "TXT", `evil\027[2J.test`, "NOERROR", rec("TXT", `"\027[2J"`))
	late := dnsEv(21, "dig", "A", "late.test", "")
	late.DNS.Undelivered, late.DNS.RCode = true, "NOERROR"

	out := printWith(t, false, nil, a, nx, tc, lost, none, evil, late)
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	require.Equal(t, []string{
		`4242     curl             A      cname.test                                  → CNAME:www.example.test 192.0.2.10 MX:mail.example.test SRV:srv.test v=1 a"b\\c\x1bd NS:ns1.test host.test HTTPS:1 . alpn=h2  35.8ms`,
		`17       a-very-long-pr…  AAAA   nxdomain.test                               → NXDOMAIN  35.8ms`,
		`18       dig              A      tc.test                                     → [TC]  35.8ms`,
		`19       dig              A      silent.test                                 → NOANSWER`,
		`0        ?                A      who.test                                    → 192.0.2.1  35.8ms`,
		`20       x\x1b[31m        TXT    evil\027[2J.test                            → \x1b[2J  35.8ms`,
		`21       dig              A      late.test                                   → NOANSWER [response after the client gave up: NOERROR]`,
	}, lines)

	out = printWith(t, false, []string{"-f", "-t"}, a)
	require.True(t, strings.HasPrefix(out, "10:11:12  4242  curl  A  cname.test  → CNAME:www.example.test 192.0.2.10 "), out)

	// Colour codes wrap the padded columns, so they line up.
	out = printWith(t, true, nil, nx)
	require.Equal(t, "\x1b[33m17     \x1b[0m  \x1b[96ma-very-long-pr…\x1b[0m  \x1b[35mAAAA \x1b[0m  \x1b[32mnxdomain.test                             \x1b[0m  \x1b[90m→ \x1b[0m\x1b[31mNXDOMAIN\x1b[0m  \x1b[90m35.8ms\x1b[0m\n", out)

	require.Equal(t, "cname.test\n", printWith(t, false, []string{"-q"}, a))
	require.Equal(t, "evil\\027[2J.test\n", printWith(t, false, []string{"-q"}, evil))
}

func TestDNSFilters(t *testing.T) {
	evs := []tracep.Event{
		dnsEv(1, "curl", "A", "Example.TEST", "NOERROR"),
		dnsEv(2, "dig", "AAAA", "other.test", "NOERROR"),
		dnsEv(0, "", "TXT", "x.example.test", "NOERROR"),
	}
	names := func(args ...string) string { return printWith(t, false, append([]string{"-q"}, args...), evs...) }
	require.Equal(t, "Example.TEST\nother.test\nx.example.test\n", names())
	require.Equal(t, "Example.TEST\nx.example.test\n", names("-d", "example"), "-d ignores case")
	require.Equal(t, "other.test\n", names("-n", "dig,wget"))
	require.Equal(t, "Example.TEST\nx.example.test\n", names("-T", "a,txt"))
	require.Equal(t, "Example.TEST\n", names("-d", "EXAMPLE", "-T", "A"), "filters AND")
}

func TestDNSJSON(t *testing.T) {
	a := dnsEv(4242, "curl", "A", "cname.test", "NOERROR", rec("CNAME", "www.example.test"), rec("A", "192.0.2.10"))
	nx := dnsEv(0, "", "A", "nxdomain.test", "NXDOMAIN")
	nx.DNS.Latency = 12 * time.Millisecond
	lost := dnsEv(5, "dig", "A", "silent.test", "")
	out := printWith(t, false, []string{"-j"}, a, nx, lost)
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	require.Len(t, lines, 3)
	require.True(t, strings.HasPrefix(lines[0], `{"answers":["CNAME:www.example.test","192.0.2.10"],"latency_ms":35.783,"name":"curl","pid":4242,"query":"cname.test","rcode":"NOERROR","type":"A","schema":1,"seq":1,"kind":"dns",`), lines[0])
	require.True(t, strings.HasPrefix(lines[1], `{"answers":null,"latency_ms":12,"name":"?","pid":0,"query":"nxdomain.test","rcode":"NXDOMAIN","type":"A","schema":1,"seq":2,`), lines[1])
	require.True(t, strings.HasPrefix(lines[2], `{"answers":null,"latency_ms":0,"name":"dig","pid":5,"query":"silent.test","rcode":"NOANSWER","type":"A",`), lines[2])

	// Each line is one JSON object that both the reference's consumers and
	// tracep's decoder read.
	for _, l := range lines {
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(l), &m), l)
		for _, k := range []string{"answers", "latency_ms", "name", "pid", "query", "rcode", "type", "schema", "seq", "kind", "proc", "dns"} {
			require.Contains(t, m, k)
		}
	}
	got, err := tracep.ReadAll(strings.NewReader(out))
	require.NoError(t, err)
	require.Len(t, got, 3)
	a.Schema, a.Seq = 1, 1
	require.Equal(t, a.DNS, got[0].DNS)
	require.Equal(t, a.Proc, got[0].Proc)
	require.True(t, a.Time.Equal(got[0].Time))

	out = printWith(t, false, []string{"-j", "-t"}, a)
	require.Contains(t, out, `"type":"A","schema":1`)
	require.Regexp(t, `"ts":"2026-11-27T10:11:12(\.0+)?[-+Z]`, out)
}

func TestTXTStrings(t *testing.T) {
	require.Equal(t, []string{"v=spf1 -all", "second"}, txtStrings(`"v=spf1 -all" "second"`))
	require.Equal(t, []string{`a"b\c`, "\x1b", ""}, txtStrings(`"a\"b\\c" "\027" ""`))
	require.Nil(t, txtStrings(""))
}

// -p traces a running process and what it starts afterwards, not others.
func TestIntegrationDNSPIDs(t *testing.T) {
	tracetest.SkipUnlessRoot(t, "tracep dns")
	n := newTestNet(t)
	pid, gate := gatedShell(t, n, "getent hosts example.test")
	out, errOut := traceUntil(t, []string{"dns", "-j", "-p", strconv.Itoa(pid)}, func() {
		require.NoError(t, n.Run(n.Command("getent", "hosts", "v4.test")), "an outsider")
		gate()
	})
	evs, err := tracep.ReadAll(strings.NewReader(out))
	require.NoError(t, err, errOut)
	require.Len(t, evs, 1, out)
	require.Equal(t, "example.test", evs[0].DNS.Name)
	require.Equal(t, "getent", evs[0].Proc.Comm)
	require.Equal(t, int32(pid), evs[0].Proc.PPID)
}

// The answers column joins what refAnswers gives, empty strings and
// records with none included, as strings.Join did.
func TestAppendAnswers(t *testing.T) {
	for _, rrs := range [][]tracep.DNSRecord{
		nil,
		{rec("TXT", ``)},
		{rec("TXT", `"" "b"`), rec("A", "192.0.2.1")},
		{rec("A", "192.0.2.1"), rec("TXT", ``), rec("MX", "10 mail.test"), rec("TXT", `"x" ""`)},
		{rec("CNAME", "a.test"), rec("SRV", "1 2 443 s.test"), rec("TYPE99", "\\# 0")},
	} {
		var want []string
		for _, a := range refAnswers(rrs) {
			want = append(want, tracep.EscapeDNS(a))
		}
		require.Equal(t, strings.Join(want, " "), string(appendAnswers([]byte("x"), rrs))[1:], "%v", rrs)
	}
}
