package web_test

import (
	"testing"

	"github.com/tracep/tracep/cmd/tracep/web"
	"github.com/tracep/tracep/cmd/tracep/web/webtest"
)

// BenchmarkPublish measures what Publish costs the trace's consumer per
// event (the encoding of the page's message), over a realistic mix.
func BenchmarkPublish(b *testing.B) {
	s := startServer(b, web.Config{})
	evs := webtest.Trace(10_000)
	i := 0
	for b.Loop() {
		s.Publish(evs[i%len(evs)])
		i++
	}
}
