package bpfcore

import (
	"context"
	"fmt"
	"sync/atomic"

	"github.com/cilium/ebpf"
)

// A session's ring grows when its reader falls behind: when half of it
// waited to be read at once (the kernel wakes the reader at a quarter, so
// the reader was late by another quarter), the reader makes a ring four
// times the size and installs it at the session's slot, up to
// SessionConfig.MaxRingBytes. Nothing is lost on the way, and the records
// stay in order:
//
//   - The reader goes on reading the old ring while the new one is made
//     and installed.
//   - Installing swaps the slot's entry at once, and then waits for an RCU
//     grace period: from the swap on, the programs write to the new ring;
//     once the wait is over, none still writes to the old one.
//   - Only then does the reader read the old ring to its end and move to
//     the new one, where the records since the swap wait.
//
// So the old ring must absorb the records of the time it takes to make
// the new one (a fraction of a millisecond to a few for 2-32 MiB here)
// with the half it has left, and the new ring those of a grace period
// (10-15 ms) unread.

// beforeInstall, when set, is called by a growth between making the new
// ring and installing it (SetBeforeRingInstall).
var beforeInstall atomic.Pointer[func()]

// SetBeforeRingInstall makes f run, for tests, whenever a ring has grown
// and is about to be installed: the records written meanwhile go to the
// ring the reader is leaving. It returns a function that undoes it.
func SetBeforeRingInstall(f func()) (undo func()) {
	beforeInstall.Store(&f)
	return func() { beforeInstall.Store(nil) }
}

// grownRing is a bigger ring installed at the session's slot, or the
// error that stopped it.
type grownRing struct {
	ring *ebpf.Map
	rd   *ringReader
	err  error
}

// growIfBehind starts growing the ring when the reader fell behind since
// the last call, and returns where the grown ring will come; nil if it
// does not grow.
func (s *Session) growIfBehind() <-chan grownRing {
	size := int(s.ringBytes.Load())
	if behind := s.rd.takeBehind(); int(behind) < size/2 || size >= s.maxRing {
		return nil
	}
	size = min(4*size, s.maxRing)
	done := make(chan grownRing, 1)
	asleep := s.rd.asleep
	go func() {
		var g grownRing
		g.ring, g.err = newSessionRing(size)
		if g.err == nil {
			g.rd, g.err = newRingReader(g.ring, asleep)
		}
		if g.err == nil {
			if h := beforeInstall.Load(); h != nil {
				(*h)()
			}
			g.err = s.rings.Put(uint32(s.slot), g.ring)
		}
		if g.err != nil {
			if g.rd != nil {
				g.rd.close()
			}
			if g.ring != nil {
				g.ring.Close()
			}
			g.err = fmt.Errorf("grow %s ring to %d bytes: %w", s.backend.Kind, size, g.err)
		}
		// End the reader's wait: it moves to the new ring at once.
		s.grown.Store(true)
		s.rdMu.Lock()
		s.rd.interrupt()
		s.rdMu.Unlock()
		done <- g
	}()
	return done
}

// moveTo reads the old ring to its end and moves the reader to g's ring.
// If g failed, the session keeps its ring and stops growing it.
func (s *Session) moveTo(g grownRing, handle func([]byte)) error {
	s.grown.Store(false)
	if g.err != nil {
		// Not a loss: the ring stays as it was. Should it overflow, the
		// kernel counts what it drops.
		s.maxRing = int(s.ringBytes.Load())
		return nil
	}
	// No program writes to the old ring any more (the install waited for
	// the last).
	if _, err := s.rd.drain(handle, true); err != nil {
		g.rd.close()
		return err
	}
	s.rdMu.Lock()
	old := s.rd
	s.rd = g.rd
	s.rdMu.Unlock()
	old.close()
	s.idle = false

	c := &theCore
	c.mu.Lock()
	c.setRing(s.slot, g.ring)
	c.mu.Unlock()

	s.ringGrew.L.Lock()
	s.ringBytes.Store(int64(g.ring.MaxEntries()))
	s.ringGrew.Broadcast()
	s.ringGrew.L.Unlock()
	return nil
}

// RingBytes returns the size of the session's ring buffer now.
func (s *Session) RingBytes() int { return int(s.ringBytes.Load()) }

// AwaitRingBytes waits until the session's ring has grown to at least n
// bytes, or ctx is done, for tests.
func (s *Session) AwaitRingBytes(ctx context.Context, n int) error {
	wake := func() {
		s.ringGrew.L.Lock()
		s.ringGrew.Broadcast()
		s.ringGrew.L.Unlock()
	}
	defer context.AfterFunc(ctx, wake)()
	s.ringGrew.L.Lock()
	defer s.ringGrew.L.Unlock()
	for s.RingBytes() < n {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("ring of %d bytes, not %d: %w", s.RingBytes(), n, err)
		}
		s.ringGrew.Wait()
	}
	return nil
}
