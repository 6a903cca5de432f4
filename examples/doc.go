// Package examples uses tracep as another project would, from a module of
// its own: cmd/fetcher is a Go program with Go tests (harness.Trace in
// the hermetic network of backends/testnet, a policy and a golden file)
// and txtar scripts (package testscripts); shell is a project without Go
// code whose scripts run with `tracep script`. The test here runs the
// shell project's tests as its README says.
package examples
