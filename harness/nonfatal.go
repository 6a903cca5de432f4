package harness

import "testing"

// NonFatal returns t for checks that let the test go on after a failure,
// as testify's assert beside require: given it, the assertions of this
// package (the Require… methods of Capture, RequireGolden among them)
// report a failure with t.Errorf and return, with the zero value where
// they return one, instead of ending the test. A test then reports every
// check that failed, not only the first:
//
//	check := harness.NonFatal(t)
//	c.RequireExec(check, "curl")             // reported; the test goes on
//	c.RequireResolved(check, "example.test") // reported too
//	c.RequireNoPlaintext(t, secret)          // ends the test
//
// Only FailNow changes: it marks the test failed (t.Fail) and returns.
// The assertions report with Errorf, then call FailNow, which ends the
// test when t is the test's own, and return right after it. Fatal, Fatalf
// and Skip stay t's, so that what cannot go on after a failure still stops
// the test: Trace and testnet.NewT given a NonFatal t end it as they
// would. testify's require, which calls FailNow, reports and goes on with
// it as assert does.
func NonFatal(t testing.TB) testing.TB {
	if nf, ok := t.(nonFatal); ok {
		return nf
	}
	return nonFatal{t}
}

// nonFatal is a testing.TB whose FailNow does not end the test.
type nonFatal struct{ testing.TB }

// FailNow marks the test failed and returns, so that the assertion that
// called it returns and the test goes on.
func (n nonFatal) FailNow() { n.TB.Fail() }

// fail reports the failure of an assertion: t.Errorf, then t.FailNow,
// which ends the test unless t is NonFatal. The assertion returns right
// after it.
func fail(t testing.TB, format string, args ...any) {
	t.Helper()
	t.Errorf(format, args...)
	t.FailNow()
}
