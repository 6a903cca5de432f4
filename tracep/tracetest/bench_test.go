package tracetest

import (
	"context"
	"testing"

	"github.com/tracep/tracep/tracep"
)

func BenchmarkBenchStart(b *testing.B) {
	befores := 0
	BenchStart(b, func() { befores++ }, func(_ context.Context, cfg error, _ func(tracep.Event)) (fakeSession, error) {
		return fakeSession{cfg}, nil
	}, nil)
	if befores != b.N {
		b.Fatalf("before ran %d times for %d", befores, b.N)
	}
}
