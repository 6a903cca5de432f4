package harness_test

import (
	"strings"
	"testing"

	"github.com/tracep/tracep/backends/testnet"
	"github.com/tracep/tracep/harness"
)

// curlPolicy is what curl may do: run, look up names of the fake internet
// and connect to port 443 of addresses those lookups gave.
const curlPolicy = `
allow exec prog=curl
allow dns name=*.test
allow net dst=*:53
allow net dst=*:443
require connect-from-dns
require sni-from-dns
`

// In a _test.go file, this is a test: curl fetches a page of the hermetic
// network, traced from its first instruction. Without root the test is
// skipped (or fails under TRACEP_REQUIRE_PRIVILEGED=1).
func testCurlFetchesOnePage(t *testing.T) {
	n := testnet.NewT(t, nil)
	cmd := n.Command("curl", "-sS", "-o", "/dev/null", "https://www.example.test/")
	c := harness.Trace(t, cmd, harness.InNet(n))
	if c.ExitCode != 0 {
		t.Fatalf("curl exited with %d", c.ExitCode)
	}

	c.RequireExec(t, "curl", "https://www.example.test/")
	c.RequireOnlyExecs(t, "curl")
	c.RequireResolved(t, "www.example.test")
	c.RequireOnlyNames(t, "www.example.test")
	c.RequireConnect(t, "*:443", "proto=tcp")
	c.RequireNoConnect(t, "*:80")
	c.RequireSNI(t, "www.example.test")

	p, err := harness.ParsePolicy(strings.NewReader(curlPolicy))
	if err != nil {
		t.Fatal(err)
	}
	c.RequirePolicy(t, p)
}

// Trace runs a command under every tracer in a test and returns what it
// did, for assertions. This file is a test file of another project; the
// test above runs in this package as TestExampleTrace.
func ExampleTrace() {}
