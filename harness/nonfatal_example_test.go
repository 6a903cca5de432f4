package harness_test

import (
	"testing"

	"github.com/tracep/tracep/harness"
)

// checkFetcher checks what a traced program did, reporting every check
// that fails rather than only the first: the program's whole deviation
// shows in one run. The trace itself is set up with the test's own t,
// since nothing can be checked without it.
func checkFetcher(t testing.TB, c *harness.Capture) {
	check := harness.NonFatal(t)
	c.RequireExec(check, "curl")
	c.RequireOnlyExecs(check, "curl")
	c.RequireResolved(check, "example.test")
	c.RequireConnect(check, "*:443", "proto=tcp")
	c.RequireNoConnect(check, "*:80")
	c.RequireSNI(check, "example.test")
	// A leaked token ends the test: there is no point going on.
	c.RequireNoPlaintext(t, "token-8d1c", "example.test")
}

// NonFatal gives the assertions testify's assert behaviour beside the
// require behaviour they have with the test's own t. This file is a test
// file of another project; the function above runs in this package's
// tests as TestNonFatalExample.
func ExampleNonFatal() {}
