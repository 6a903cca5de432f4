package harness

import (
	"time"

	"github.com/tracep/tracep/backends"
	"github.com/tracep/tracep/backends/testnet/cmdnet"
	"github.com/tracep/tracep/tracep"
)

// Option changes how Trace and Run work.
type Option func(*config)

type config struct {
	kinds     []tracep.Kind
	allowLost bool
	timeout   time.Duration
	net       cmdnet.Network
	onEvent   func(tracep.Event)
	caughtUp  func()
	onArmed   func(*backends.Trace)
	waitAll   bool
	waitMax   time.Duration
	discard   bool
	maxEvents int
	tracers   backends.Config
	saveDir   string
}

// Kinds narrows the trace to these kinds; by default every kind the host
// can trace (backends.Supported) is traced, and one it cannot is skipped.
func Kinds(kinds ...tracep.Kind) Option {
	return func(c *config) { c.kinds = append([]tracep.Kind(nil), kinds...) }
}

// AllowLost accepts a trace in which the kernel dropped events; by default
// Trace fails the test.
func AllowLost() Option { return func(c *config) { c.allowLost = true } }

// Timeout bounds the command's run time (default: none for Run, the test's
// deadline for Trace). When it expires the command's cgroup is killed.
func Timeout(d time.Duration) Option { return func(c *config) { c.timeout = d } }

// InNet runs the command inside the hermetic network n (a *testnet.Net):
// n.Start starts it. InNet(nil) is no option; a nil *testnet.Net is not
// nil as a Network, and must not be passed.
func InNet(n cmdnet.Network) Option { return func(c *config) { c.net = n } }

// OnEvent calls f for each event as it arrives, before the command has
// finished (for live output): one call at a time, from a goroutine of the
// trace. Events reach f in arrival order, which across kinds is not
// strictly time order.
func OnEvent(f func(tracep.Event)) Option { return func(c *config) { c.onEvent = f } }

// OnCaughtUp calls f, from OnEvent's goroutine, each time OnEvent has been
// handed every event captured so far and the trace waits for more: where
// a live consumer flushes what it buffers, so that a line waits for no
// timer of its own.
func OnCaughtUp(f func()) Option { return func(c *config) { c.caughtUp = f } }

// Discard keeps no event in the Capture (Events stays empty): they reach
// only OnEvent. For long traces consumed live, so that memory stays flat;
// a Capture otherwise keeps every event, about 0.5 KB each (more with long
// argvs or TLS data).
func Discard() Option { return func(c *config) { c.discard = true } }

// MaxEvents bounds the events a Capture keeps: the trace ends, its
// command killed, with an error matching ErrTooManyEvents when a trace
// makes more. The default is no bound.
func MaxEvents(n int) Option { return func(c *config) { c.maxEvents = n } }

// OnArmed calls f once the tracers are armed, before the command starts,
// with the running trace (for a tracer's own methods, such as the files the
// TLS tracer probes).
func OnArmed(f func(*backends.Trace)) Option { return func(c *config) { c.onArmed = f } }

// Tracers sets the tracers' options (the DNS ports, the TLS data limit,
// ...); their Scope fields are ignored. The default is each tracer's
// defaults.
func Tracers(cfg backends.Config) Option { return func(c *config) { c.tracers = cfg } }

// WaitAll makes the trace last until every process in the command's cgroup
// has exited, not just the command (for commands that daemonise), for at
// most max after the command exited (0: no bound but Timeout and the
// context); then what still runs is killed. Without WaitAll, whatever the
// command left running is killed when it exits. Either way a "leftover"
// note in the trace, and Capture.Leftover, say which processes were left
// and what became of them.
func WaitAll(max time.Duration) Option {
	return func(c *config) { c.waitAll, c.waitMax = true, max }
}

// SaveOnFailure makes Trace write the capture to a file in dir when the
// test fails (DIR/TestName.jsonl, the JSON lines tracep -j writes), and log
// its name, so that `tracep view FILE` shows what a failed run did. The
// environment variable TRACEP_SAVE_TRACES=DIR does the same for every
// Trace without changing the tests (for CI). Run ignores it.
func SaveOnFailure(dir string) Option { return func(c *config) { c.saveDir = dir } }
