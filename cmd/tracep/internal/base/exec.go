package base

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"

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
  -net      run CMD inside tracep's hermetic test network
  -o FILE   append output to FILE
  -p PIDS   trace these processes and all their descendants, running and
            future (comma-separated, repeatable)
  -q        print argv[0] only
  -Q        no start-up line, no warnings
  -t        also print failed execs and exits (status and run time); mark execs with +
  -u        print the owning user
` + commonHelp + `
-d, -e and -l read /proc when the event arrives and may be empty for a
process that has already exited; argv never is.
`

// commonHelp ends the help of every tracing command.
const commonHelp = `
With CMD, tracep runs it in a cgroup of its own, traced from its first
instruction, and exits with its exit status. The trace goes to standard
output (or -o FILE) and CMD's standard output to standard error, unless
-o is given: the two never mix. -net runs CMD inside tracep's
hermetic test network (a throwaway network namespace serving example.test
and friends over DNS, HTTP and HTTPS); -as USER runs it as that user (with
sudo: -as "$SUDO_USER"). When CMD exits, whatever it left running is
killed, and tracep says so; -wait D traces it for up to D more first.
Without -p or CMD the whole system is traced until interrupted; -p 0 adds
the events no process could be found for. Lost events are reported on
stderr (and, with -j, as "trace" records in the stream) as soon as known.
-web ADDR serves a live page of the trace on ADDR (:0 for a free port of
127.0.0.1; the address, with the token every request needs, is printed on
stderr) and keeps serving it after the trace until Ctrl-C.
`

// execCmd is tracep exec: the reference's layout.
type execCmd struct {
	t                                         *traceRun
	cwd, env, flat, exe, argv0, exits, owners bool
	depth                                     depthTracker
	users                                     userNames
	line                                      line // reused by print
}

func runExec(e *env, args []string) int { return runTrace(e, "exec", &execCmd{}, args) }

func (c *execCmd) help() string { return execHelp }

func (c *execCmd) declare(fs *FlagSet) {
	fs.Bool("d", &c.cwd, "print the working directory")
	fs.Bool("e", &c.env, "print the environment")
	fs.Bool("f", &c.flat, "flat output")
	fs.Bool("l", &c.exe, "print the executable's path")
	fs.Bool("q", &c.argv0, "argv[0] only")
	fs.Bool("t", &c.exits, "failed execs and exits too")
	fs.Bool("u", &c.owners, "print the user")
}

func (c *execCmd) prepare(t *traceRun) error {
	c.t = t
	t.kinds = []tracep.Kind{tracep.KindExec}
	return nil
}

func (c *execCmd) keep(ev tracep.Event) bool { return ev.Exec != nil }

// print writes ev's line; the trace calls it one event at a time.
func (c *execCmd) print(ev tracep.Event) {
	x, l := ev.Exec, &c.line
	d := c.depth.of(ev.Proc)
	if x.Op == tracep.ExecOpExit {
		c.depth.forget(ev.Proc.PID)
	}
	if x.Op != tracep.ExecOpExec && !c.exits {
		return
	}
	l.start(c.t.out)
	if !c.flat {
		for range d {
			l.b = append(l.b, "  "...)
		}
	}
	l.number(cYellow, int64(ev.Proc.PID), 0)
	switch x.Op {
	case tracep.ExecOpExec:
		if c.exits {
			l.text(cGreen, "+")
		}
		if c.owners {
			l.b = append(l.b, ' ')
			l.text(userColor(ev.Proc.UID), c.users.name(ev.Proc.UID))
		}
		l.b = append(l.b, ' ')
		if c.cwd {
			l.text(cMagenta, tracep.ShellQuote(readLink(ev.Proc.PID, "cwd")))
			l.text(cDim, " % ")
		}
		argv := x.Argv
		if len(argv) == 0 {
			l.text(cDim, "["+tracep.Escape(ev.Proc.Comm)+"]")
		} else {
			arg0 := argv[0]
			if c.exe {
				if exe := readLink(ev.Proc.PID, "exe"); exe != "" {
					arg0 = exe
				}
			}
			l.text(cBrCyan, tracep.ShellQuote(arg0))
			if !c.argv0 {
				for _, arg := range argv[1:] {
					l.b = append(l.b, ' ')
					l.text(cDim, tracep.ShellQuote(arg))
				}
			}
		}
		if x.ArgvTruncated {
			l.text(cRed, " …[argv truncated]")
		}
		if c.env {
			if env := readEnviron(ev.Proc.PID); len(env) > 0 {
				l.b = append(l.b, "\n   "...)
				l.text(cDim, tracep.ShellJoin(env))
			}
		}
	case tracep.ExecOpFail:
		l.text(cRed, "!")
		l.b = append(l.b, ' ')
		l.b = append(l.b, tracep.ShellQuote(x.Filename)...)
		l.b = append(l.b, ' ')
		l.text(cRed, x.Errno)
	case tracep.ExecOpExit:
		l.text(cRed, "-")
		l.b = append(l.b, ' ')
		l.text(cDim, tracep.Escape(ev.Proc.Comm))
		l.b = append(l.b, " exited "...)
		switch {
		case x.Signal != "":
			l.text(cBrRed, "signal="+x.Signal)
		case x.ExitCode != 0:
			l.text(cRed, "status="+strconv.Itoa(x.ExitCode))
		default:
			l.text(cGreen, "status=0")
		}
		l.b = append(l.b, " time="...)
		l.b = strconv.AppendFloat(l.b, x.Duration.Seconds(), 'f', 3, 64)
		l.b = append(l.b, 's')
	}
	l.writeTo(c.t.out)
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
