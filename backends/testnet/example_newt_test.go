package testnet_test

import (
	"testing"

	"github.com/tracep/tracep/backends/testnet"
)

// In a _test.go file, this is a test that uses the fake internet: NewT
// skips it without root (fails it under TRACEP_REQUIRE_PRIVILEGED=1) and
// closes the network when it ends.
func testPythonFetches(t *testing.T) {
	n := testnet.NewT(t, nil)
	cmd := n.Command("python3", "-c", `
import urllib.request
print(urllib.request.urlopen("https://example.test/").read().decode(), end="")`)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if string(out) != "hello from example.test\n" {
		t.Fatalf("got %q", out)
	}
}

// NewT starts a fake internet for a test. This file is a test file of
// another project; the test above runs in this package as
// TestExampleNewT.
func ExampleNewT() {}
