package bpfcore

import (
	"fmt"
	"os"
	"sync"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ticks ends, at every multiple of Tick, the waits of the readers that
// asked for it, from one timerfd in Go's netpoller. A read deadline per
// reader would do the same with runtime timers, but a runtime timer also
// wakes the runtime's system monitor, which then polls every 20 µs until
// the program is idle again: six context switches more per tick, ~60 µs
// of CPU here. The timerfd wakes only the netpoller's thread, and the
// system calls made on it (read, re-arm) are non-blocking and made raw, so
// they do not wake the monitor either.
var ticks ticker

type ticker struct {
	mu      sync.Mutex
	file    *os.File // the timerfd, kept for the process's life once made
	raw     syscall.RawConn
	waiting []*ringReader
	// running is set while the timer is armed and its goroutine runs: from
	// the first wait to a tick that finds none.
	running bool
	// stopped is closed when that goroutine ends, for tests.
	stopped chan struct{}
}

// add makes r's current wait end at the next tick. The wait's deadline
// must have been cleared before, or the tick's interrupt could be undone.
func (t *ticker) add(r *ringReader) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.file == nil {
		fd, _, errno := unix.RawSyscall(unix.SYS_TIMERFD_CREATE, unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC, 0)
		if errno != 0 {
			return fmt.Errorf("create tick timer: %w", errno)
		}
		// Non-blocking and pollable: NewFile puts it in the netpoller.
		f := os.NewFile(fd, "tick timer")
		raw, err := f.SyscallConn()
		if err != nil {
			f.Close()
			return fmt.Errorf("tick timer: %w", err)
		}
		t.file, t.raw = f, raw
	}
	t.waiting = append(t.waiting, r)
	if t.running {
		return nil
	}
	// The ticks fall on multiples of Tick of the monotonic clock.
	var now unix.Timespec
	if _, _, errno := unix.RawSyscall(unix.SYS_CLOCK_GETTIME, unix.CLOCK_MONOTONIC, uintptr(unsafe.Pointer(&now)), 0); errno != 0 {
		t.waiting = t.waiting[:len(t.waiting)-1]
		return fmt.Errorf("read clock: %w", errno)
	}
	next := (now.Nano()/int64(Tick) + 1) * int64(Tick)
	if err := t.set(unix.NsecToTimespec(next), unix.NsecToTimespec(int64(Tick))); err != nil {
		t.waiting = t.waiting[:len(t.waiting)-1]
		return err
	}
	t.running = true
	t.stopped = make(chan struct{})
	go t.run(t.stopped)
	return nil
}

// remove undoes add when r's wait ended for another reason.
func (t *ticker) remove(r *ringReader) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for i, w := range t.waiting {
		if w == r {
			t.waiting = append(t.waiting[:i], t.waiting[i+1:]...)
			return
		}
	}
}

// set arms the timer (at an absolute time of the monotonic clock, then
// every interval) or, with zeros, disarms it.
func (t *ticker) set(first, interval unix.Timespec) error {
	spec := unix.ItimerSpec{Value: first, Interval: interval}
	flags := 0
	if first.Nano() != 0 {
		flags = unix.TFD_TIMER_ABSTIME
	}
	var err error
	if cerr := t.raw.Control(func(fd uintptr) {
		if _, _, errno := unix.RawSyscall6(unix.SYS_TIMERFD_SETTIME, fd, uintptr(flags),
			uintptr(unsafe.Pointer(&spec)), 0, 0, 0); errno != 0 {
			err = fmt.Errorf("arm tick timer: %w", errno)
		}
	}); cerr != nil {
		return cerr
	}
	return err
}

// run interrupts the waiting readers at every tick, and stops at a tick
// that finds none.
func (t *ticker) run(stopped chan struct{}) {
	defer close(stopped)
	var expirations uint64
	buf := uintptr(unsafe.Pointer(&expirations))
	for {
		err := t.raw.Read(func(fd uintptr) bool {
			_, _, errno := unix.RawSyscall(unix.SYS_READ, fd, buf, unsafe.Sizeof(expirations))
			return errno != unix.EAGAIN
		})
		t.mu.Lock()
		for _, r := range t.waiting {
			r.interrupt()
		}
		stop := len(t.waiting) == 0 || err != nil
		t.waiting = t.waiting[:0]
		if stop {
			// Nobody waited. (A Read error cannot happen while the file
			// is open; the readers were woken all the same.)
			_ = t.set(unix.Timespec{}, unix.Timespec{})
			t.running = false
		}
		t.mu.Unlock()
		if stop {
			return
		}
	}
}
