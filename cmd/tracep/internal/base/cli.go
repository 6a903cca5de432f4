package base

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/tracep/tracep/backends"
)

// Version is set at link time with -ldflags "-X github.com/tracep/tracep/cmd/tracep/internal/base.Version=v1.2.3";
// otherwise it comes from the module's build information.
var Version = ""

// VersionString returns the tracep version, always starting with "v" so that
// scripts matching the reference tool's `v[0-9]` keep working.
func VersionString() string {
	v := Version
	if v == "" {
		if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			v = bi.Main.Version
		}
	}
	if v == "" {
		v = "v0.1.0-dev"
	}
	if !strings.HasPrefix(v, "v") {
		v = "v" + v
	}
	return v
}

// Exit codes.
const (
	ExitOK     = 0
	ExitError  = 1
	ExitUsage  = 2
	ExitPolicy = 3
	// ExitIncomplete: a verdict could not be given, the trace having lost
	// or cut events where a violation could hide.
	ExitIncomplete = 4
	// ExitBrokenPipe: the reader of the output went away (128+SIGPIPE).
	ExitBrokenPipe = 141
)

// env is what a command runs with; tests substitute its parts.
type env struct {
	ctx    context.Context
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	// args is the whole command line when Main runs it, which can then
	// hand it over to tracep-full (handOver); nil in process.
	args []string
}

type command struct {
	name    string
	summary string
	run     func(e *env, args []string) int
}

// commands lists the commands in the order the usage shows them.
func commands() []command {
	return []command{
		{"net", "trace per-process network connections", runNet},
		{"tls", "trace per-process TLS handshakes", runTLS},
		{"dns", "trace per-process DNS queries", runDNS},
		{"exec", "trace per-process exec syscalls", runExec},
		{"ca", "fetch a host's TLS CA chain", fullCommand("ca")},
		{"run", "run a command under every tracer; check a policy", runRun},
		{"script", "run txtar test scripts with tracep's commands", fullCommand("script")},
		{"demo", "run the built-in demo in a hermetic fake internet", runDemo},
		{"view", "serve a saved trace to a browser", runView},
		{"doctor", "say what works on this host, and why not", runDoctor},
	}
}

// Main runs the command line and exits with its status.
func Main() {
	if os.Getuid() != os.Geteuid() || os.Getgid() != os.Getegid() {
		// A setuid copy would run the traced command as root for anyone.
		fmt.Fprintln(os.Stderr, "tracep: refusing to run setuid or setgid; run it as root, or with the capabilities it needs, instead")
		os.Exit(ExitError)
	}
	// With SIGPIPE caught, a write to a closed pipe returns EPIPE instead of
	// killing tracep before it cleaned up; a handler (not an ignore) is
	// reset at exec, so traced commands get the default.
	signal.Notify(make(chan os.Signal, 1), syscall.SIGPIPE)
	if os.Getenv("GOGC") == "" {
		// A tracer's live heap is small and its garbage steady: collecting
		// at 25% growth keeps its memory flat over hours (measured:
		// BenchmarkRSSFlat) for a few ms of CPU. A trace loads at 100%
		// (loadGC).
		debug.SetGCPercent(25)
		steadyGCPercent = 25
	}
	settleOnArm = true
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// TRACEP_CPUPROFILE, TRACEP_MEMPROFILE, TRACEP_STARTUP (profile.go).
	stopProfiling := startProfiling(os.Stderr)
	code := dispatch(&env{ctx: ctx, stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, args: os.Args[1:]}, os.Args[1:])
	stop()
	backends.DetachBeforeExit()
	stopProfiling()
	os.Exit(code)
}

// Run runs tracep with args (without the program name) and returns the exit status.
func Run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return dispatch(&env{ctx: ctx, stdin: stdin, stdout: stdout, stderr: stderr}, args)
}

func dispatch(e *env, args []string) int {
	if len(args) == 0 {
		usage(e.stderr)
		return ExitUsage
	}
	switch args[0] {
	case "-h", "--help", "help":
		usage(e.stdout)
		return ExitOK
	case "-v", "--version", "version":
		fmt.Fprintf(e.stdout, "tracep %s\n", VersionString())
		return ExitOK
	}
	for _, c := range commands() {
		if c.name == args[0] {
			return c.run(e, args[1:])
		}
	}
	fmt.Fprintf(e.stderr, "tracep: unknown command %q\n\n", args[0])
	usage(e.stderr)
	return ExitUsage
}

// fullCommand runs the extension command name (Extensions.Commands), or
// hands the command line over to tracep-full.
func fullCommand(name string) func(e *env, args []string) int {
	return func(e *env, args []string) int {
		if c := extensions.Commands[name]; c != nil {
			return c(e.ctx, args, e.stdin, e.stdout, e.stderr)
		}
		return e.handOver("tracep " + name)
	}
}

func usage(w io.Writer) {
	fmt.Fprintf(w, "tracep %s — trace a process's net, TLS, DNS & exec activity\n\n", VersionString())
	fmt.Fprintf(w, "usage: tracep <command> [flags]\n\ncommands:\n")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-6s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(w, "\nrun 'tracep <command> -h' for command-specific flags\n")
}
