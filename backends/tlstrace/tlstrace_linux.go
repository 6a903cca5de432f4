package tlstrace

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"sync"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"

	"github.com/tracep/tracep/backends/internal/bpfcore"
	"github.com/tracep/tracep/backends/internal/procfs"
	"github.com/tracep/tracep/tracep"
)

// caps are what the TLS tracer needs besides its programs, to follow the
// processes of other users (measured): CAP_SYS_PTRACE to open their
// /proc/PID/exe, maps and fds, CAP_KILL to continue a held process (else
// it stays stopped), and CAP_CHECKPOINT_RESTORE to open their
// /proc/PID/map_files.
const caps = bpfcore.TracingCaps | bpfcore.CapSysPtrace | bpfcore.CapKill | bpfcore.CapCheckpointRestore

// backend is the TLS programs, loaded once per process (see bpfcore).
var backend = &bpfcore.Backend{
	Kind: tracep.KindTLS,
	Caps: caps,
	Spec: loadTls,
	KernelTypes: []string{
		"fdtable", "file", "files_struct", "inode", "linux_binprm", "net", "pt_regs", "signal_struct", "sock", "socket", "super_block",
		"btf_trace_sched_process_exec", "btf_trace_sys_enter", "btf_trace_sock_send_length", "btf_trace_sock_recv_length",
	},
	Prepare:   prepare,
	Attach:    attachBackend,
	RingBytes: DefaultRingBytes,
}

// Known to bpfcore.Preload, which loads several tracers at once.
func init() { bpfcore.Register(backend) }

// uprobeMode selects how uprobes are attached: "" picks uprobe_multi links
// when the kernel has them (6.6) and TRACEP_DISABLE does not name
// uprobe_multi, else one perf event per probe; "perf" forces the latter
// (for tests). Read when the programs load.
var uprobeMode string

// useMulti is decided by prepare, with the core locked, and read by
// attachBackend.
var useMulti bool

// uprobePMU is the perf event source of fd-owned uprobes; without it
// cilium/ebpf would fall back to tracefs's uprobe_events, whose probes
// outlive a killed tracer, so it is required instead.
const uprobePMU = bpfcore.UprobePMU

// scratchNest is TLSX_NEST in bpf/tls.bpf.c: scratch buffers per CPU.
const scratchNest = 2

// prepare sizes the per-CPU scratch map, picks the uprobe attach type and
// leaves out the socket programs on a kernel without their tracepoints
// (before Linux 6.3): plaintext then has no connection, and says so.
func prepare(spec *ebpf.CollectionSpec, kernel *btf.Spec) error {
	if _, err := bpfcore.SizeMap(spec, tlsMapTlsxScratch, func(ncpu int) int { return scratchNest * ncpu }); err != nil {
		return err
	}
	for prog, tp := range map[string]string{tlsProgTlsxSend: "btf_trace_sock_send_length", tlsProgTlsxRecv: "btf_trace_sock_recv_length"} {
		var td *btf.Typedef
		// As raw tracepoints they could not name the socket (no
		// bpf_get_socket_cookie): as on a kernel without them, which
		// TRACEP_DISABLE=tp_sock_send_length forces too.
		if kernel.TypeByName(tp, &td) != nil || bpfcore.RawTracepoints() || bpfcore.Have("tp_sock_send_length") != nil {
			delete(spec.Programs, prog)
		}
	}

	// bpfcore.Have says no when TRACEP_DISABLE=uprobe_multi forces the
	// fallback.
	useMulti = uprobeMode == "" && bpfcore.Have("uprobe_multi") == nil
	if !useMulti {
		if _, err := os.Stat(uprobePMU); err != nil {
			return fmt.Errorf("uprobe perf events (%s): %w", uprobePMU, tracep.ErrNotSupported)
		}
		for _, name := range []string{tlsProgTlsxEnter, tlsProgTlsxExit} {
			spec.Programs[name].AttachType = ebpf.AttachNone
		}
	}
	return nil
}

// proberLink is what the backend's Attach returns to bpfcore: the
// system call hook's link, standing for everything the backend attached.
// Closing it detaches the tracepoint programs, then the prober's uprobes.
type proberLink struct {
	link.Link // tlsx_sys_enter
	others    []link.Link
	p         *prober
}

func (l *proberLink) Close() error {
	err := bpfcore.CloseLinks(append(slices.Clone(l.others), l.Link))
	l.p.close()
	theProberMu.Lock()
	if theProber == l.p {
		theProber = nil
	}
	theProberMu.Unlock()
	return err
}

// attachBackend attaches the discovery hooks and the uprobes of the
// system's TLS libraries. bpfcore calls it with the core locked when the
// first TLS session of the process opens (and again after an idle detach).
func attachBackend(coll *ebpf.Collection) ([]link.Link, error) {
	p, err := newProber(coll, useMulti)
	if err != nil {
		return nil, err
	}
	// Everything in parallel: attaching a tracepoint program or the first
	// uprobe of a file waits for an RCU grace period (~10 ms here each),
	// and parallel attaches share the wait.
	progs := []string{tlsProgTlsxSysEnter, tlsProgTlsxExec}
	for _, name := range []string{tlsProgTlsxSend, tlsProgTlsxRecv} {
		if coll.Programs[name] != nil {
			progs = append(progs, name)
		}
	}
	libs := systemLibraries()
	links := make([]link.Link, len(progs))
	errs := make([]error, len(progs)+len(libs))
	var wg sync.WaitGroup
	for i, name := range progs {
		wg.Go(func() {
			links[i], errs[i] = bpfcore.AttachTracepoint(coll, name)
		})
	}
	for i, path := range libs {
		wg.Go(func() { _, errs[len(progs)+i] = p.probePath(path, path) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		for _, l := range links {
			if l != nil {
				l.Close()
			}
		}
		p.close()
		return nil, err
	}
	theProberMu.Lock()
	theProber = p
	theProberMu.Unlock()
	return []link.Link{&proberLink{Link: links[0], others: links[1:], p: p}}, nil
}

// libDirs are searched for libssl and libgnutls besides ld.so.cache (musl
// systems have no cache).
var libDirs = []string{
	"/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu",
	"/lib64", "/usr/lib64", "/lib", "/usr/lib", "/usr/local/lib",
}

// systemLibraries returns the distinct x86-64 libssl and libgnutls files
// the dynamic linker would load: from ld.so.cache and the usual
// directories, symlinks resolved, each file once.
func systemLibraries() []string {
	var names []string
	if b, err := os.ReadFile("/etc/ld.so.cache"); err == nil {
		if entries, err := parseLDCache(b); err == nil {
			for _, e := range entries {
				if isTLSLibName(e.name) {
					names = append(names, e.path)
				}
			}
		}
	}
	dirs := make(map[[2]uint64]bool) // by device and inode: /lib is often /usr/lib
	buf := make([]byte, 16<<10)
	for _, dir := range libDirs {
		names = appendTLSLibs(names, dir, buf, dirs)
	}
	seen := map[fileKey]bool{}
	var out []string
	for _, n := range names {
		path, err := filepath.EvalSymlinks(n)
		if err != nil {
			continue
		}
		f, err := os.Open(path)
		if err != nil {
			continue
		}
		key, err := statKey(f)
		f.Close()
		if err != nil || seen[key] {
			continue
		}
		seen[key] = true
		out = append(out, path)
	}
	return out
}

// appendTLSLibs appends to names the paths of the TLS libraries in dir,
// unless seen has dir already. It reads the directory's entries into buf
// and looks at their names in place: a library directory holds a thousand
// or more, which os.ReadDir or filepath.Glob would each make a string of
// (0.3 MB of a TLS tracer's start for the usual directories).
func appendTLSLibs(names []string, dir string, buf []byte, seen map[[2]uint64]bool) []string {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return names
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if unix.Fstat(fd, &st) != nil {
		return names
	}
	key := [2]uint64{st.Dev, st.Ino}
	if seen[key] {
		return names
	}
	seen[key] = true
	for {
		n, err := unix.Getdents(fd, buf)
		if err != nil || n <= 0 {
			return names
		}
		parseDirents(buf[:n], func(name []byte) {
			if isTLSLib(name) {
				names = append(names, filepath.Join(dir, string(name)))
			}
		})
	}
}

// tlsLibPrefixes name OpenSSL's libssl and GnuTLS's main library (not
// NSS's libssl3.so nor gnutls-openssl's compatibility layer, which would
// report every call twice).
var tlsLibPrefixes = [][]byte{[]byte("libssl.so."), []byte("libgnutls.so.")}

// isTLSLib reports whether a library's name is one of tlsLibPrefixes'.
func isTLSLib(name []byte) bool {
	for _, p := range tlsLibPrefixes {
		if bytes.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// isTLSLibName is isTLSLib for a string.
func isTLSLibName(name string) bool { return isTLSLib([]byte(name)) }

// Session is a running TLS trace.
type Session struct {
	core *bpfcore.Session
	p    *prober

	cancel context.CancelFunc // stops the background scan
	wg     sync.WaitGroup
	once   sync.Once
	err    error
}

var _ tracep.Session = (*Session)(nil)

// Start starts tracing TLS in cfg.Scope: the plaintext of every read and
// write through OpenSSL, GnuTLS and Go's crypto/tls, and every ClientHello
// written to a TCP socket. It returns once the probes of the system's TLS
// libraries, of cfg.Files and of the files the scope's processes map are
// attached: TLS used after Start returns through those is observed, and so
// is TLS in binaries executed later (see Config.NoHold). emit is called
// from the session's own goroutine, one event at a time in the order the
// kernel produced them, and never after Close returns; it must not call
// Close. ctx bounds the start-up only.
func Start(ctx context.Context, cfg Config, emit func(tracep.Event)) (_ *Session, err error) {
	cfg, err = bpfcore.Normalize(tracep.KindTLS, cfg, Config.normalize, emit)
	if err != nil {
		return nil, err
	}
	cs, err := backend.Open(ctx, bpfcore.SessionConfig{
		Scope:     cfg.Scope,
		RingBytes: cfg.RingBytes,
		Param:     cfg.param(),
	}, bpfcore.Emitter(NewDecoder().Decode, emit))
	if err != nil {
		return nil, fmt.Errorf("tls tracer: %w", err)
	}
	s := &Session{core: cs, p: currentProber()}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	if s.p == nil {
		return nil, fmt.Errorf("tls tracer: probes detached while starting: %w", tracep.ErrClosed)
	}
	s.p.setLog(s, cfg.Log)
	if cfg.holds() {
		if err := s.p.armHold(); err != nil {
			// Holding without a watchdog could leave processes stopped
			// for good; new binaries then race with their probes.
			s.p.logf(true, "new binaries are not held: %v", err)
		}
	}

	for _, path := range cfg.Files {
		pf, err := s.p.probePath(path, path)
		if err != nil {
			return nil, fmt.Errorf("tls tracer: %w", err)
		}
		if pf.Probes == 0 {
			return nil, fmt.Errorf("tls tracer: %s: %w", path, ErrNoTLS)
		}
	}
	// What the scope's processes run now: their programs and libraries.
	scanCtx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	switch {
	case len(cfg.Scope.PIDs) > 0:
		pids, err := procfs.Descendants(cfg.Scope.PIDs)
		if err != nil {
			return nil, fmt.Errorf("tls tracer: %w", err)
		}
		seen := map[devIno]bool{}
		for _, pid := range pids {
			_ = s.p.scanProcess(pid, seen) // a process may exit meanwhile
		}
	case cfg.Scope.IsSystem():
		// Every process of the system: in the background, since it may
		// take a while; libraries are usually the system's, probed above.
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			pids, _ := procfs.AllPIDs() // none: nothing to scan
			seen := map[devIno]bool{}
			for _, pid := range pids {
				if scanCtx.Err() != nil || errors.Is(s.p.scanProcess(pid, seen), tracep.ErrClosed) {
					return
				}
			}
			// The scan read the symbol tables of every program running:
			// garbage now, ~1 MB that would stay resident for the
			// session's life (the collector returns memory slowly).
			t0 := time.Now()
			debug.FreeOSMemory()
			bpfcore.Phase("tls: memory of the scan of every process freed", t0)
		}()
	}
	return s, nil
}

// Files returns the files whose TLS code this process probes (for all its
// sessions), by path.
func (s *Session) Files() []File {
	if s.p == nil {
		return nil
	}
	return s.p.probed()
}

// Close stops the trace: everything the kernel recorded before Close is
// delivered to emit first, then the session's goroutines end and its
// resources are released (the probes are detached with the process's last
// TLS session, after bpfcore.Linger). Close is idempotent. It returns a
// *tracep.LostError (matching tracep.ErrLost) when events were lost.
func (s *Session) Close() error {
	s.once.Do(func() {
		if s.cancel != nil {
			s.cancel()
		}
		s.wg.Wait()
		if s.p != nil {
			s.p.setLog(s, nil)
		}
		s.err = s.core.Close()
	})
	return s.err
}

// Supported reports whether TLS tracing can run here: nil, an error
// matching os.ErrPermission (a *tracep.PermissionError naming the missing
// capabilities), or one matching tracep.ErrNotSupported.
func Supported() error {
	// Without uprobe_multi links, bpfcore.Need requires the uprobe PMU.
	return backend.Supported()
}

// Lost returns how many events were lost so far (see bpfcore.Session.Lost);
// backends.Trace reports them while the trace runs.
func (s *Session) Lost() uint64 { return s.core.Lost() }
