package harness

import (
	"context"
	"sync"

	"github.com/tracep/tracep/backends"
)

// maxSessions is how many tracer sessions the BPF core holds at once (its
// slot table); traces beyond it wait in Run.
const maxSessions = backends.MaxSessions

// slots hands out session slots to traces, all of a trace's at once so
// that two traces waiting for each other's slots cannot deadlock.
var slots = newSemaphore(maxSessions)

type semaphore struct {
	mu    sync.Mutex
	free  int
	woken chan struct{} // closed and replaced whenever slots are released
}

func newSemaphore(n int) *semaphore {
	return &semaphore{free: n, woken: make(chan struct{})}
}

func (s *semaphore) acquire(ctx context.Context, n int) error {
	n = min(n, maxSessions)
	for {
		s.mu.Lock()
		if s.free >= n {
			s.free -= n
			s.mu.Unlock()
			return nil
		}
		woken := s.woken
		s.mu.Unlock()
		select {
		case <-woken:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (s *semaphore) release(n int) {
	n = min(n, maxSessions)
	s.mu.Lock()
	s.free += n
	close(s.woken)
	s.woken = make(chan struct{})
	s.mu.Unlock()
}
