package harness_test

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tracep/tracep/harness"
	"github.com/tracep/tracep/tracep"
)

// testingTB does what the testing package does with a test's calls:
// FailNow (and so Fatal) ends the goroutine; it records every call.
type testingTB struct {
	testing.TB
	errors          []string
	fail, failNow   int
	fatal, finished int
}

func (f *testingTB) Helper()      {}
func (f *testingTB) Name() string { return "TestSomething" }
func (f *testingTB) Errorf(format string, args ...any) {
	f.errors = append(f.errors, fmt.Sprintf(format, args...))
}
func (f *testingTB) Fail() { f.fail++ }
func (f *testingTB) FailNow() {
	f.failNow++
	runtime.Goexit()
}
func (f *testingTB) Fatalf(format string, args ...any) {
	f.fatal++
	f.Errorf(format, args...)
	f.FailNow()
}

// run calls test as the testing package runs a test: on a goroutine of
// its own, which FailNow ends. It counts the test finished when it
// returned.
func (f *testingTB) run(test func(t testing.TB), t testing.TB) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		test(t)
		f.finished++
	}()
	<-done
}

// badCapture does a little of everything, so that each assertion below
// fails on it.
func badCapture() *harness.Capture {
	proc := tracep.Proc{PID: 42, PPID: 1, Comm: "curl"}
	src, dst := netip.MustParseAddrPort("10.0.0.2:40000"), netip.MustParseAddrPort("192.0.2.10:443")
	return &harness.Capture{Events: []tracep.Event{
		{Seq: 1, Kind: tracep.KindExec, Proc: proc, Exec: &tracep.Exec{Op: tracep.ExecOpExec, Filename: "/usr/bin/curl", Argv: []string{"curl", "https://example.test/"}}},
		{Seq: 2, Kind: tracep.KindDNS, Proc: proc, DNS: &tracep.DNS{Name: "example.test", Type: "A", RCode: "NOERROR", Answered: true,
			Answers: []tracep.DNSRecord{{Name: "example.test", Type: "A", Data: "192.0.2.10"}}}},
		{Seq: 3, Kind: tracep.KindNet, Proc: proc, Net: &tracep.Net{Op: tracep.NetOpConnect, Proto: "tcp", Dir: tracep.DirOut, Src: src, Dst: dst}},
		{Seq: 4, Kind: tracep.KindTLS, Proc: proc, TLS: &tracep.TLS{Op: tracep.TLSOpHandshake, Library: "wire", SNI: "example.test", Src: src, Dst: dst}},
		{Seq: 5, Kind: tracep.KindTLS, Proc: proc, TLS: &tracep.TLS{Op: tracep.TLSOpWrite, Library: "openssl", SNI: "example.test", Src: src, Dst: dst,
			Data: []byte("GET / HTTP/1.1\r\nX-Token: s3cr3t-t0ken\r\n\r\n"), Len: 41}},
	}}
}

// Each failing assertion, given NonFatal, reports once and returns, and
// the test goes on to the next; given the test's own t, the first one
// ends the test.
func TestNonFatal(t *testing.T) {
	c := badCapture()
	missing := filepath.Join(t.TempDir(), "missing.golden")
	checks := map[string]func(t testing.TB){
		"RequireExec":            func(t testing.TB) { c.RequireExec(t, "wget") },
		"RequireNoExec":          func(t testing.TB) { c.RequireNoExec(t, "curl") },
		"RequireOnlyExecs":       func(t testing.TB) { c.RequireOnlyExecs(t, "wget") },
		"RequireResolved":        func(t testing.TB) { c.RequireResolved(t, "example.test", "AAAA") },
		"RequireLookup":          func(t testing.TB) { c.RequireLookup(t, "example.test", "rcode=NXDOMAIN") },
		"RequireNoLookup":        func(t testing.TB) { c.RequireNoLookup(t, "*.test") },
		"RequireOnlyNames":       func(t testing.TB) { c.RequireOnlyNames(t, "other.test") },
		"RequireConnect":         func(t testing.TB) { c.RequireConnect(t, "*:80") },
		"RequireNoConnect":       func(t testing.TB) { c.RequireNoConnect(t, "*:443") },
		"RequireOnlyConnections": func(t testing.TB) { c.RequireOnlyConnections(t, "dst=*:80") },
		"RequireSNI":             func(t testing.TB) { c.RequireSNI(t, "other.test") },
		"RequireOnlySNI":         func(t testing.TB) { c.RequireOnlySNI(t, "other.test") },
		"RequirePlaintext":       func(t testing.TB) { c.RequirePlaintext(t, tracep.TLSOpWrite, "POST") },
		"RequireNoPlaintext":     func(t testing.TB) { c.RequireNoPlaintext(t, "s3cr3t-t0ken") },
		"RequireGolden":          func(t testing.TB) { c.RequireGolden(t, missing) },
	}
	for name, check := range checks {
		t.Run(name, func(t *testing.T) {
			nonFatal := &testingTB{}
			nonFatal.run(func(t testing.TB) { check(t); check(t) }, harness.NonFatal(nonFatal))
			require.Equal(t, 1, nonFatal.finished, "the test went on")
			require.Len(t, nonFatal.errors, 2, "each failure reported once: %q", nonFatal.errors)
			require.Equal(t, 2, nonFatal.fail)
			require.Zero(t, nonFatal.failNow)

			fatal := &testingTB{}
			fatal.run(func(t testing.TB) { check(t); check(t) }, fatal)
			require.Zero(t, fatal.finished, "the test ended at the first failure")
			require.Len(t, fatal.errors, 1)
			require.Equal(t, 1, fatal.failNow)
			require.Equal(t, nonFatal.errors[0], fatal.errors[0], "the same report")
		})
	}

	// Passing checks report nothing either way.
	quiet := &testingTB{}
	quiet.run(func(t testing.TB) {
		c.RequireExec(t, "curl")
		c.RequireResolved(t, "example.test", "A")
		c.RequireConnect(t, "*:443")
		c.RequireSNI(t, "example.test")
	}, harness.NonFatal(quiet))
	require.Equal(t, 1, quiet.finished)
	require.Empty(t, quiet.errors)
}

// Fatal and Fatalf stay fatal, so that a setup step (Trace, testnet.NewT)
// given a NonFatal t still ends the test; NonFatal of NonFatal is NonFatal.
func TestNonFatalKeepsFatal(t *testing.T) {
	f := &testingTB{}
	f.run(func(t testing.TB) { t.Fatalf("setup failed") }, harness.NonFatal(f))
	require.Zero(t, f.finished)
	require.Equal(t, 1, f.fatal)

	nf := harness.NonFatal(f)
	require.Equal(t, nf, harness.NonFatal(nf))
}

// The example's checks on a capture that breaks two of the non-fatal
// ones: two reports, and the test went on to its end; with the token
// leaked too, the last check ends it.
func TestNonFatalExample(t *testing.T) {
	c := badCapture()
	proc := tracep.Proc{PID: 43, PPID: 42, Comm: "wget"}
	c.Events = append(c.Events,
		tracep.Event{Seq: 6, Kind: tracep.KindExec, Proc: proc, Exec: &tracep.Exec{Op: tracep.ExecOpExec, Filename: "/usr/bin/wget", Argv: []string{"wget"}}},
		tracep.Event{Seq: 7, Kind: tracep.KindNet, Proc: proc, Net: &tracep.Net{Op: tracep.NetOpConnect, Proto: "tcp", Dir: tracep.DirOut,
			Src: netip.MustParseAddrPort("10.0.0.2:40001"), Dst: netip.MustParseAddrPort("192.0.2.10:80")}})
	f := &testingTB{}
	f.run(func(t testing.TB) { checkFetcher(t, c) }, f)
	require.Equal(t, 1, f.finished)
	require.Len(t, f.errors, 2, "%q", f.errors)
	require.Contains(t, f.errors[0], "execs outside the allowed set")
	require.Contains(t, f.errors[1], "unexpected connection to *:80")

	leak := []byte("X-Token: token-8d1c\r\n")
	c.Events = append(c.Events, tracep.Event{Seq: 8, Kind: tracep.KindTLS, Proc: proc, TLS: &tracep.TLS{Op: tracep.TLSOpWrite,
		Library: "openssl", SNI: "evil.test", Data: leak, Len: len(leak)}})
	f = &testingTB{}
	f.run(func(t testing.TB) { checkFetcher(t, c) }, f)
	require.Zero(t, f.finished)
	require.Len(t, f.errors, 3)
	require.NotContains(t, f.errors[2], "token-8d1c")
}
