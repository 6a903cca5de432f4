package backends

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"runtime"
	"sync"

	"github.com/tracep/tracep/tracep"
)

// MemoryQueue is how many events a Trace keeps in memory for a consumer
// that has fallen behind; beyond it they wait in a temporary file.
const MemoryQueue = 4096

// queue hands events from the tracers' goroutines to the consumer's. A
// push never waits for the consumer: when more than MemoryQueue events
// wait, the newer ones go to a temporary file without a name (nothing is
// left behind if the process dies, see spillFile), read back in order once
// the consumer gets to them. The file is only made when needed.
type queue struct {
	mu     sync.Mutex
	mem    []tracep.Event // the oldest waiting events
	wake   chan struct{}  // has a token when something waits, or closed
	closed bool
	limit  int

	// Spilled events, after those in mem, in order.
	file     *os.File
	enc      *tracep.Encoder
	pending  bytes.Buffer // encoded, not yet written
	written  int64        // bytes of the file written
	read     int64        // bytes of the file consumed
	inFile   int          // events in the file (and pending) not yet read
	spillErr error
	spilled  uint64 // events that ever went through the file
}

func newQueue(limit int) *queue {
	q := &queue{wake: make(chan struct{}, 1), limit: limit}
	q.enc = tracep.NewEncoder(&q.pending)
	return q
}

func (q *queue) signal() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// yieldAt is how many events may wait in memory before a push lets the
// consumer run: a tracer's reader hands over a ring's worth of records at
// once, and on one CPU (a -p or whole-system tracep runs its Go code on
// one once armed) it would otherwise queue them all, each event's memory
// live, before the consumer ran at all (tracep net, whole system, 1,000
// connects: peak RSS 12.7 → 12.0 MB, 6.4 → 4.0 MB allocated).
const yieldAt = 256

func (q *queue) push(ev tracep.Event) {
	q.mu.Lock()
	if q.inFile == 0 && len(q.mem) < q.limit {
		q.mem = append(q.mem, ev)
	} else {
		q.spill(ev)
	}
	backlog := len(q.mem)
	q.mu.Unlock()
	q.signal()
	if backlog >= yieldAt {
		runtime.Gosched()
	}
}

// spill writes ev behind the events in memory. Called with q.mu held.
func (q *queue) spill(ev tracep.Event) {
	if q.spillErr != nil {
		return // counted as lost by Close
	}
	if q.file == nil {
		f, err := spillFile()
		if err != nil {
			q.spillErr = fmt.Errorf("spill events to a file: %w", err)
			return
		}
		q.file = f
	}
	if err := q.enc.Encode(ev); err != nil {
		q.spillErr = err
		return
	}
	q.inFile++
	q.spilled++
	if q.pending.Len() >= 64<<10 {
		q.flushLocked()
	}
}

func (q *queue) flushLocked() {
	if q.pending.Len() == 0 || q.spillErr != nil {
		return
	}
	n, err := q.file.WriteAt(q.pending.Bytes(), q.written)
	q.written += int64(n)
	q.pending.Reset()
	if err != nil {
		q.spillErr = fmt.Errorf("spill events to a file: %w", err)
	}
}

// pop waits for events and returns a batch, taking back the previous
// batch's storage; ok is false once the queue is closed and empty.
func (q *queue) pop(prev []tracep.Event) (evs []tracep.Event, ok bool) {
	clear(prev) // let the delivered payloads go
	for {
		q.mu.Lock()
		if len(q.mem) > 0 {
			evs, q.mem = q.mem, prev[:0]
			q.mu.Unlock()
			return evs, true
		}
		if q.inFile > 0 {
			evs = q.readBack(prev[:0])
			q.mu.Unlock()
			return evs, true
		}
		closed := q.closed
		q.mu.Unlock()
		if closed {
			return nil, false
		}
		<-q.wake
	}
}

// readBack reads up to a memory's worth of spilled events. Called with
// q.mu held and q.inFile > 0.
func (q *queue) readBack(evs []tracep.Event) []tracep.Event {
	q.flushLocked()
	r := bufio.NewReaderSize(io.NewSectionReader(q.file, q.read, q.written-q.read), 64<<10)
	d := tracep.NewDecoder(r)
	for q.inFile > 0 && len(evs) < q.limit && q.spillErr == nil {
		ev, err := d.Decode()
		if err != nil {
			q.spillErr = fmt.Errorf("read spilled events: %w", err)
			break
		}
		evs = append(evs, ev)
		q.inFile--
	}
	q.read += d.Offset()
	if q.inFile == 0 && q.spillErr == nil {
		// Drained: the file starts over.
		q.read, q.written = 0, 0
		_ = q.file.Truncate(0)
	}
	return evs
}

func (q *queue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.mem) + q.inFile
}

// close ends the queue once the events waiting have been popped.
func (q *queue) close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	q.signal()
}

// release closes the file and reports a failure to spill: events then
// lost.
func (q *queue) release() error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.file != nil {
		q.file.Close()
		q.file = nil
	}
	return q.spillErr
}

// namedSpillFile makes a temporary file and unlinks it at once: gone with
// its last descriptor.
func namedSpillFile() (*os.File, error) {
	f, err := os.CreateTemp("", "tracep-queue-*")
	if err != nil {
		return nil, err
	}
	if err := os.Remove(f.Name()); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}
