// Package testenv decides what a privileged test does on a host that lacks
// the privilege: skip with a reason naming it, or, under
// TRACEP_REQUIRE_PRIVILEGED=1 (as in CI), fail, so that no privileged test
// can pass by skipping.
package testenv
