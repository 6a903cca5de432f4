package backends

import (
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tracep/tracep/tracep"
)

// A consumer that has stopped costs the pushers nothing: events beyond the
// memory limit go to an unlinked file and come back in order, whole.
func TestQueueSpillsInOrder(t *testing.T) {
	before, _ := filepath.Glob(filepath.Join(os.TempDir(), "tracep-queue-*"))
	q := newQueue(100)
	const n = 5000
	for i := range n {
		q.push(tracep.Event{Kind: tracep.KindNet, KTime: uint64(i), Time: time.Unix(int64(i), 0).UTC(),
			Net: &tracep.Net{Op: tracep.NetOpConnect, Proto: "tcp", Dst: netip.MustParseAddrPort("192.0.2.1:443")}})
		require.LessOrEqual(t, len(q.mem), 100, "memory stays bounded")
	}
	require.Equal(t, n, q.len())
	require.Greater(t, q.spilled, uint64(n-200))
	after, _ := filepath.Glob(filepath.Join(os.TempDir(), "tracep-queue-*"))
	require.Equal(t, before, after, "the spill file has no name")
	q.close()

	var got []tracep.Event
	var batch []tracep.Event
	for {
		var ok bool
		if batch, ok = q.pop(batch); !ok {
			break
		}
		require.LessOrEqual(t, len(batch), 100)
		got = append(got, batch...)
	}
	require.NoError(t, q.release())
	require.Len(t, got, n)
	for i, ev := range got {
		require.Equal(t, uint64(i), ev.KTime)
		require.Equal(t, "192.0.2.1:443", ev.Net.Dst.String())
	}
}

// After the file drained, memory takes over again and the file starts over.
func TestQueueDrainsBackToMemory(t *testing.T) {
	q := newQueue(2)
	for i := range 5 {
		q.push(tracep.Event{Kind: tracep.KindExec, KTime: uint64(i), Exec: &tracep.Exec{Op: tracep.ExecOpExec}})
	}
	var seen []uint64
	var batch []tracep.Event
	for len(seen) < 5 {
		batch, _ = q.pop(batch)
		for _, ev := range batch {
			seen = append(seen, ev.KTime)
		}
	}
	require.Equal(t, []uint64{0, 1, 2, 3, 4}, seen)
	require.Zero(t, q.written)
	q.push(tracep.Event{Kind: tracep.KindExec, KTime: 9, Exec: &tracep.Exec{}})
	require.Len(t, q.mem, 1, "back in memory")
	q.close()
	batch, ok := q.pop(batch)
	require.True(t, ok)
	require.Len(t, batch, 1)
	_, ok = q.pop(batch)
	require.False(t, ok)
	require.NoError(t, q.release())
}

// On one CPU a pusher handing over a burst lets the consumer run once
// yieldAt events wait: the consumer takes batches of about that many (the
// scheduler may resume the pusher first now and then), not the whole
// burst, so a burst's events are not all alive at once.
func TestQueueBurstYieldsToConsumer(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	q := newQueue(MemoryQueue)
	const n = 4 * MemoryQueue
	largest := make(chan int)
	go func() {
		most, total := 0, 0
		var batch []tracep.Event
		for {
			var ok bool
			if batch, ok = q.pop(batch); !ok {
				break
			}
			most, total = max(most, len(batch)), total+len(batch)
		}
		require.Equal(t, n, total)
		largest <- most
	}()
	for i := range n {
		q.push(tracep.Event{Kind: tracep.KindExec, KTime: uint64(i)})
	}
	q.close()
	require.LessOrEqual(t, <-largest, 2*yieldAt, "the consumer took the burst in batches far larger than yieldAt")
	require.Zero(t, q.spilled, "nothing spilled: the consumer kept up")
	require.NoError(t, q.release())
}
