package main

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/tracep/tracep/backends/testnet"
	"github.com/tracep/tracep/cmd/tracep/cli"
	"github.com/tracep/tracep/harness"
	"github.com/tracep/tracep/testscripts"
	"github.com/tracep/tracep/tracep"
)

// The test binary is also fetcher and tracep: testscript.Main puts both on
// PATH, for the Go tests below and for the scripts.
func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){"fetcher": main, "tracep": cli.Main})
}

// fetcherDir is where testscript.Main put fetcher, to be left out of
// golden files.
func fetcherDir(t *testing.T) string {
	path, err := exec.LookPath("fetcher")
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Dir(path)
}

// fetcher's whole behaviour, traced from its first instruction inside a
// hermetic network (DNS, HTTPS with a generated CA).
func TestFetcherTrace(t *testing.T) {
	n := testnet.NewT(t, nil) // skips without root, fails under TRACEP_REQUIRE_PRIVILEGED=1
	var stdout strings.Builder
	cmd := n.Command("fetcher", "https://www.example.test/bytes?n=100")
	cmd.Stdout = &stdout
	c := harness.Trace(t, cmd, harness.InNet(n))
	if c.ExitCode != 0 {
		t.Fatalf("fetcher exited with %d", c.ExitCode)
	}
	if got, want := stdout.String(), "www.example.test 200 100 bytes "; !strings.HasPrefix(got, want) {
		t.Fatalf("fetcher printed %q, want %q...", got, want)
	}

	// exec: fetcher runs its helper and nothing else.
	c.RequireExec(t, "fetcher", "https://www.example.test/*")
	c.RequireExec(t, "sha256sum")
	c.RequireOnlyExecs(t, "fetcher", "sha256sum")
	// dns: it resolves the URL's host, and only that.
	c.RequireResolved(t, "www.example.test")
	c.RequireOnlyNames(t, "www.example.test")
	// net: DNS to the resolver, HTTPS to the host, nothing in plain HTTP.
	conn := c.RequireConnect(t, "*:443", "proto=tcp", "comm=fetcher")
	if _, fromDNS := c.AnswerFor(conn); !fromDNS {
		t.Errorf("%s: connected to an address no DNS answer gave", conn)
	}
	c.RequireNoConnect(t, "*:80")
	c.RequireOnlyConnections(t, "proto=udp dst=*:53", "proto=tcp dst=*:443")
	// tls: the server name is the host's, and the request is a GET of the URL's path.
	c.RequireSNI(t, "www.example.test")
	c.RequireOnlySNI(t, "www.example.test")
	c.RequirePlaintext(t, tracep.TLSOpWrite, "GET /bytes?n=100 HTTP/1.1\r\nHost: www.example.test\r\n")
	c.RequirePlaintext(t, tracep.TLSOpRead, "HTTP/1.1 200 OK")

	p, err := harness.ReadPolicyFile(filepath.Join("testdata", "fetcher.policy"))
	if err != nil {
		t.Fatal(err)
	}
	c.RequirePolicy(t, p)

	// The golden form of the whole trace: what fetcher ran, resolved,
	// connected to and said over TLS (go test -update rewrites it).
	c.RequireGolden(t, filepath.Join("testdata", "fetcher.golden"), fetcherDir(t), "$BIN")
}

// The policy catches a connection to an address that no lookup gave, and
// a helper that is not allowed.
func TestFetcherPolicyViolations(t *testing.T) {
	n := testnet.NewT(t, nil)
	cmd := n.Command("fetcher", "-connect", "192.0.2.10:443", "-helper", "md5sum", "https://example.test/")
	c := harness.Trace(t, cmd, harness.InNet(n))
	if c.ExitCode != 0 {
		t.Fatalf("fetcher exited with %d", c.ExitCode)
	}
	c.RequireNoLookup(t, "*")
	p, err := harness.ReadPolicyFile(filepath.Join("testdata", "fetcher.policy"))
	if err != nil {
		t.Fatal(err)
	}
	var reasons []string
	for _, v := range p.Judge(c.Events).Violations {
		reasons = append(reasons, string(v.Event.Kind)+": "+v.Reason)
	}
	got := strings.Join(reasons, "\n")
	for _, want := range []string{"exec: ", "net: connect-from-dns", "tls: sni-from-dns"} {
		if !strings.Contains(got, want) {
			t.Errorf("no violation %q; the violations were:\n%s", want, got)
		}
	}
}

// A command of the hermetic network runs inside however it is started:
// here untraced, with cmd.Output.
func TestFetcherUntraced(t *testing.T) {
	n := testnet.NewT(t, nil)
	out, err := n.Command("fetcher", "-helper", "md5sum", "https://example.test/bytes?n=26").Output()
	if err != nil {
		t.Fatal(err)
	}
	// The body is the alphabet.
	if got, want := string(out), "example.test 200 26 bytes c3fcd3d76192e4007dfb496cca67e13b\n"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

// The scripts in testdata/script trace fetcher with tracep's script
// commands, as a project's own scripts would.
func TestScripts(t *testing.T) {
	p := testscript.Params{
		Dir:                 filepath.Join("testdata", "script"),
		RequireExplicitExec: true,
		UpdateScripts:       harness.Updating(),
	}
	if err := testscripts.Setup(&p); err != nil {
		t.Fatal(err)
	}
	testscript.Run(t, p)
}
