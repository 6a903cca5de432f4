package tracetest

import (
	"context"
	"testing"
	"time"

	"github.com/tracep/tracep/tracep"
)

// BenchStart measures a tracer's Start: b.N times it calls before (unless
// nil), starts a session with start(ctx, cfg, emit), emit discarding the
// events, and closes it. It reports the mean time of Start as "arm-ms" and
// of Close as "close-ms"; an error fails b.
func BenchStart[C any, S tracep.Session](b *testing.B, before func(), start func(context.Context, C, func(tracep.Event)) (S, error), cfg C) {
	b.Helper()
	var arm, cls time.Duration
	b.ResetTimer()
	for range b.N {
		if before != nil {
			before()
		}
		t0 := time.Now()
		s, err := start(context.Background(), cfg, func(tracep.Event) {})
		if err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if err := s.Close(); err != nil {
			b.Fatal(err)
		}
		arm += t1.Sub(t0)
		cls += time.Since(t1)
	}
	perRun := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e6 / float64(b.N) }
	b.ReportMetric(perRun(arm), "arm-ms")
	b.ReportMetric(perRun(cls), "close-ms")
}
