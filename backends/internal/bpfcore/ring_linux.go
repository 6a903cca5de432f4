package bpfcore

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"slices"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// Record header flags of a BPF ring buffer (kernel/bpf/ringbuf.c).
const (
	ringBusyBit    = 1 << 31
	ringDiscardBit = 1 << 30
	ringHeaderSize = 8
)

// errRingCorrupt is a record header pointing beyond what the kernel
// produced: the ring cannot be read any further.
var errRingCorrupt = errors.New("ring buffer record beyond the producer position")

// ringReader reads one BPF ring buffer in place. Unlike ringbuf.Reader,
// whose waits block a thread in epoll_wait (a thread hand-off and a
// futex at every wake-up, and the runtime's monitor polling meanwhile),
// it waits in Go's own netpoller: a parked reader costs no thread, and the
// readers of every ring of the process wake in one epoll_wait and, at a
// tick, on one timer (ticks). Records are handed over as slices of the mapped
// ring, without a copy; the consumer position moves past a record once
// its handler returns.
//
// The ring's data is not mapped whole (the kernel maps it twice in a row
// so that a record that wraps around reads straight, and every page of a
// mapping counts in the resident set at once: 8 MiB of RSS for a 4 MiB
// ring). Address space for both copies is reserved, and only the windows
// the reader is at are mapped: the ring costs the process a window or two
// of memory, whatever its size. The ring itself is kernel memory, charged
// to tracep's memory cgroup.
type ringReader struct {
	file *os.File // a duplicate of the map's fd, non-blocking, in the netpoller
	fd   int
	raw  syscall.RawConn
	// Mapped memory.
	consPage, prodPage []byte
	consPos, prodPos   *uintptr
	area               unsafe.Pointer // 2*size bytes reserved: the data, twice
	size               uintptr
	mask               uintptr
	// mapped lists the windows of area mapped, by index.
	mapped []uintptr
	// asleep is the ring's slot in tp_wake: set, the next record wakes
	// the reader.
	asleep *uint32
	// behind is the most bytes drain found waiting since takeBehind.
	behind uintptr
}

// takeBehind returns the most bytes that waited to be read at once since
// the last call.
func (r *ringReader) takeBehind() uintptr {
	b := r.behind
	r.behind = 0
	return b
}

// ringWindow is the unit in which the ring's data is mapped: records of up
// to 132 KiB span three at most. It divides every ring size (MinRingBytes).
const ringWindow = 64 << 10

func newRingReader(m *ebpf.Map, asleep *uint32) (*ringReader, error) {
	size := int(m.MaxEntries())
	if size < ringWindow || size&(size-1) != 0 {
		return nil, fmt.Errorf("ring buffer size %d is not a power of two of at least %d", size, ringWindow)
	}
	fd, err := unix.FcntlInt(uintptr(m.FD()), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("duplicate ring buffer fd: %w", err)
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("ring buffer fd: %w", err)
	}
	// The fd is non-blocking and pollable: NewFile puts it in the netpoller.
	r := &ringReader{fd: fd, file: os.NewFile(uintptr(fd), "bpf ring buffer"), size: uintptr(size), mask: uintptr(size - 1),
		asleep: asleep}
	atomic.StoreUint32(asleep, 0)
	if err := r.mapPages(); err != nil {
		r.close()
		return nil, err
	}
	if r.raw, err = r.file.SyscallConn(); err != nil {
		r.close()
		return nil, err
	}
	return r, nil
}

// mapPages maps the consumer and producer pages and reserves the data's
// address space.
func (r *ringReader) mapPages() error {
	page := os.Getpagesize()
	var err error
	if r.consPage, err = unix.Mmap(r.fd, 0, page, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED); err != nil {
		return fmt.Errorf("map ring buffer consumer page: %w", err)
	}
	if r.prodPage, err = unix.Mmap(r.fd, int64(page), page, unix.PROT_READ, unix.MAP_SHARED); err != nil {
		return fmt.Errorf("map ring buffer producer page: %w", err)
	}
	r.consPos = (*uintptr)(unsafe.Pointer(&r.consPage[0]))
	r.prodPos = (*uintptr)(unsafe.Pointer(&r.prodPage[0]))
	if r.area, err = unix.MmapPtr(-1, 0, nil, 2*r.size, unix.PROT_NONE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_NORESERVE); err != nil {
		r.area = nil
		return fmt.Errorf("reserve ring buffer address space: %w", err)
	}
	return nil
}

// window returns the n bytes at offset off of the data's double mapping,
// mapping the windows they fall in.
func (r *ringReader) window(off, n uintptr) ([]byte, error) {
	for w := off / ringWindow; w <= (off+n-1)/ringWindow; w++ {
		if slices.Contains(r.mapped, w) {
			continue
		}
		// Data pages start at page 2 of the map's offsets, then again
		// after the ring's size.
		page := uintptr(os.Getpagesize())
		if _, err := unix.MmapPtr(r.fd, int64(2*page+w*ringWindow), unsafe.Add(r.area, w*ringWindow), ringWindow,
			unix.PROT_READ, unix.MAP_SHARED|unix.MAP_FIXED); err != nil {
			return nil, fmt.Errorf("map ring buffer data: %w", err)
		}
		r.mapped = append(r.mapped, w)
	}
	return unsafe.Slice((*byte)(unsafe.Add(r.area, off)), n), nil
}

// release unmaps the windows but the one at offset off, keeping their
// address space reserved.
func (r *ringReader) release(off uintptr) error {
	keep := off / ringWindow
	kept := r.mapped[:0]
	var err error
	for _, w := range r.mapped {
		if w == keep {
			kept = append(kept, w)
			continue
		}
		if _, merr := unix.MmapPtr(-1, 0, unsafe.Add(r.area, w*ringWindow), ringWindow,
			unix.PROT_NONE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_NORESERVE|unix.MAP_FIXED); merr != nil && err == nil {
			err = fmt.Errorf("unmap ring buffer data: %w", merr)
		}
	}
	r.mapped = kept
	return err
}

// available returns how many bytes wait to be read.
func (r *ringReader) available() uintptr {
	return atomic.LoadUintptr(r.prodPos) - atomic.LoadUintptr(r.consPos)
}

// drain hands every committed record to h, in order, and returns how many
// it handed. With final set it stops at what the kernel had produced when
// it began, so that it ends even if programs still write.
func (r *ringReader) drain(h func([]byte), final bool) (int, error) {
	n := 0
	cons := atomic.LoadUintptr(r.consPos)
	end := atomic.LoadUintptr(r.prodPos)
	for {
		prod := atomic.LoadUintptr(r.prodPos)
		if final {
			prod = end
		}
		if cons == prod {
			return n, r.release(cons & r.mask)
		}
		if prod-cons < ringHeaderSize {
			return n, errRingCorrupt
		}
		r.behind = max(r.behind, prod-cons)
		at := cons & r.mask
		head, err := r.window(at, ringHeaderSize)
		if err != nil {
			return n, err
		}
		// An atomic load of the length orders the reads of the record
		// after the kernel's commit (an xchg of the same word).
		hdr := atomic.LoadUint32((*uint32)(unsafe.Pointer(&head[0])))
		if hdr&ringBusyBit != 0 {
			// Reserved, not committed yet: the program committing it
			// runs on another CPU and commits before it returns.
			runtime.Gosched()
			continue
		}
		length := uintptr(hdr &^ (ringBusyBit | ringDiscardBit))
		next := cons + ringHeaderSize + (length+7)&^7
		if next-cons > prod-cons || length > r.size {
			return n, errRingCorrupt
		}
		if hdr&ringDiscardBit == 0 && length > 0 {
			rec, err := r.window(at+ringHeaderSize, length)
			if err != nil {
				return n, err
			}
			h(rec[:length:length])
			n++
		}
		cons = next
		atomic.StoreUintptr(r.consPos, cons)
		if len(r.mapped) > 2 {
			if err := r.release(cons & r.mask); err != nil {
				return n, err
			}
		}
	}
}

// wait waits until the ring has data, the kernel woke its readers, the
// next tick (if tick is set) or stop returns true, and reports whether the
// tick came; stop is called before waiting and after every wake-up.
func (r *ringReader) wait(tick bool, stop func() bool) (expired bool, err error) {
	if err := r.file.SetReadDeadline(time.Time{}); err != nil {
		return false, err
	}
	if tick {
		if err := ticks.add(r); err != nil {
			// Without the shared timer, a deadline of the reader's own.
			if err := r.file.SetReadDeadline(time.Now().Truncate(Tick).Add(Tick)); err != nil {
				return false, err
			}
			tick = false
		}
	}
	err = r.raw.Read(func(uintptr) bool { return stop() || r.available() > 0 })
	if tick {
		ticks.remove(r)
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return true, nil
	}
	return false, err
}

// sleepUntilRecord asks the programs to wake the reader at the next
// record (tp_wake); the caller then looks at the ring once more, since a
// record may have come before the request.
func (r *ringReader) sleepUntilRecord() {
	atomic.StoreUint32(r.asleep, 1)
}

// interrupt ends a wait at once.
func (r *ringReader) interrupt() {
	_ = r.file.SetReadDeadline(time.Unix(1, 0))
}

func (r *ringReader) close() {
	if r.area != nil {
		_ = unix.MunmapPtr(r.area, 2*r.size)
		r.area = nil
	}
	for _, p := range []*[]byte{&r.prodPage, &r.consPage} {
		if *p != nil {
			_ = unix.Munmap(*p)
			*p = nil
		}
	}
	if r.file != nil {
		r.file.Close()
	}
}

// RingReader reads a ring buffer of a backend's own, not a session's,
// whose programs wake readers the kernel's default way (at a record, when
// the reader has caught up). It reads as sessions' rings are read (see
// ringReader): in the netpoller and through windows, where cilium/ebpf's
// ringbuf.Reader maps the data whole (twice the ring's size counted in the
// resident set at once) and blocks a thread in epoll_wait.
type RingReader struct {
	r       *ringReader
	asleep  uint32 // tp_wake's part for sessions' rings: unused here
	flushed atomic.Bool
}

// NewRingReader returns a reader of m, a ring buffer of a power-of-two
// size of at least MinRingBytes.
func NewRingReader(m *ebpf.Map) (*RingReader, error) {
	rr := &RingReader{}
	r, err := newRingReader(m, &rr.asleep)
	if err != nil {
		return nil, err
	}
	rr.r = r
	return rr, nil
}

// Read hands every record to h, in order, as they come, until Flush; it
// then hands those committed before Flush and returns. A record is valid
// only during h's call, and the ring moves past it when h returns.
func (rr *RingReader) Read(h func([]byte)) error {
	for {
		if rr.flushed.Load() {
			_, err := rr.r.drain(h, true)
			return err
		}
		if _, err := rr.r.drain(h, false); err != nil {
			return err
		}
		if _, err := rr.r.wait(false, rr.flushed.Load); err != nil {
			return err
		}
	}
}

// Flush makes Read return once it has handed the records committed so
// far.
func (rr *RingReader) Flush() {
	rr.flushed.Store(true)
	rr.r.interrupt()
}

// Close releases the ring's mappings and file. Read must have returned, or
// never have been called.
func (rr *RingReader) Close() { rr.r.close() }
