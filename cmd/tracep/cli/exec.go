package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/tracep/tracep/backends"
	"github.com/tracep/tracep/backends/exectrace"
	"github.com/tracep/tracep/harness"
	"github.com/tracep/tracep/tracep"
)

const execHelp = `usage: tracep exec [-cdefjlqQtu] [-o FILE] [-p PID[,PID...]] [[--] CMD [ARGS...]]

Trace exec() calls: every program started, with its full argv read from the
new process image, failed execs with their errno, and exits.

  -c        force colour (default: on when the output is a terminal and NO_COLOR is unset)
  -d        print each process's working directory before its argv
  -e        print each process's environment on a continuation line
  -f        flat output: no indentation by process-tree depth
  -j        JSON lines in the tracep event schema
  -l        print the executable's path instead of argv[0]
  -o FILE   append output to FILE
  -p PID    trace these processes and all their descendants (comma-separated, repeatable)
  -q        print argv[0] only
  -Q        suppress runtime warnings
  -t        also print failed execs and exits (status and run time); mark execs with +
  -u        print the owning user

With CMD, tracep runs it in a cgroup of its own, traced from its first
instruction, and exits with its exit status. Without -p or CMD the whole
system is traced until interrupted.

-d, -e and -l read /proc when the event arrives and may be empty for a
process that has already exited; argv never is.
`

func runExec(e *env, args []string) int {
	spec := clusterSpec{bools: "cdefjlqQtu", values: "op", cmd: true}
	a, err := spec.parse(args)
	if err != nil {
		fmt.Fprintf(e.stderr, "tracep exec: %v\n\n%s", err, execHelp)
		return exitUsage
	}
	if a.help {
		fmt.Fprint(e.stdout, execHelp)
		return exitOK
	}
	pids, err := parsePIDs(a.all('p'))
	if err != nil {
		fmt.Fprintf(e.stderr, "tracep exec: %v\n", err)
		return exitUsage
	}
	for _, pid := range pids {
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			fmt.Fprintf(e.stderr, "tracep exec: -p %d: no such process\n", pid)
			return exitError
		}
	}
	out, err := openSink(a.last('o'), e.stdout, a.has('c'))
	if err != nil {
		fmt.Fprintf(e.stderr, "tracep exec: %v\n", err)
		return exitError
	}
	p := &execPrinter{out: out, a: a, json: a.has('j') || a.doJSON, depth: map[int32]int{}, stderr: e.stderr}
	if p.json {
		p.enc = tracep.NewEncoder(jsonWriter{out})
	}

	if len(a.cmd) > 0 {
		code := runTracedCommand(e, "exec", a.cmd, []tracep.Kind{tracep.KindExec}, p.print)
		if err := out.close(); err != nil {
			fmt.Fprintf(e.stderr, "tracep exec: write output: %v\n", err)
		}
		return code
	}

	s, err := exectrace.Start(e.ctx, exectrace.Config{Scope: tracep.Scope{PIDs: pids}}, p.print)
	if err != nil {
		fmt.Fprintf(e.stderr, "tracep exec: %v\n", err)
		return exitError
	}
	backends.ReleaseLoadCaches()
	if !a.has('Q') {
		// Said once the probes are armed: from here on nothing is missed.
		fmt.Fprintf(e.stderr, "tracep exec: tracing %s; Ctrl-C to stop\n", describeScope(pids))
	}
	<-e.ctx.Done()
	code := exitOK
	if err := s.Close(); err != nil {
		fmt.Fprintf(e.stderr, "tracep exec: %v\n", err)
		code = exitError
	}
	if err := out.close(); err != nil {
		fmt.Fprintf(e.stderr, "tracep exec: write output: %v\n", err)
		code = exitError
	}
	return code
}

// jsonWriter adapts a sink to io.Writer for the JSON encoder.
type jsonWriter struct{ s *sink }

func (w jsonWriter) Write(b []byte) (int, error) { w.s.write(b); return len(b), nil }

// runTracedCommand runs argv under the harness with the given kinds,
// streaming events to print, and returns the command's exit status (128+n
// for a signal, as a shell does). It reports setup errors on stderr.
func runTracedCommand(e *env, verb string, argv []string, kinds []tracep.Kind, print func(tracep.Event)) int {
	return runTracedCommandCapture(e, verb, argv, kinds, print, nil)
}

// runTracedCommandCapture is runTracedCommand that also hands the whole
// capture to done, when the trace ran.
func runTracedCommandCapture(e *env, verb string, argv []string, kinds []tracep.Kind, print func(tracep.Event), done func(*harness.Capture)) int {
	path, err := exec.LookPath(argv[0])
	if err != nil {
		fmt.Fprintf(e.stderr, "tracep %s: %v\n", verb, err)
		return 127
	}
	cmd := exec.Command(path, argv[1:]...)
	cmd.Args[0] = argv[0]
	cmd.Stdin, cmd.Stdout, cmd.Stderr = e.stdin, e.stdout, e.stderr
	if f, ok := e.stdin.(*os.File); ok {
		cmd.Stdin = f
	}
	// SIGINT or SIGTERM cancels e.ctx: the harness then kills the command's
	// cgroup, drains the tracers and cleans up before we exit.
	c, err := harness.Run(e.ctx, cmd, harness.Kinds(kinds...), harness.OnEvent(print))
	if c == nil {
		fmt.Fprintf(e.stderr, "tracep %s: %v\n", verb, err)
		return exitError
	}
	if done != nil {
		done(c)
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		// The command ran: report what went wrong with the trace, but keep
		// its exit status.
		fmt.Fprintf(e.stderr, "tracep %s: %v\n", verb, err)
	}
	if st, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && st.Signaled() {
		return 128 + int(st.Signal())
	}
	return c.ExitCode
}

type execPrinter struct {
	out    *sink
	a      *clusterArgs
	json   bool
	enc    *tracep.Encoder
	stderr io.Writer
	depth  map[int32]int
	seq    uint64
}

func (p *execPrinter) print(ev tracep.Event) {
	if ev.Exec == nil {
		return
	}
	if p.json {
		p.seq++
		ev.Seq = p.seq
		if err := p.enc.Encode(ev); err != nil {
			fmt.Fprintf(p.stderr, "tracep exec: %v\n", err)
		}
		return
	}
	x := ev.Exec
	d := p.depthOf(ev)
	indent := ""
	if !p.a.has('f') {
		indent = strings.Repeat("  ", d)
	}
	pid := p.out.clr(cYellow, strconv.Itoa(int(ev.Proc.PID)))
	switch x.Op {
	case tracep.ExecOpExec:
		var b strings.Builder
		b.WriteString(indent + pid)
		if p.a.has('t') {
			b.WriteString(p.out.clr(cGreen, "+"))
		}
		if p.a.has('u') {
			b.WriteString(" " + p.user(ev.Proc.UID))
		}
		b.WriteString(" ")
		if p.a.has('d') {
			b.WriteString(p.out.clr(cMagenta, tracep.ShellQuote(readLink(ev.Proc.PID, "cwd"))) + p.out.clr(cDim, " % "))
		}
		argv := x.Argv
		if len(argv) == 0 {
			b.WriteString(p.out.clr(cDim, "["+tracep.Escape(ev.Proc.Comm)+"]"))
		} else {
			arg0 := argv[0]
			if p.a.has('l') {
				if exe := readLink(ev.Proc.PID, "exe"); exe != "" {
					arg0 = exe
				}
			}
			b.WriteString(p.out.clr(cBrCyan, tracep.ShellQuote(arg0)))
			if !p.a.has('q') {
				for _, arg := range argv[1:] {
					b.WriteString(" " + p.out.clr(cDim, tracep.ShellQuote(arg)))
				}
			}
		}
		if x.ArgvTruncated {
			b.WriteString(p.out.clr(cRed, " …[argv truncated]"))
		}
		if p.a.has('e') {
			if env := readEnviron(ev.Proc.PID); len(env) > 0 {
				b.WriteString("\n   " + p.out.clr(cDim, tracep.ShellJoin(env)))
			}
		}
		p.out.line("%s", b.String())
	case tracep.ExecOpFail:
		if p.a.has('t') {
			p.out.line("%s%s%s %s %s", indent, pid, p.out.clr(cRed, "!"), tracep.ShellQuote(x.Filename), p.out.clr(cRed, x.Errno))
		}
	case tracep.ExecOpExit:
		if p.a.has('t') {
			status := p.out.clr(cGreen, "status=0")
			switch {
			case x.Signal != "":
				status = p.out.clr(cBrRed, "signal="+x.Signal)
			case x.ExitCode != 0:
				status = p.out.clr(cRed, fmt.Sprintf("status=%d", x.ExitCode))
			}
			p.out.line("%s%s%s %s exited %s time=%.3fs", indent, pid, p.out.clr(cRed, "-"),
				p.out.clr(cDim, tracep.Escape(ev.Proc.Comm)), status, x.Duration.Seconds())
		}
		delete(p.depth, ev.Proc.PID)
	}
}

// depthOf returns the indentation depth of ev's process: one more than its
// parent's when the parent was seen, else 0.
func (p *execPrinter) depthOf(ev tracep.Event) int {
	if d, ok := p.depth[ev.Proc.PID]; ok {
		return d
	}
	d := 0
	if pd, ok := p.depth[ev.Proc.PPID]; ok {
		d = pd + 1
	}
	if ev.Exec.Op != tracep.ExecOpExit {
		p.depth[ev.Proc.PID] = d
	}
	return d
}

func (p *execPrinter) user(uid uint32) string {
	name := strconv.Itoa(int(uid))
	if u, err := user.LookupId(name); err == nil {
		name = u.Username
	}
	if uid == 0 {
		return p.out.clr(cBrRed, name)
	}
	return p.out.clr(cBrGreen, name)
}

func readLink(pid int32, what string) string {
	s, err := os.Readlink(filepath.Join("/proc", strconv.Itoa(int(pid)), what))
	if err != nil {
		return ""
	}
	return s
}

func readEnviron(pid int32) []string {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(int(pid)), "environ"))
	if err != nil {
		return nil
	}
	return strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
}

func describeScope(pids []int) string {
	if len(pids) == 0 {
		return "the whole system"
	}
	s := make([]string, len(pids))
	for i, p := range pids {
		s[i] = strconv.Itoa(p)
	}
	return "pid " + strings.Join(s, ",") + " and descendants"
}
