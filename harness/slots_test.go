package harness

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestSemaphore(t *testing.T) {
	s := newSemaphore(4)
	require.NoError(t, s.acquire(context.Background(), 3))

	// A trace that needs more than is free waits for a release.
	got := make(chan struct{})
	go func() {
		require.NoError(t, s.acquire(context.Background(), 2))
		close(got)
	}()
	select {
	case <-got:
		t.Fatal("acquired 2 of 1 free slot")
	default:
	}
	s.release(3)
	<-got

	// A cancelled wait gives up.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.ErrorIs(t, s.acquire(ctx, 3), context.Canceled)

	// Many waiters all get through as slots come back.
	s.release(2)
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			require.NoError(t, s.acquire(ctx, 4))
			s.release(4)
		}()
	}
	wg.Wait()
	require.Equal(t, 4, s.free)
}
