package tracetest

import (
	"runtime"
	"testing"
)

// Outcome runs f on a test of its own, in a goroutine as the testing
// package does, and says how f ended it: "" (it went on), "skip" or
// "fail". Tests of test helpers (gates such as SkipIfUnprivileged, or a
// constructor that skips without privilege) use it to check both ends.
func Outcome(f func(testing.TB)) string {
	r := &recorder{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		f(r)
	}()
	<-done
	return r.outcome
}

// recorder is the testing.TB Outcome hands over: Skip and Fatal end the
// calling goroutine, as the testing package's do.
type recorder struct {
	testing.TB
	outcome string
}

func (r *recorder) Helper()               {}
func (r *recorder) Skip(...any)           { r.outcome = "skip"; runtime.Goexit() }
func (r *recorder) Skipf(string, ...any)  { r.outcome = "skip"; runtime.Goexit() }
func (r *recorder) SkipNow()              { r.outcome = "skip"; runtime.Goexit() }
func (r *recorder) Fatal(...any)          { r.outcome = "fail"; runtime.Goexit() }
func (r *recorder) Fatalf(string, ...any) { r.outcome = "fail"; runtime.Goexit() }
func (r *recorder) FailNow()              { r.outcome = "fail"; runtime.Goexit() }
func (r *recorder) Error(...any)          { r.outcome = "fail" }
func (r *recorder) Errorf(string, ...any) { r.outcome = "fail" }
func (r *recorder) Fail()                 { r.outcome = "fail" }
func (r *recorder) Cleanup(func())        {}
func (r *recorder) Log(...any)            {}
func (r *recorder) Logf(string, ...any)   {}
func (r *recorder) Name() string          { return "tracetest.Outcome" }
func (r *recorder) Skipped() bool         { return r.outcome == "skip" }
func (r *recorder) Failed() bool          { return r.outcome == "fail" }
