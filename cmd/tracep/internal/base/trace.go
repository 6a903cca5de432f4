package base

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/tracep/tracep/backends"
	"github.com/tracep/tracep/harness"
	"github.com/tracep/tracep/tracep"
)

// tracingCommand is what one tracing command (net, dns, tls, exec, run)
// declares; runTrace does every step they share: the common flags, -p,
// command mode, signals, the output, the loss report and the exit status.
type tracingCommand interface {
	// help is the text of -h.
	help() string
	// declare adds the command's own flags.
	declare(fs *FlagSet)
	// prepare checks the parsed flags (an error is a usage error) and sets
	// what to trace: t.kinds and t.tracers.
	prepare(t *traceRun) error
	// keep selects the events to output, in every format.
	keep(ev tracep.Event) bool
	// print writes one kept event in the command's human format.
	print(ev tracep.Event)
}

// Optional parts of a tracingCommand.
type (
	// jsonPrinter is a command with its own JSON form (dns: the
	// reference's keys and the event schema on one line).
	jsonPrinter interface{ printJSON(ev tracep.Event) }
	// armedHook is told once the tracers are armed, before a command runs;
	// what it returns completes the start-up line of a -p or whole-system
	// trace ("tracing pid 12 and descendants <this>; Ctrl-C to stop").
	armedHook interface {
		armed(tr *backends.Trace) string
	}
	// observer sees every event of the trace, kept or not, one at a time
	// (for verdicts computed on the fly).
	observer interface{ observe(ev tracep.Event) }
	// finisher runs after the trace and returns the exit status, given
	// the status runTrace would return.
	finisher interface {
		finish(r *traceResult, code int) int
	}
)

// traceRun is one run of a tracing command: its common flags and what
// runTrace derives from them, shared with the command.
type traceRun struct {
	*env
	name string // "net", ...
	cmd  tracingCommand

	// Common flags.
	color, json, quiet bool
	outPath            string
	pidList            []string
	hermetic           bool          // -net
	waitFor            time.Duration // -wait
	asUser             string        // -as
	webAddr            string        // -web
	noBanner           bool          // set by a command that has its own flag for it
	// silent stops the live output (run -normalize prints after the
	// trace); the events still reach the page of -web.
	silent bool

	// Derived.
	pids    []int // -p without 0
	unowned bool  // -p 0
	argv    []string
	kinds   []tracep.Kind
	tracers backends.Config
	// keepEvents makes the events of the trace available in traceResult.
	keepEvents bool

	out *sink
	enc *tracep.Encoder
	seq uint64
	web LivePage // -web
	// root is the context of the whole run, not ended by the end of the
	// trace: -web serves the page until it ends.
	root context.Context

	stderrMu sync.Mutex
}

// traceResult is what a finisher gets.
type traceResult struct {
	// events are the trace's events in time order, when keepEvents was set.
	events []tracep.Event
	// capture is the harness's capture in command mode.
	capture *harness.Capture
}

// warnf prints one line on stderr, prefixed with the command's name. It
// may be called from any goroutine.
func (t *traceRun) warnf(format string, args ...any) {
	t.stderrMu.Lock()
	defer t.stderrMu.Unlock()
	fmt.Fprintf(t.stderr, "tracep %s: %s\n", t.name, fmt.Sprintf(format, args...))
}

// runTrace runs a tracing command with its arguments.
func runTrace(e *env, name string, c tracingCommand, args []string) int {
	// A failed write ends the trace as SIGINT would.
	root := e.ctx
	ctx, stop := context.WithCancel(e.ctx)
	defer stop()
	ec := *e
	ec.ctx = ctx
	e = &ec
	t, code, ok := parseTrace(e, name, c, args)
	if !ok {
		return code
	}
	loadGC()
	t.root = root
	for _, pid := range t.pids {
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			t.warnf("-p %d: no such process", pid)
			return ExitError
		}
	}
	var err error
	if t.out, err = openSink(t.outPath, e.stdout, t.color); err != nil {
		t.warnf("%v", err)
		return ExitError
	}
	t.out.fail = func(error) { stop() }
	if t.webAddr != "" {
		title := "tracep " + name + " " + t.describeScope()
		if len(t.argv) > 0 {
			title = "tracep " + name + " -- " + tracep.ShellJoin(t.argv)
		}
		if t.web, err = extensions.StartWeb(ctx, t.webAddr, title); err != nil {
			t.warnf("%v", err)
			return ExitError
		}
		defer t.web.Close()
		// Said even with -Q: the page cannot be found otherwise.
		t.warnf("live page at %s", t.web.URL())
	}
	var events []tracep.Event
	obs, _ := c.(observer)
	consume := func(ev tracep.Event) {
		if t.keepEvents {
			events = append(events, ev)
		}
		// Output first: a verdict on the page points at published events.
		t.output(ev)
		if obs != nil {
			obs.observe(ev)
		}
	}
	var res traceResult
	if len(t.argv) > 0 {
		code, res.capture = t.runCommand(consume)
		if res.capture != nil {
			res.events = res.capture.Events
		}
	} else {
		code = t.traceUntilStopped(consume)
		if t.keepEvents {
			harness.SortEvents(events)
			res.events = events
		}
	}
	if f, ok := c.(finisher); ok {
		code = f.finish(&res, code)
	}
	err = t.out.close()
	if t.web != nil && err == nil {
		t.serveToTheEnd(code)
	}
	if err != nil {
		if errors.Is(err, syscall.EPIPE) {
			// The reader went away (| head): tracing stopped, the command
			// was killed; the status a shell gives a process killed by
			// SIGPIPE.
			return ExitBrokenPipe
		}
		t.warnf("%v; tracing stopped", err)
		return ExitError
	}
	return code
}

// parseTrace parses a tracing command's flags and lets the command prepare.
// When the command should not run, ok is false and code is the exit status
// (-h printed the help, or a usage error was reported).
func parseTrace(e *env, name string, c tracingCommand, args []string) (t *traceRun, code int, ok bool) {
	t = &traceRun{env: e, name: name, cmd: c}
	fs := NewFlags("tracep " + name)
	fs.Bool("c", &t.color, "force colour")
	fs.Bool("j", &t.json, "JSON lines")
	fs.String("o", "FILE", &t.outPath, "append output to FILE")
	fs.List("p", "PIDS", &t.pidList, "trace these processes and their descendants")
	fs.Bool("Q", &t.quiet, "no banner, no warnings")
	fs.Bool("net", &t.hermetic, "run the command in the hermetic test network")
	fs.Var("wait", "D", secondsFlag{&t.waitFor}, "wait up to D for what the command leaves running")
	fs.String("as", "USER", &t.asUser, "run the command as USER")
	fs.String("web", "ADDR", &t.webAddr, "serve a live page of the trace on ADDR")
	c.declare(fs)

	argv, err := fs.Parse(args)
	if errors.Is(err, ErrHelp) {
		fmt.Fprint(e.stdout, c.help())
		return nil, ExitOK, false
	}
	if err == nil {
		t.argv = argv
		err = t.parsePIDs(fs.Changed("p"))
	}
	if err == nil && (t.hermetic || t.waitFor > 0 || t.asUser != "") && len(t.argv) == 0 {
		err = errors.New("-net, -wait and -as need a command")
	}
	if err == nil {
		err = c.prepare(t)
	}
	if err != nil {
		fmt.Fprintf(e.stderr, "tracep %s: %v\n\n%s", name, err, c.help())
		return nil, ExitUsage, false
	}
	switch {
	case t.hermetic && extensions.NewNetwork == nil:
		return nil, e.handOver("tracep " + name + " -net"), false
	case t.webAddr != "" && extensions.StartWeb == nil:
		return nil, e.handOver("tracep " + name + " -web"), false
	}
	if t.json {
		t.enc = tracep.NewEncoder(jsonWriter{t})
	}
	return t, 0, true
}

// output numbers and prints one event the command keeps. The trace calls
// it one event at a time.
func (t *traceRun) output(ev tracep.Event) {
	if ev.Trace != nil {
		// A record about the trace: never silent, whatever the command
		// keeps. On stderr for people; in the stream for programs.
		t.warnf("%s", ev.Text())
		if !t.json {
			return
		}
	} else if !t.cmd.keep(ev) {
		return
	}
	t.seq++
	ev.Seq = t.seq
	if t.web != nil {
		t.web.Publish(ev)
	}
	switch p, own := t.cmd.(jsonPrinter); {
	case t.silent:
	case t.json && own:
		p.printJSON(ev)
	case t.json:
		_ = t.enc.Encode(ev) // a write error is kept by the sink
	default:
		t.cmd.print(ev)
	}
}

// serveToTheEnd says on the page how the trace ended, with exit status
// code, and serves it until SIGINT or SIGTERM.
func (t *traceRun) serveToTheEnd(code int) {
	status := fmt.Sprintf("exit status %d", code)
	if len(t.argv) == 0 {
		status = "stopped"
	}
	t.web.Done(status)
	t.warnf("trace ended (%s); the page stays at %s until Ctrl-C", status, t.web.URL())
	if t.root.Err() == nil {
		<-t.root.Done()
		return
	}
	// The first signal ended the trace: wait for another.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	<-ctx.Done()
}

// parsePIDs checks -p: comma-separated process ids, each a positive
// integer or 0 for the events no process owns; an empty list or item is
// an error (an empty $(pidof app) must not trace the whole system).
func (t *traceRun) parsePIDs(given bool) error {
	if given && len(t.argv) > 0 {
		return errors.New("-p and a command exclude each other: the command is traced with everything it starts")
	}
	for _, f := range t.pidList {
		n, err := strconv.Atoi(f)
		switch {
		case f == "":
			return errors.New("-p: empty process id in the list")
		case err != nil || n < 0:
			return fmt.Errorf("-p: invalid process id %q", printable(f))
		case n == 0:
			t.unowned = true
		default:
			t.pids = append(t.pids, n)
		}
	}
	return nil
}

// scope is the -p scope: the listed processes and all their descendants,
// or the whole system.
func (t *traceRun) scope() tracep.Scope { return tracep.Scope{PIDs: t.pids} }

// describeScope says in words what a -p or whole-system trace covers.
func (t *traceRun) describeScope() string {
	var s string
	switch {
	case len(t.pids) > 0:
		ps := make([]string, len(t.pids))
		for i, p := range t.pids {
			ps[i] = strconv.Itoa(p)
		}
		s = "pid " + strings.Join(ps, ",") + " and descendants"
		if t.unowned {
			s += ", and the events of no known process"
		}
	case t.unowned:
		s = "the events of no known process"
	default:
		s = "the whole system"
	}
	return s
}

// traceUntilStopped traces the -p scope or the whole system until SIGINT
// or SIGTERM.
func (t *traceRun) traceUntilStopped(consume func(tracep.Event)) int {
	scope := t.scope()
	if t.unowned && len(t.pids) == 0 {
		scope = tracep.Scope{} // only unowned events: the whole system, filtered
	}
	tr, err := backends.StartTrace(t.ctx, backends.TraceConfig{
		Kinds: t.kinds, Scope: scope, Unowned: t.unowned && len(t.pids) > 0, Config: t.tracers, CaughtUp: t.out.flush,
	}, func(ev tracep.Event) {
		if t.unowned && len(t.pids) == 0 && ev.Proc.PID != 0 {
			return
		}
		consume(ev)
	})
	if err != nil {
		t.startFailed(err)
		return ExitError
	}
	backends.ReleaseLoadCaches()
	settle()
	settleGC()
	what := t.describeScope()
	if h, ok := t.cmd.(armedHook); ok {
		if more := h.armed(tr); more != "" {
			what += " " + more
		}
	}
	if !t.quiet && !t.noBanner {
		// Said once the tracers are armed: from here on nothing is missed.
		t.warnf("tracing %s; Ctrl-C to stop", what)
	}
	<-t.ctx.Done()
	if err := tr.Close(); err != nil {
		t.reportErrors(err)
		return ExitError
	}
	return ExitOK
}

// reportErrors prints a trace's errors, one line each, but lost events:
// their notes were printed as they came.
func (t *traceRun) reportErrors(err error) {
	for _, e := range tracep.SplitErrors(err) {
		if !errors.Is(e, tracep.ErrLost) && !errors.Is(e, context.Canceled) {
			t.warnf("%v", e)
		}
	}
}

// startFailed reports why the tracers could not start, on one line.
func (t *traceRun) startFailed(err error) {
	switch {
	case errors.Is(err, os.ErrPermission):
		t.warnf("%v (run as root, or see what tracep doctor says is missing)", err)
	case errors.Is(err, tracep.ErrNotSupported):
		t.warnf("%v (tracep doctor says what this host can trace)", err)
	default:
		t.warnf("%v", err)
	}
}

// runCommand runs t.argv under the tracers, in a cgroup of its own, and
// returns its exit status (128+n for a signal, as a shell does) and the
// capture.
func (t *traceRun) runCommand(consume func(tracep.Event)) (int, *harness.Capture) {
	path, err := exec.LookPath(t.argv[0])
	if err != nil {
		t.warnf("%v", err)
		return 127, nil
	}
	cmd := exec.Command(path, t.argv[1:]...)
	cmd.Args[0] = t.argv[0]
	if t.asUser != "" {
		cred, env, err := credential(t.asUser)
		if err != nil {
			t.warnf("-as %s: %v", printable(t.asUser), err)
			return ExitError, nil
		}
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
		cmd.Env = append(os.Environ(), env...)
	}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = t.stdin, t.stdout, t.stderr
	if t.outPath == "" || t.outPath == "-" {
		// The trace owns standard output: the command's goes to standard
		// error, so that the two never mix (tracep dns -j -- dig | jq).
		cmd.Stdout = t.stderr
	}
	if f, ok := t.stdin.(*os.File); ok {
		cmd.Stdin = f
	}
	opts := []harness.Option{harness.Kinds(t.kinds...), harness.Tracers(t.tracers), harness.OnEvent(consume), harness.OnCaughtUp(t.out.flush)}
	if !t.keepEvents {
		opts = append(opts, harness.Discard()) // memory stays flat however long it runs
	}
	if t.waitFor > 0 {
		opts = append(opts, harness.WaitAll(t.waitFor))
	}
	if t.hermetic {
		n, err := extensions.NewNetwork()
		if err != nil {
			t.warnf("start the hermetic network: %v", err)
			return ExitError, nil
		}
		defer n.Close()
		opts = append(opts, harness.InNet(n))
	}
	opts = append(opts, harness.OnArmed(func(tr *backends.Trace) {
		// Later, off the command's path: a lower percent collects at
		// once, and a short command is done sooner.
		time.AfterFunc(backends.ReleaseDelay, settleGC)
		if h, ok := t.cmd.(armedHook); ok {
			h.armed(tr)
		}
	}))
	// SIGINT or SIGTERM cancels t.ctx: the harness then kills the
	// command's cgroup, drains the tracers and cleans up before we exit.
	capture, err := harness.Run(t.ctx, cmd, opts...)
	if capture == nil {
		t.startFailed(err)
		return ExitError, nil
	}
	// The command ran: report what went wrong with the trace, but keep its
	// exit status.
	if t.ctx.Err() == nil || !errors.Is(err, t.ctx.Err()) {
		t.reportErrors(err)
	}
	if st, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && st.Signaled() {
		return 128 + int(st.Signal()), capture
	}
	return capture.ExitCode, capture
}

// settleOnArm is set by Main: a tracer process following -p or the whole
// system, once armed, runs its Go code on one CPU.
var settleOnArm bool

// settle runs the rest of the process's Go code on one CPU once tracing is
// armed (unless GOMAXPROCS says otherwise). Loading used every CPU (the
// verifier runs of parallel loads); what follows is a reader and a
// consumer handing batches to each other, which on one CPU costs no
// wake-up of another thread: ~17 % less tracer CPU (4,000 whole-system
// execs: ~86 → ~71 ms). Records wait in the kernel's rings meanwhile, and
// a ring a quarter full wakes its reader. Not in command mode: there the
// command's exit must be acted on at once (what it left running is killed
// before it acts), and on a loaded machine one CPU let a daemon's next
// exec through in 3 of 40 runs (0 of 40 with every CPU).
func settle() {
	if settleOnArm && os.Getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(1)
	}
}

// steadyGCPercent is set by Main: the garbage collector's percent, but
// while a trace loads (0: leave it as it is).
var steadyGCPercent int

// loadGC sets the garbage collector's percent for loading the tracers to
// the default 100%: loading allocates in a burst, which at 25% took seven
// collections (tracep exec -- true: 92 ms of CPU at 25%, 82 ms at 100%
// until armed).
func loadGC() {
	if steadyGCPercent != 0 {
		debug.SetGCPercent(100)
	}
}

// settleGC sets the garbage collector's percent back once tracing is
// armed.
func settleGC() {
	if steadyGCPercent != 0 {
		debug.SetGCPercent(steadyGCPercent)
	}
}

// jsonWriter adapts the output to io.Writer for the JSON encoder.
type jsonWriter struct{ t *traceRun }

func (w jsonWriter) Write(b []byte) (int, error) { w.t.out.write(b); return len(b), nil }

// parseKinds parses a -kinds list: kinds that have a tracer, each once.
func parseKinds(list []string) ([]tracep.Kind, error) {
	var ks []tracep.Kind
	for _, f := range list {
		k, err := tracep.ParseKind(f)
		if err != nil {
			return nil, err
		}
		if !slices.Contains(backends.Kinds(), k) {
			return nil, fmt.Errorf("kind %q has no tracer", k)
		}
		if !slices.Contains(ks, k) {
			ks = append(ks, k)
		}
	}
	return ks, nil
}
