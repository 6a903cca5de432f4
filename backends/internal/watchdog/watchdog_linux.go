package watchdog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"sync"
	"syscall"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/tracep/tracep/backends/internal/reexec"
)

// Maps are the kernel's record of what a tracer's programs hold.
type Maps struct {
	// On is an array of one uint32 element: the programs hold processes
	// only while it is not zero, and test it in the program run that
	// records and stops a process.
	On *ebpf.Map
	// Held is a hash map with an entry for every process the programs
	// stopped and the tracer has not continued yet. Its keys start with
	// the process's pid (uint32, native byte order); the rest of a key
	// and the value are the tracer's.
	Held *ebpf.Map
}

// How the tracer starts the watchdog: its argv[0], an environment variable
// (with the version of the descriptor layout below) and its descriptors.
const (
	arg0   = "tracep-hold-watchdog"
	envKey = "TRACEP_HOLD_WATCHDOG"
	envVal = "1"
	comm   = "hold-watchdog"

	fdPipe       = 3 // read end; EOF when the tracer is gone
	fdOn         = 4
	fdHeld       = 5
	fdOuter      = 6 // the barrier: an array-of-maps
	fdInner      = 7 // and a map to put in it
	firstForeign = 8
)

// done is written to the pipe by a tracer that released everything itself.
const done = 'd'

func init() {
	// argv[1] is the tracer's pid, for ps(1).
	if len(os.Args) != 2 || os.Args[0] != arg0 || os.Getenv(envKey) != envVal {
		return
	}
	os.Exit(child())
}

// Watchdog is a running watchdog process.
type Watchdog struct {
	maps    Maps
	barrier *barrier
	alive   *os.File // the write end of the pipe
	pid     int
	exited  chan struct{}

	once sync.Once
	err  error
}

// Start starts a watchdog for m. It returns once the watchdog process runs
// (it holds its descriptors from then on); the caller sets m.On afterwards.
// It fails with an error matching tracep.ErrNotSupported in a program
// built as a C library.
func Start(m Maps) (_ *Watchdog, err error) {
	if err := reexec.Check("watchdog"); err != nil {
		return nil, err
	}
	b, err := newBarrier()
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			b.close()
		}
	}()
	r, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("watchdog pipe: %w", err)
	}
	files := []*os.File{r}
	defer func() {
		for _, f := range files {
			f.Close()
		}
		if err != nil {
			w.Close()
		}
	}()
	for _, mp := range []*ebpf.Map{m.On, m.Held, b.outer, b.inner} {
		fd, err := unix.FcntlInt(uintptr(mp.FD()), unix.F_DUPFD_CLOEXEC, 0)
		if err != nil {
			return nil, fmt.Errorf("watchdog: dup map: %w", err)
		}
		files = append(files, os.NewFile(uintptr(fd), "bpf-map"))
	}
	cmd := &exec.Cmd{
		Path: "/proc/self/exe",
		Args: []string{arg0, strconv.Itoa(os.Getpid())},
		// A binary built with -race would otherwise wait a second before
		// it exits (ThreadSanitizer's atexit_sleep_ms).
		Env:        []string{envKey + "=" + envVal, "GORACE=atexit_sleep_ms=0"},
		ExtraFiles: files,
		SysProcAttr: &syscall.SysProcAttr{
			Setsid:      true,
			AmbientCaps: ambientCaps(),
		},
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start watchdog: %w", err)
	}
	wd := &Watchdog{maps: m, barrier: b, alive: w, pid: cmd.Process.Pid, exited: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(wd.exited)
	}()
	return wd, nil
}

// PID is the watchdog's process id.
func (w *Watchdog) PID() int { return w.pid }

// Exited is closed when the watchdog process has exited: after Close, or
// when something killed it.
func (w *Watchdog) Exited() <-chan struct{} { return w.exited }

// Close ends holding: it clears m.On, waits until no program run that saw
// it set is left, continues every process m.Held names and empties it,
// then lets the watchdog exit and waits for it. Call it once the programs
// will hold nothing more (detached, or m.On cleared for good). It is
// idempotent.
func (w *Watchdog) Close() error {
	w.once.Do(func() {
		_, err := release(w.maps, w.barrier)
		if err == nil {
			// Nothing left for the watchdog; without this byte it would
			// release again, which is harmless too.
			_, _ = w.alive.Write([]byte{done})
		}
		w.alive.Close()
		<-w.exited
		w.barrier.close()
		w.err = err
	})
	return w.err
}

// Leave ends holding as a tracer's death does, without waiting: the
// watchdog, told nothing, clears m.On, waits until no program run that saw
// it set is left, continues what m.Held names and exits, while this
// process goes on to exit, which would otherwise wait for that grace
// period. For a process about to exit; Close after Leave does nothing.
func (w *Watchdog) Leave() {
	w.once.Do(func() {
		w.alive.Close()
		w.barrier.close()
	})
}

// release clears m.On, waits for every program run that saw it set to
// finish, then sends SIGCONT to every process m.Held names and deletes its
// entries. It returns the pids continued. The watchdog does this when the
// tracer dies; a tracer does it itself through Close.
func release(m Maps, b *barrier) ([]int, error) {
	if err := m.On.Put(uint32(0), uint32(0)); err != nil {
		return nil, fmt.Errorf("clear hold flag: %w", err)
	}
	if err := b.wait(); err != nil {
		return nil, err
	}
	var keys [][]byte
	key, err := m.Held.NextKeyBytes(nil)
	for err == nil && key != nil {
		keys = append(keys, key)
		key, err = m.Held.NextKeyBytes(key)
	}
	var pids []int
	seen := map[int]bool{}
	for _, k := range keys {
		if len(k) < 4 {
			continue
		}
		pid := int(binary.NativeEndian.Uint32(k))
		if pid > 0 && !seen[pid] {
			seen[pid] = true
			pids = append(pids, pid)
			_ = unix.Kill(pid, unix.SIGCONT) // it may have been killed meanwhile
		}
	}
	for _, k := range keys {
		_ = m.Held.Delete(k)
	}
	if err != nil {
		return pids, fmt.Errorf("read held processes: %w", err)
	}
	return pids, nil
}

// barrier waits for an RCU grace period: an update of an array-of-maps
// from user space returns only when every BPF program run in progress has
// finished, so that user space knows the programs see the new value.
type barrier struct {
	outer, inner *ebpf.Map
}

var innerSpec = &ebpf.MapSpec{Name: "tp_hold_inner", Type: ebpf.Array, KeySize: 4, ValueSize: 4, MaxEntries: 1}

func newBarrier() (*barrier, error) {
	inner, err := ebpf.NewMap(innerSpec)
	if err != nil {
		return nil, fmt.Errorf("watchdog barrier map: %w", err)
	}
	outer, err := ebpf.NewMap(&ebpf.MapSpec{Name: "tp_hold_barrier", Type: ebpf.ArrayOfMaps, KeySize: 4, ValueSize: 4, MaxEntries: 1, InnerMap: innerSpec})
	if err != nil {
		inner.Close()
		return nil, fmt.Errorf("watchdog barrier map: %w", err)
	}
	return &barrier{outer: outer, inner: inner}, nil
}

func (b *barrier) wait() error {
	if err := b.outer.Put(uint32(0), b.inner); err != nil {
		return fmt.Errorf("wait for bpf programs: %w", err)
	}
	return nil
}

func (b *barrier) close() {
	b.outer.Close()
	b.inner.Close()
}

// Capabilities the watchdog needs: to signal other users' processes, and
// to use BPF maps where the kernel asks for it.
const (
	capKill     = 5
	capSysAdmin = 21
	capBPF      = 39
)

// ambientCaps returns the capabilities the watchdog needs that this
// process has: made ambient, they survive the exec even when the process
// is not root (which keeps all of them anyway).
func ambientCaps() []uintptr {
	if os.Geteuid() == 0 {
		return nil
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if unix.Capget(&hdr, &data[0]) != nil {
		return nil
	}
	var caps []uintptr
	for _, c := range []uintptr{capKill, capSysAdmin, capBPF} {
		if data[c/32].Permitted&(1<<(c%32)) != 0 {
			caps = append(caps, c)
		}
	}
	return caps
}

// child is the watchdog process.
func child() int {
	signal.Ignore(syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT, syscall.SIGPIPE)
	_ = os.WriteFile("/proc/self/comm", []byte(comm), 0)
	_ = os.WriteFile("/proc/self/oom_score_adj", []byte("-1000"), 0)
	reexec.CloseInherited(firstForeign)
	var maps []*ebpf.Map
	for _, fd := range []int{fdOn, fdHeld, fdOuter, fdInner} {
		m, err := ebpf.NewMapFromFD(fd)
		if err != nil {
			return 2
		}
		maps = append(maps, m)
	}
	m := Maps{On: maps[0], Held: maps[1]}
	b := &barrier{outer: maps[2], inner: maps[3]}

	var buf [64]byte
	released := false
	for {
		n, err := unix.Read(fdPipe, buf[:])
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil || n <= 0 {
			break // end of file: the tracer is gone
		}
		released = buf[n-1] == done
	}
	if released {
		return 0
	}
	if _, err := release(m, b); err != nil {
		return 1
	}
	return 0
}
