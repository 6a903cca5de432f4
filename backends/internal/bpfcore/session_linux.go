package bpfcore

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/tracep/tracep/backends/cgroup"
	"github.com/tracep/tracep/backends/internal/procfs"
	"github.com/tracep/tracep/tracep"
)

// Handler consumes one raw record. It runs on the session's goroutine, in
// the order the kernel committed the records; rec is only valid during the
// call. An error counts the record as lost and the first one is returned by
// Close.
type Handler func(rec []byte) error

// Emitter returns a Handler that decodes each record with decode and hands
// the event it yields, when ok, to emit with its wall-clock Time set (by a
// Clock made now). An error from decode counts the record as lost.
func Emitter(decode func(rec []byte) (ev tracep.Event, ok bool, err error), emit func(tracep.Event)) Handler {
	clock := NewClock()
	return func(rec []byte) error {
		ev, ok, err := decode(rec)
		if ok && err == nil {
			ev.Time = clock.Time(ev.KTime)
			emit(ev)
		}
		return err
	}
}

// Always adapts a decoder that yields an event for every record it
// accepts, for Emitter.
func Always(decode func(rec []byte) (tracep.Event, error)) func([]byte) (tracep.Event, bool, error) {
	return func(rec []byte) (tracep.Event, bool, error) {
		ev, err := decode(rec)
		return ev, err == nil, err
	}
}

// Session is one backend session: a slot, its scope registration, its ring
// buffer and the goroutine reading it.
type Session struct {
	backend *Backend
	kind    int
	slot    int
	bit     uint64
	scope   tracep.Scope
	handle  Handler
	done    chan struct{} // closed by the reader goroutine when it ends

	// rd is the reader of the session's ring. The reader goroutine
	// replaces it when the ring grows; other goroutines read it under
	// rdMu.
	rd      *ringReader
	rdMu    sync.Mutex
	rings   *ebpf.Map // tp_rings
	maxRing int       // the size up to which the ring may grow
	// ringBytes is the ring's size now; ringGrew is signalled when it
	// changes.
	ringBytes atomic.Int64
	ringGrew  *sync.Cond
	// grown is set when a bigger ring is installed and the reader should
	// move to it.
	grown atomic.Bool

	closing   atomic.Bool // set by Close: drain what is committed and end
	closeOnce sync.Once
	closeErr  error

	bad atomic.Uint64 // records the handler failed on
	// Under theCore.mu: set when the slot is released.
	released  bool
	finalLost uint64

	// Owned by the reader goroutine until done is closed.
	idle     bool // asleep until a record comes (tp_wake)
	firstBad error
	readErr  error
}

// Lost returns how many of the session's records were lost so far: dropped
// by the kernel (a full ring) or rejected by the handler. It may be called
// from any goroutine, during the session and after Close (the final count).
func (s *Session) Lost() uint64 {
	c := &theCore
	c.mu.Lock()
	defer c.mu.Unlock()
	if s.released {
		return s.finalLost
	}
	return c.kernelLost(s.slot) + s.bad.Load()
}

// Open starts a session of backend b. It returns once the backend's programs
// are attached and the scope is registered, so any event caused after Open
// returns reaches h. ctx bounds the start-up only.
func (b *Backend) Open(ctx context.Context, cfg SessionConfig, h Handler) (*Session, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	kind, err := kindIndex(b.Kind)
	if err != nil {
		return nil, err
	}
	if h == nil {
		return nil, fmt.Errorf("nil handler: %w", tracep.ErrInvalid)
	}

	// Without the capabilities some loads fail with misleading errors
	// (cilium reads EPERM from a feature probe as "not supported").
	t0 := time.Now()
	if err := b.Caps.Check(b.op()); err != nil {
		return nil, err
	}
	c := &theCore
	// The backend's spec is parsed while the kernel is probed.
	c.mu.Lock()
	var prefetched <-chan specResult
	if b.coll == nil {
		prefetched = prefetchSpec(b)
	}
	c.mu.Unlock()
	Prime(b.Kind)
	if err := Need(b.Kind); err != nil {
		return nil, err
	}
	Phase(string(b.Kind)+": capabilities and kernel features", t0)

	c.mu.Lock()
	defer c.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if c.maps == nil {
		t0 := time.Now()
		if err := c.loadMaps(); err != nil {
			return nil, err
		}
		Phase("core: create maps", t0)
	}
	s, err := c.open(ctx, b, kind, cfg, h, prefetched)
	if err != nil {
		// Keep what loaded: the maps are shared by every loaded backend.
		if b.users == 0 {
			b.detach()
		}
		if c.users == 0 {
			c.detach()
		}
		return nil, err
	}
	return s, nil
}

// pickSlot returns a free slot, preferring one whose installed ring already
// has the wanted size, then one without a ring. A ring still being installed
// in the background is waited for when it is the one that fits, or when
// every free slot is taken by one.
func (c *core) pickSlot(size int) int {
	c.collectSpares()
	slot, rank := c.rankSlots(size, nil)
	if rank > 0 {
		if i := slices.IndexFunc(c.spares, func(sp *spareRing) bool { return sp.size == size }); i >= 0 {
			c.waitSpare(c.spares[i])
			slot, rank = c.rankSlots(size, nil)
		}
	}
	if slot < 0 && len(c.spares) > 0 {
		c.waitSpares()
		slot, _ = c.rankSlots(size, nil)
	}
	return slot
}

// rankSlots returns the best free slot for a ring of size and its rank: 0
// with a ring of that size installed, 1 with none, 2 with another size
// (-1 and 3 if there is none). It skips the slots in skip and those of
// spares in flight.
func (c *core) rankSlots(size int, skip map[int]bool) (int, int) {
	best, bestRank := -1, 3
	for i, s := range c.slots {
		if s != nil || skip[i] || slices.ContainsFunc(c.spares, func(sp *spareRing) bool { return sp.slot == i }) {
			continue
		}
		rank := 2
		switch r := c.rings[i]; {
		case r != nil && int(r.MaxEntries()) == size:
			rank = 0
		case r == nil:
			rank = 1
		}
		if rank < bestRank {
			best, bestRank = i, rank
		}
	}
	return best, bestRank
}

// installAhead installs, in the background, a ring of each size in sizes
// in a free slot other than exclude, except for the sizes a free slot
// already has installed or being installed (each such ring counted once). Installing waits
// for an RCU grace period; doing it ahead keeps that wait out of the next
// sessions' start. Preload calls it for the sessions about to open, and
// open for the next while sessions overlap: one after another, a session
// finds the ring of the one before installed, and a process with a single
// session (a command line's) would pay for a ring it never uses: its
// creation (0.5-3 ms of the kernel's time for 2-8 MiB here) and its memory.
func (c *core) installAhead(sizes []int, exclude int) {
	counted := map[int]bool{exclude: true}
	countedSpares := map[*spareRing]bool{}
	for _, size := range sizes {
		slot, rank := c.rankSlots(size, counted)
		if rank == 0 {
			counted[slot] = true
			continue
		}
		if i := slices.IndexFunc(c.spares, func(sp *spareRing) bool {
			return sp.size == size && !countedSpares[sp]
		}); i >= 0 {
			countedSpares[c.spares[i]] = true
			continue
		}
		if slot < 0 {
			return
		}
		sp := &spareRing{slot: slot, size: size, done: make(chan spareResult, 1)}
		rings := c.maps.Maps[coreMapTpRings]
		go func() {
			ring, err := newSessionRing(size)
			if err == nil {
				if err = rings.Put(uint32(slot), ring); err != nil {
					ring.Close()
					ring = nil
				}
			}
			sp.done <- spareResult{ring, err}
		}()
		c.spares = append(c.spares, sp)
		countedSpares[sp] = true
	}
}

// collectSpares takes in the spare rings installed by now.
func (c *core) collectSpares() {
	c.spares = slices.DeleteFunc(c.spares, func(sp *spareRing) bool {
		select {
		case res := <-sp.done:
			c.takeSpare(sp, res)
			return true
		default:
			return false
		}
	})
}

// waitSpare waits for sp to be installed and takes it in.
func (c *core) waitSpare(sp *spareRing) {
	c.takeSpare(sp, <-sp.done)
	c.spares = slices.DeleteFunc(c.spares, func(s *spareRing) bool { return s == sp })
}

// waitSpares waits for every spare ring in flight and takes them in.
func (c *core) waitSpares() {
	for len(c.spares) > 0 {
		c.waitSpare(c.spares[0])
	}
}

// takeSpare puts an installed spare ring at its slot, in place of the
// ring that was there, which the kernel no longer holds.
func (c *core) takeSpare(sp *spareRing, res spareResult) {
	if res.ring == nil {
		return
	}
	c.setRing(sp.slot, res.ring)
}

// newSessionRing creates a session's ring buffer of size bytes.
func newSessionRing(size int) (*ebpf.Map, error) {
	return ebpf.NewMap(&ebpf.MapSpec{Name: "tp_session", Type: ebpf.RingBuf, MaxEntries: uint32(size)})
}

// setRing records ring as the one installed at slot, closing the one it
// replaced, which the kernel no longer holds.
func (c *core) setRing(slot int, ring *ebpf.Map) {
	if old := c.rings[slot]; old != nil {
		old.Close()
	}
	c.rings[slot] = ring
}

// open does the part of Open that runs with the core's maps created and the
// core locked.
func (c *core) open(ctx context.Context, b *Backend, kind int, cfg SessionConfig, h Handler, prefetched <-chan specResult) (_ *Session, err error) {
	slot := c.pickSlot(cfg.RingBytes)
	if slot < 0 {
		return nil, ErrNoSlot
	}

	// Installing a ring waits for an RCU grace period: do it while the
	// programs load.
	var installed chan error
	var ring *ebpf.Map
	if r := c.rings[slot]; r == nil || int(r.MaxEntries()) != cfg.RingBytes {
		ring, err = newSessionRing(cfg.RingBytes)
		if err != nil {
			return nil, wrapErr("create ring buffer", err)
		}
		installed = make(chan error, 1)
		rings := c.maps.Maps[coreMapTpRings]
		go func() { installed <- rings.Put(uint32(slot), ring) }()
		// Beside another session, the next will likely want the same:
		// start its ring too, so both grace periods overlap the loads.
		if c.users > 0 {
			c.installAhead([]int{cfg.RingBytes}, slot)
		}
	}
	loadErr := func() error {
		if c.fork != nil && c.links == nil {
			t0 := time.Now()
			if err := c.attachFork(); err != nil {
				return err
			}
			Phase("core: attach fork follower again", t0)
		}
		if b.coll == nil {
			// With the fork follower, when it is not loaded either.
			forkErr, errs := c.loadTogether([]*Backend{b}, []<-chan specResult{prefetched})
			return errors.Join(forkErr, errs[0])
		}
		if c.fork == nil {
			if err := c.loadFork(); err != nil {
				return err
			}
		}
		if b.links == nil {
			t0 := time.Now()
			defer Phase(string(b.Kind)+": attach programs again", t0)
			return b.attach()
		}
		return nil
	}()
	if installed != nil {
		t0 := time.Now()
		err := <-installed
		Phase(string(b.Kind)+": wait for ring install (RCU)", t0)
		if err != nil {
			ring.Close()
			return nil, errors.Join(loadErr, wrapErr("install ring buffer", err))
		}
		c.setRing(slot, ring)
	}
	if loadErr != nil {
		return nil, loadErr
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}

	s := &Session{
		backend:  b,
		kind:     kind,
		slot:     slot,
		bit:      1 << slot,
		scope:    cfg.Scope,
		handle:   h,
		done:     make(chan struct{}),
		rings:    c.maps.Maps[coreMapTpRings],
		maxRing:  cfg.maxRing(),
		ringGrew: sync.NewCond(new(sync.Mutex)),
	}
	s.ringBytes.Store(int64(cfg.RingBytes))
	var undo []func()
	defer func() {
		if err != nil {
			for i := len(undo) - 1; i >= 0; i-- {
				undo[i]()
			}
		}
	}()

	t0 := time.Now()
	defer func() { Phase(string(b.Kind)+": reader and scope", t0) }()
	s.rd, err = newRingReader(c.rings[slot], c.wakeFlag(slot))
	if err != nil {
		return nil, fmt.Errorf("ring buffer reader: %w", err)
	}
	undo = append(undo, func() { s.rd.close() })
	// Records left in a reused ring by programs still running when its
	// previous session closed.
	if _, err := s.rd.drain(func([]byte) {}, true); err != nil {
		return nil, fmt.Errorf("drain reused ring buffer: %w", err)
	}
	atomic.StoreUint64(c.lostCount(slot), 0)

	if cfg.Scope.CgroupID != 0 {
		fd, err := cgroup.OpenByID(cfg.Scope.CgroupID)
		if err != nil {
			return nil, fmt.Errorf("scope cgroup: %w", err)
		}
		cgroups := c.maps.Maps[coreMapTpCgroups]
		err = cgroups.Put(uint32(slot), uint32(fd))
		unix.Close(fd)
		if err != nil {
			return nil, wrapErr("scope cgroup", err)
		}
		undo = append(undo, func() { _ = cgroups.Delete(uint32(slot)) })
	}
	if len(cfg.Scope.PIDs) > 0 {
		// The fork follower copies marks of slots in the pid mask only:
		// set the slot's bit first, so that it follows forks while the
		// tree is marked. Without the kind's bit nothing reaches the ring.
		c.cfg.PidMask |= s.bit
		undo = append(undo, func() {
			c.cfg.PidMask &^= s.bit
			_ = c.writeCfg()
		})
		if err := c.writeCfg(); err != nil {
			return nil, err
		}
		if err := c.markPIDs(slot, cfg.Scope.PIDs); err != nil {
			return nil, err
		}
	}

	// The parameter first, then the masks: a program that sees the slot
	// enabled must also see its parameter.
	c.cfg.Param[slot] = cfg.Param
	if err := c.writeCfg(); err != nil {
		return nil, err
	}
	c.setMasks(s, true)
	if err := c.writeCfg(); err != nil {
		c.setMasks(s, false)
		return nil, err
	}

	c.slots[slot] = s
	c.users++
	b.users++
	if c.users > 1 {
		c.installAhead([]int{cfg.RingBytes}, -1)
	}
	liveReaders.Add(1)
	go s.run()
	return s, nil
}

// setMasks sets or clears s's bit in the masks that enable its slot.
func (c *core) setMasks(s *Session, on bool) {
	set := func(m *uint64, cond bool) {
		if on && cond {
			*m |= s.bit
		} else {
			*m &^= s.bit
		}
	}
	set(&c.cfg.KindMask[s.kind], true)
	set(&c.cfg.SystemMask, s.scope.IsSystem())
	set(&c.cfg.CgroupMask, s.scope.CgroupID != 0)
	set(&c.cfg.PidMask, len(s.scope.PIDs) > 0)
}

// pidfdThread is PIDFD_THREAD (Linux 6.9): a pidfd for one thread.
const pidfdThread = unix.O_EXCL

// markPIDs puts slot's mark, with its current generation, on every thread
// of pids and of the processes below them. The kernel follows what a
// marked task forks from then on; what exists already is found in /proc.
// A process forked while the tree is walked has a parent marked before it
// forked (the kernel copied the mark) or one marked after (then it exists
// by the next walk): so the walk is repeated until it finds every process
// marked already. A process that exits meanwhile is no error.
func (c *core) markPIDs(slot int, pids []int) error {
	for {
		tree, err := procfs.Descendants(pids)
		if err != nil {
			return fmt.Errorf("scope pids: %w", err)
		}
		added := false
		for _, pid := range tree {
			a, err := c.markProcess(slot, pid)
			if err != nil {
				return fmt.Errorf("scope pid %d: %w", pid, err)
			}
			added = added || a
		}
		if !added {
			return nil
		}
	}
}

// markProcess marks every thread of process pid, and reports whether one
// was not marked yet. Like markPIDs it lists the threads again until it
// finds them all marked.
func (c *core) markProcess(slot, pid int) (bool, error) {
	added, err := c.markTask(slot, pid, 0)
	if errors.Is(err, unix.ESRCH) {
		return false, nil // exited
	}
	if err != nil {
		return false, err
	}
	for {
		entries, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, unix.ESRCH) {
			// Exited: ESRCH while /proc still lists it as it is reaped
			// (fstatat /proc/PID/task: no such process, seen in the
			// SIGKILL storm).
			return added, nil
		}
		if err != nil {
			return added, err
		}
		more := false
		for _, e := range entries {
			tid, err := strconv.Atoi(e.Name())
			if err != nil || tid == pid {
				continue
			}
			a, err := c.markTask(slot, tid, pidfdThread)
			switch {
			case errors.Is(err, unix.ESRCH):
				// The thread has exited.
			case errors.Is(err, unix.EINVAL):
				// Before Linux 6.9 only the leader can be marked; its
				// other threads are followed once they create tasks.
				return added, nil
			case err != nil:
				return added, fmt.Errorf("thread %d: %w", tid, err)
			}
			more = more || a
		}
		if !more {
			return added, nil
		}
		added = true
	}
}

// markTask marks one task, found through a pidfd opened with flags, and
// reports whether it was not marked yet.
func (c *core) markTask(slot, pid, flags int) (bool, error) {
	fd, err := unix.PidfdOpen(pid, flags)
	if err != nil {
		return false, err
	}
	defer unix.Close(fd)
	// EAGAIN: a program created the task's storage at the same instant
	// (the kernel's bpf_local_storage_alloc lost the race and says to try
	// again). The storage exists then: the next attempt reads its mark.
	for try := 1; ; try++ {
		added, err := c.markTaskFD(slot, fd)
		if !errors.Is(err, unix.EAGAIN) || try == 4 {
			return added, err
		}
	}
}

func (c *core) markTaskFD(slot, fd int) (bool, error) {
	tasks := c.maps.Maps[coreMapTpTasks]
	var mark coreTpTaskMark
	if err := tasks.Lookup(int32(fd), &mark); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		return false, wrapErr("read task mark", err)
	}
	if mark.Mask&(1<<slot) != 0 && mark.Gen[slot] == c.cfg.Gen[slot] {
		return false, nil
	}
	mark.Mask |= 1 << slot
	mark.Gen[slot] = c.cfg.Gen[slot]
	if err := tasks.Update(int32(fd), &mark, ebpf.UpdateAny); err != nil {
		if errors.Is(err, ebpf.ErrKeyNotExist) {
			// The kernel found no task behind the pidfd: it has exited
			// since the pidfd was opened.
			return false, unix.ESRCH
		}
		return false, wrapErr("mark task", err)
	}
	return true, nil
}

// run reads the ring until Close flushes or closes it.
// liveReaders counts the sessions' reader goroutines still running.
var liveReaders atomic.Int64

// Readers returns how many session reader goroutines are running, for
// tests: a goroutine is counted out before its session's Close returns, so
// unlike a look at the goroutine stacks this has no race.
func Readers() int { return int(liveReaders.Load()) }

func (s *Session) run() {
	defer close(s.done)
	defer liveReaders.Add(-1) // before done: Close returning means it is counted out
	handle := func(rec []byte) {
		if err := s.handle(rec); err != nil {
			s.bad.Add(1)
			if s.firstBad == nil {
				s.firstBad = err
			}
		}
	}
	closing := s.closing.Load
	stop := func() bool { return s.closing.Load() || s.grown.Load() }
	var growth <-chan grownRing // a bigger ring being made and installed
	got := 0                    // records since the last tick
	for {
		if closing() {
			// Close has cleared the slot's masks: read what the kernel
			// committed until then (in a ring being installed too), and
			// end.
			if growth != nil {
				if err := s.moveTo(<-growth, handle); err != nil {
					s.readErr = err
					return
				}
			}
			if _, err := s.rd.drain(handle, true); err != nil {
				s.readErr = err
			}
			return
		}
		n, err := s.rd.drain(handle, false)
		if err != nil {
			s.readErr = err
			return
		}
		got += n
		if growth == nil {
			growth = s.growIfBehind()
		}
		// Sleep until the next tick, a wake-up (the ring filling up),
		// a bigger ring or Close; after a tick without records, until
		// the next record.
		expired, err := s.rd.wait(!s.idle, stop)
		if err != nil {
			s.readErr = err
			return
		}
		if s.grown.Load() {
			if err := s.moveTo(<-growth, handle); err != nil {
				s.readErr = err
				return
			}
			growth = nil
			continue
		}
		switch {
		case !expired:
			s.idle = false
		case got == 0:
			// A whole tick without a record: the next one wakes us.
			s.rd.sleepUntilRecord()
			s.idle = s.rd.available() == 0
		default:
			got = 0
		}
	}
}

// FreeRings returns how many ring buffers of size are installed at a slot
// no session uses, a spare counted once installed, for tests: the rings a
// next session can take without waiting for the kernel.
func FreeRings(size int) int {
	c := &theCore
	c.mu.Lock()
	defer c.mu.Unlock()
	c.waitSpares()
	n := 0
	for i, r := range c.rings {
		if r != nil && c.slots[i] == nil && int(r.MaxEntries()) == size {
			n++
		}
	}
	return n
}

// Slot returns the session's slot, for diagnostics.
func (s *Session) Slot() int { return s.slot }

// Close stops the session: no record is produced for it any more, every
// record the kernel committed before is handed to the handler, the reader
// goroutine ends and Close waits for it. The last session of a backend
// detaches the backend's programs, the last session of the process the
// core's. Close is idempotent. It returns a *tracep.LostError when records
// were lost. It must not be called from the handler.
func (s *Session) Close() error {
	s.closeOnce.Do(func() { s.closeErr = s.close() })
	return s.closeErr
}

func (s *Session) close() error {
	c := &theCore

	c.mu.Lock()
	c.setMasks(s, false)
	stopErr := c.writeCfg()
	c.mu.Unlock()

	s.closing.Store(true)
	s.rdMu.Lock()
	s.rd.interrupt()
	s.rdMu.Unlock()
	<-s.done
	s.rd.close()

	c.mu.Lock()
	lost, lostErr := c.release(s)
	c.mu.Unlock()

	var errs []error
	if lost += s.bad.Load(); lost > 0 {
		errs = append(errs, &tracep.LostError{Kind: s.backend.Kind, Count: lost})
	}
	if s.firstBad != nil {
		errs = append(errs, fmt.Errorf("decode %s record: %w", s.backend.Kind, s.firstBad))
	}
	for _, err := range []error{stopErr, s.readErr, lostErr} {
		if err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// kernelLost returns the count of records the kernel could not put into
// slot's ring.
func (c *core) kernelLost(slot int) uint64 { return atomic.LoadUint64(c.lostCount(slot)) }

// release frees s's slot, leaving its ring installed for a later session,
// and detaches what no session uses any more. It returns the kernel's loss
// count for the slot.
func (c *core) release(s *Session) (uint64, error) {
	lost := c.kernelLost(s.slot)
	s.released, s.finalLost = true, lost+s.bad.Load()
	if s.scope.CgroupID != 0 {
		_ = c.maps.Maps[coreMapTpCgroups].Delete(uint32(s.slot))
	}
	c.cfg.Param[s.slot] = 0
	c.cfg.Gen[s.slot]++
	err := c.writeCfg()
	c.slots[s.slot] = nil
	c.users--
	s.backend.users--
	if s.backend.users == 0 || c.users == 0 {
		c.scheduleDetach()
	}
	return lost, err
}
