package tlstrace

import (
	"errors"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"

	"github.com/tracep/tracep/backends/internal/bpfcore"
	"github.com/tracep/tracep/backends/internal/watchdog"
	"github.com/tracep/tracep/tracep"
)

// fileKey identifies a file as the kernel does (struct tlsx_file_key, the
// key of tlsx_known): the device number in the kernel's internal encoding
// (major<<20 | minor) and the inode number, and what changes when a deleted
// file's inode number is given to a new file: the inode's generation, its
// change time and its size.
type fileKey struct {
	fileID
	ctime uint64 // ns
	size  uint64
}

// fileID is the part of a fileKey that names an inode; with the
// generation, it names one file while the inode stays allocated (while the
// file is open, mapped or probed).
type fileID struct {
	dev uint32
	ino uint64
	gen uint32
}

// devIno is what /proc/PID/maps says of a mapped file.
type devIno struct {
	dev uint32
	ino uint64
}

// fsIocGetversion is FS_IOC_GETVERSION, _IOR('v', 1, long), which
// x/sys/unix lacks; the kernel writes an int.
const fsIocGetversion = 0x80087601

func kernelDev(major, minor uint32) uint32 { return major<<20 | minor&0xfffff }

// statKey returns the key of an open file. The generation comes from
// FS_IOC_GETVERSION; a file system without it (tmpfs, overlayfs) leaves it
// 0, so that the kernel's key (it reads the inode's) may differ: such a
// file is reported once more by the kernel, and its key learnt then
// (probeFile's aliases).
func statKey(f *os.File) (fileKey, error) {
	fd := int(f.Fd())
	var st unix.Statx_t
	if err := unix.Statx(fd, "", unix.AT_EMPTY_PATH, unix.STATX_INO|unix.STATX_CTIME|unix.STATX_SIZE, &st); err != nil {
		return fileKey{}, err
	}
	gen, _ := unix.IoctlGetUint32(fd, fsIocGetversion)
	return fileKey{
		fileID: fileID{dev: kernelDev(st.Dev_major, st.Dev_minor), ino: st.Ino, gen: gen},
		ctime:  uint64(st.Ctime.Sec)*1e9 + uint64(st.Ctime.Nsec),
		size:   st.Size,
	}, nil
}

func (k fileKey) bpf() tlsTlsxFileKey {
	return tlsTlsxFileKey{Ino: k.ino, Dev: k.dev, Gen: k.gen, Ctime: k.ctime, Size: k.size}
}

// probedFile is a file the prober inspected, and its uprobes if any.
type probedFile struct {
	File
	links []link.Link
}

// prober attaches uprobes to the files that hold TLS code, once per file
// for the whole process, and follows the binaries traced processes execute
// or map. It exists while the backend's programs are attached.
type prober struct {
	enter, exit *ebpf.Program
	known       *ebpf.Map
	multi       bool // uprobe_multi links, else one perf event per probe
	disc        *bpfcore.RingReader
	done        chan struct{} // closed when the discovery goroutine ends

	// hold is the kernel's record of held processes (tlsx_hold_on,
	// tlsx_held), which a watchdog keeps: see armHold.
	hold watchdog.Maps
	// holds counts the processes the kernel held for inspection: a stop
	// continued before it took effect leaves no other trace.
	holds atomic.Uint64

	mu sync.Mutex
	// files are the files inspected: those with uprobes, and at most
	// maxUnprobed without (the kernel's tlsx_known remembers more).
	files    map[fileKey]*probedFile
	unprobed int
	// attached are the files with uprobes, by device and inode: their
	// uprobes keep the inode allocated, so its number names no other file
	// while they are attached, whatever its change time says since.
	attached map[devIno]*probedFile
	pending  map[fileKey]chan struct{} // being inspected or attached
	closed   bool
	wd       *watchdog.Watchdog // once a session holds new binaries

	// logMu is held while diagnostics are delivered, so that a session
	// removing its logger knows none is running any more.
	logMu sync.RWMutex
	logs  map[*Session]func(Diagnostic)
}

// The prober of the process, set while the backend is attached.
var (
	theProberMu sync.Mutex
	theProber   *prober
)

func currentProber() *prober {
	theProberMu.Lock()
	defer theProberMu.Unlock()
	return theProber
}

func newProber(coll *ebpf.Collection, multi bool) (*prober, error) {
	rd, err := bpfcore.NewRingReader(coll.Maps[tlsMapTlsxDisc])
	if err != nil {
		return nil, fmt.Errorf("discovery ring reader: %w", err)
	}
	p := &prober{
		enter:    coll.Programs[tlsProgTlsxEnter],
		exit:     coll.Programs[tlsProgTlsxExit],
		known:    coll.Maps[tlsMapTlsxKnown],
		hold:     watchdog.Maps{On: coll.Maps[tlsMapTlsxHoldOn], Held: coll.Maps[tlsMapTlsxHeld]},
		multi:    multi,
		disc:     rd,
		done:     make(chan struct{}),
		files:    make(map[fileKey]*probedFile),
		attached: make(map[devIno]*probedFile),
		pending:  make(map[fileKey]chan struct{}),
		logs:     make(map[*Session]func(Diagnostic)),
	}
	// Files inspected by an earlier prober of this process are stale: their
	// uprobes were detached with it. Nothing is held until a watchdog runs
	// (the earlier prober's released what it held).
	if err := bpfcore.ClearMap(p.known); err != nil {
		rd.Close()
		return nil, err
	}
	if err := p.hold.On.Put(uint32(0), uint32(0)); err != nil {
		rd.Close()
		return nil, fmt.Errorf("clear hold flag: %w", err)
	}
	go p.run()
	return p, nil
}

// logf sends a diagnostic to every session that asked for them.
func (p *prober) logf(warn bool, format string, args ...any) {
	p.logMu.RLock()
	defer p.logMu.RUnlock()
	if len(p.logs) == 0 {
		return
	}
	d := Diagnostic{Warning: warn, Msg: fmt.Sprintf(format, args...)}
	for _, l := range p.logs {
		l(d)
	}
}

// setLog registers (or, with nil, removes) a session's logger; on removal
// it returns once no diagnostic is being delivered to it.
func (p *prober) setLog(s *Session, log func(Diagnostic)) {
	p.logMu.Lock()
	defer p.logMu.Unlock()
	if log == nil {
		delete(p.logs, s)
	} else {
		p.logs[s] = log
	}
}

// markKnown records in the kernel that files need not be reported again.
func (p *prober) markKnown(keys ...fileKey) {
	for _, k := range keys {
		_ = p.known.Put(k.bpf(), uint8(1))
	}
}

// probeFile inspects an open file and attaches to its TLS code, unless it
// was inspected before; aliases are other keys it is known by (from the
// kernel's view of the mapping). It returns the file's record.
func (p *prober) probeFile(f *os.File, display string, aliases ...fileKey) (*probedFile, error) {
	key, err := statKey(f)
	if err != nil {
		return nil, fmt.Errorf("stat %s: %w", display, err)
	}
	pf, t, err := p.probeLocked(f, key, display, aliases)
	switch {
	case err != nil:
	case t != nil && len(t.Probes) > 0:
		p.logf(false, "probing %s: %s, %d uprobes%s", display, strings.Join(t.Libraries, ", "), len(t.Probes), notes(t))
	case t != nil && len(t.Notes) > 0:
		p.logf(true, "not probing %s: %s", display, strings.Join(t.Notes, "; "))
	}
	return pf, err
}

// probeLocked is probeFile's work: once per file, whoever asks first;
// others wait for the first. Inspecting and attaching happen outside p.mu,
// so that files are attached in parallel: each attach waits for an RCU
// grace period (~10 ms here) which parallel attaches share. It returns the
// inspection's result when the file was new.
func (p *prober) probeLocked(f *os.File, key fileKey, display string, aliases []fileKey) (*probedFile, *Target, error) {
	p.mu.Lock()
	for {
		if p.closed {
			p.mu.Unlock()
			return nil, nil, tracep.ErrClosed
		}
		if pf, ok := p.files[key]; ok {
			p.markKnown(aliases...)
			p.mu.Unlock()
			return pf, nil, nil
		}
		if pf, ok := p.attached[devIno{key.dev, key.ino}]; ok {
			// Probed already, and changed since (chmod, touch): the
			// same file, which must not be probed twice.
			p.files[key] = pf
			p.markKnown(append(aliases, key)...)
			p.mu.Unlock()
			return pf, nil, nil
		}
		wait, busy := p.pending[key]
		if !busy {
			break
		}
		p.mu.Unlock()
		<-wait
		p.mu.Lock()
	}
	done := make(chan struct{})
	p.pending[key] = done
	p.mu.Unlock()

	pf := unprobedFile
	t, err := Inspect(f)
	switch {
	case errors.Is(err, ErrNoTLS):
		err = nil // remembered, so that it is not inspected again
	case err != nil:
		err = fmt.Errorf("inspect %s: %w", display, err)
	default:
		pf = &probedFile{File: File{Path: display, Libraries: t.Libraries, Probes: len(t.Probes)}}
		if pf.links, err = p.attach(f, t); err != nil {
			err = fmt.Errorf("attach to %s: %w", display, err)
		}
	}

	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.pending, key)
	close(done)
	if err == nil && p.closed {
		err = tracep.ErrClosed
	}
	if err != nil {
		bpfcore.CloseLinks(pf.links)
		return nil, nil, err
	}
	if pf.Probes > 0 {
		p.attached[devIno{key.dev, key.ino}] = pf
	} else if p.unprobed++; p.unprobed > maxUnprobed {
		p.forgetUnprobed()
	}
	p.files[key] = pf
	p.markKnown(append(aliases, key)...)
	return pf, t, nil
}

// unprobedFile is the record of every file without TLS code.
var unprobedFile = &probedFile{}

// maxUnprobed bounds the files without TLS code user space remembers: a
// storm of new binaries would grow the set without end, and the kernel
// remembers them anyway (tlsx_known, LRU), so that a file forgotten here
// is at worst inspected again.
const maxUnprobed = 4096

// forgetUnprobed forgets the files without TLS code (with p.mu held).
func (p *prober) forgetUnprobed() {
	files := make(map[fileKey]*probedFile, len(p.attached))
	for k, pf := range p.files {
		if pf.Probes > 0 {
			files[k] = pf
		}
	}
	p.files, p.unprobed = files, 0
}

func notes(t *Target) string {
	if len(t.Notes) == 0 {
		return ""
	}
	return " (" + strings.Join(t.Notes, "; ") + ")"
}

// probePath probes the file at path.
func (p *prober) probePath(path, display string) (*probedFile, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return p.probeFile(f, display)
}

// attach attaches t's probes to the open file f. The path handed to the
// kernel is f's own descriptor, so the probes land in the very file
// inspected, whatever mount namespace it was found through.
func (p *prober) attach(f *os.File, t *Target) (_ []link.Link, err error) {
	ex, err := link.OpenExecutable("/proc/self/fd/" + strconv.Itoa(int(f.Fd())))
	if err != nil {
		return nil, err
	}
	var links []link.Link
	defer func() {
		if err != nil {
			bpfcore.CloseLinks(links)
		}
	}()
	var entries, returns []Probe
	for _, pr := range t.Probes {
		if pr.Return {
			returns = append(returns, pr)
		} else {
			entries = append(entries, pr)
		}
	}
	if p.multi {
		for _, set := range []struct {
			probes []Probe
			ret    bool
		}{{entries, false}, {returns, true}} {
			if len(set.probes) == 0 {
				continue
			}
			opts := &link.UprobeMultiOptions{}
			for _, pr := range set.probes {
				opts.Addresses = append(opts.Addresses, pr.Offset)
				opts.Cookies = append(opts.Cookies, pr.Cookie)
			}
			var l link.Link
			if set.ret {
				l, err = ex.UretprobeMulti(nil, p.exit, opts)
			} else {
				l, err = ex.UprobeMulti(nil, p.enter, opts)
			}
			if err != nil {
				return nil, caps.WrapErr("attach uprobe_multi", err)
			}
			links = append(links, l)
		}
		return links, nil
	}
	for _, pr := range t.Probes {
		opts := &link.UprobeOptions{Address: pr.Offset, Cookie: pr.Cookie}
		var l link.Link
		if pr.Return {
			l, err = ex.Uretprobe("", p.exit, opts)
		} else {
			l, err = ex.Uprobe("", p.enter, opts)
		}
		if err != nil {
			return nil, caps.WrapErr("attach uprobe "+pr.Symbol, err)
		}
		links = append(links, l)
	}
	return links, nil
}

// files returns what was inspected and probed, sorted by path.
func (p *prober) probed() []File {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []File
	for _, pf := range p.files {
		if pf.Probes > 0 {
			out = append(out, pf.File)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out
}

// Discovery record (struct tls_disc in bpf/tls.bpf.c).
const (
	discSize = 64
	discExec = 1
	discMmap = 2
)

type discovery struct {
	key  fileKey
	pid  int
	kind uint32
	held bool
	fd   int
	hold tlsTlsxHoldKey // the hold's entry in tlsx_held
}

func parseDiscovery(b []byte) (discovery, bool) {
	if len(b) < discSize {
		return discovery{}, false
	}
	d := discovery{
		key: fileKey{
			fileID: fileID{ino: le.Uint64(b[0:]), dev: le.Uint32(b[8:]), gen: le.Uint32(b[12:])},
			ctime:  le.Uint64(b[16:]),
			size:   le.Uint64(b[24:]),
		},
		pid:  int(le.Uint32(b[32:])),
		kind: le.Uint32(b[36:]),
		held: le.Uint32(b[40:]) != 0,
		fd:   int(int32(le.Uint32(b[44:]))),
	}
	d.hold = tlsTlsxHoldKey{Pid: uint32(d.pid), Tid: le.Uint32(b[48:]), Stamp: le.Uint64(b[56:])}
	return d, true
}

// armHold lets the programs hold new binaries, once a watchdog runs that
// continues them if this process dies (backends/internal/watchdog):
// nothing is ever held without one. The first session that holds starts
// it; it runs until the probes are detached (close).
func (p *prober) armHold() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return tracep.ErrClosed
	}
	if p.wd != nil {
		select {
		case <-p.wd.Exited():
			// Killed by someone: releases what it can and starts anew.
			_ = p.wd.Close()
			p.wd = nil
		default:
			return nil
		}
	}
	wd, err := watchdog.Start(p.hold)
	if err != nil {
		return err
	}
	if err := p.hold.On.Put(uint32(0), uint32(1)); err != nil {
		_ = wd.Close()
		return fmt.Errorf("set hold flag: %w", err)
	}
	p.wd = wd
	go p.watch(wd)
	return nil
}

// watch stops holding when wd dies before close: what is held then is
// still continued by this process (discover), but would not be if it
// died too. The next holding session starts another watchdog.
func (p *prober) watch(wd *watchdog.Watchdog) {
	<-wd.Exited()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || p.wd != wd {
		return
	}
	_ = p.hold.On.Put(uint32(0), uint32(0))
	p.logf(true, "hold watchdog %d exited: new binaries are not held until the next session", wd.PID())
}

// held is a process the kernel held, pinned by a pidfd as soon as its
// record is read: continued through the pidfd after the inspection, which
// may take a while, a process that died meanwhile and whose pid was
// reused (pid_max may be 32768) leaves the pid's new owner alone.
type held struct {
	pid   int
	pidfd int // -1: none (the kernel has no pidfds), continued by pid
	gone  bool
}

// pinHeld pins the process d names.
func pinHeld(d discovery) held {
	h := held{pid: d.pid, pidfd: -1}
	if d.pid <= 0 { // kill(0) would signal this process's own group
		h.gone = true
		return h
	}
	fd, err := unix.PidfdOpen(d.pid, 0)
	switch {
	case err == nil:
		h.pidfd = fd
	case errors.Is(err, unix.ESRCH):
		h.gone = true
	}
	return h
}

// cont sends the held process SIGCONT and releases its pidfd.
func (h held) cont() {
	switch {
	case h.pidfd >= 0:
		_ = unix.PidfdSendSignal(h.pidfd, unix.SIGCONT, nil, 0)
		unix.Close(h.pidfd)
	case !h.gone:
		_ = unix.Kill(h.pid, unix.SIGCONT)
	}
}

// unhold continues a process the kernel held, then forgets the hold: in
// this order, so that a tracer dying in between leaves the watchdog a
// process to continue again rather than one stopped.
func (p *prober) unhold(d discovery, h held) {
	h.cont()
	_ = p.hold.Held.Delete(d.hold)
}

// run reads the discovery ring until close flushes it. It reads without
// batching: a held process waits for it.
func (p *prober) run() {
	defer close(p.done)
	err := p.disc.Read(func(rec []byte) {
		if d, ok := parseDiscovery(rec); ok {
			p.discover(d)
		}
	})
	if err != nil {
		p.logf(true, "discovery ring: %v", err)
	}
}

// discover inspects a file a traced process executed or mapped, attaches
// to it, and lets the process continue when the kernel held it.
func (p *prober) discover(d discovery) {
	if d.held {
		p.holds.Add(1)
		defer p.unhold(d, pinHeld(d))
	}
	p.mu.Lock()
	closed := p.closed
	p.mu.Unlock()
	if closed {
		return
	}
	proc := "/proc/" + strconv.Itoa(d.pid)
	var f *os.File
	var err error
	display := ""
	switch d.kind {
	case discExec:
		display, _ = os.Readlink(proc + "/exe")
		f, err = os.Open(proc + "/exe")
	case discMmap:
		f, display, err = openMapped(proc, d)
	default:
		return
	}
	if err != nil {
		// Gone already; the next exec or mmap of the file reports it again.
		return
	}
	defer f.Close()
	if display == "" {
		display = proc + "/exe"
	}
	if _, err := p.probeFile(f, display, d.key); err != nil && !errors.Is(err, tracep.ErrClosed) {
		p.logf(true, "%v", err)
	}
}

// openMapped opens the file a process is mapping: through its descriptor
// while it is open, else through the mapping.
func openMapped(proc string, d discovery) (*os.File, string, error) {
	if d.fd >= 0 {
		fdPath := proc + "/fd/" + strconv.Itoa(d.fd)
		if f, err := os.Open(fdPath); err == nil {
			if k, err := statKey(f); err == nil && k.ino == d.key.ino {
				display, _ := os.Readlink(fdPath)
				return f, display, nil
			}
			f.Close()
		}
	}
	b, err := os.ReadFile(proc + "/maps")
	if err != nil {
		return nil, "", err
	}
	for _, m := range parseMaps(b) {
		if m.inode == d.key.ino {
			f, err := os.Open(fmt.Sprintf("%s/map_files/%x-%x", proc, m.start, m.end))
			return f, m.path, err
		}
	}
	return nil, "", os.ErrNotExist
}

// scanProcess probes the executable files process pid maps: its program
// and its libraries, but those in seen (a scan's files, by device and
// inode: a mapped file's inode number names no other file while mapped),
// which it adds to.
func (p *prober) scanProcess(pid int, seen map[devIno]bool) error {
	proc := "/proc/" + strconv.Itoa(pid)
	b, err := os.ReadFile(proc + "/maps")
	if err != nil {
		return err
	}
	for _, m := range parseMaps(b) {
		di := devIno{kernelDev(m.major, m.minor), m.inode}
		if seen[di] {
			continue
		}
		seen[di] = true
		p.mu.Lock()
		_, probed := p.attached[di]
		p.mu.Unlock()
		if probed {
			continue
		}
		f, err := os.Open(fmt.Sprintf("%s/map_files/%x-%x", proc, m.start, m.end))
		if err != nil {
			continue // unmapped meanwhile
		}
		_, err = p.probeFile(f, m.path)
		f.Close()
		if errors.Is(err, tracep.ErrClosed) {
			return err
		}
		if err != nil {
			p.logf(true, "%v", err)
		}
	}
	return nil
}

// close stops discovery, lets any process still held continue, and
// detaches every uprobe. The discovery programs must be detached first, so
// that nothing new is held.
func (p *prober) close() {
	p.mu.Lock()
	p.closed = true
	wd := p.wd
	p.mu.Unlock()
	// The reader hands what is queued, then returns; with closed set,
	// queued records only have their processes continued.
	p.disc.Flush()
	<-p.done
	// Discovery is over: nothing attaches uprobes any more.
	p.mu.Lock()
	var links []link.Link
	for _, pf := range p.attached {
		links = append(links, pf.links...)
	}
	p.files, p.attached = nil, nil
	p.mu.Unlock()
	// The uprobes hold nothing: they are detached while held processes
	// are released, both being mostly waits for the kernel's grace periods.
	// All at once: each detach waits for a grace period of the kernel's
	// uprobes (30-90 ms here); together they wait for about one.
	detached := make(chan struct{})
	go func() {
		defer close(detached)
		t0 := time.Now()
		bpfcore.CloseLinks(links)
		bpfcore.Phase("tls: detach uprobes", t0)
	}()
	// A program that was running as the hooks were detached may have
	// committed a record since, or be about to: the watchdog's release
	// waits for such runs and continues whatever tlsx_held names.
	switch {
	case wd != nil && bpfcore.Exiting():
		// The watchdog does it, as after a SIGKILL: the release waits for
		// a grace period, which the exit need not.
		wd.Leave()
	case wd != nil:
		t0 := time.Now()
		if err := wd.Close(); err != nil {
			p.logf(true, "release held processes: %v", err)
		}
		bpfcore.Phase("tls: release held processes, stop the hold watchdog", t0)
	}
	p.disc.Close()
	<-detached
	_ = bpfcore.ClearMap(p.known)
}
