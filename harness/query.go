package harness

import (
	"fmt"
	"path"
	"slices"
	"strings"
	"testing"

	"github.com/tracep/tracep/tracep"
)

// Of returns the events of kind k, in order.
func (c *Capture) Of(k tracep.Kind) []tracep.Event {
	var out []tracep.Event
	for _, ev := range c.Events {
		if ev.Kind == k {
			out = append(out, ev)
		}
	}
	return out
}

// Execs returns the successful exec events, in order.
func (c *Capture) Execs() []tracep.Event {
	var out []tracep.Event
	for _, ev := range c.Of(tracep.KindExec) {
		if ev.Exec.Op == tracep.ExecOpExec {
			out = append(out, ev)
		}
	}
	return out
}

// Programs returns the path of every program executed, in order.
func (c *Capture) Programs() []string {
	var out []string
	for _, ev := range c.Execs() {
		out = append(out, ev.Exec.Filename)
	}
	return out
}

// matchProgram reports whether the exec event ran prog: a glob matched
// against the full path when it contains a slash, else against the base name.
func matchProgram(ev tracep.Event, prog string) bool {
	name := ev.Exec.Filename
	if !strings.Contains(prog, "/") {
		name = path.Base(name)
	}
	return Glob(prog, name)
}

// FindExecs returns the successful execs of prog (a glob: a full path if it
// contains a slash, a base name otherwise) whose argv, after argv[0],
// contains args in order (each a glob).
func (c *Capture) FindExecs(prog string, args ...string) []tracep.Event {
	var out []tracep.Event
	for _, ev := range c.Execs() {
		if matchProgram(ev, prog) && hasArgs(ev.Exec.Argv, args) {
			out = append(out, ev)
		}
	}
	return out
}

func hasArgs(argv, want []string) bool {
	if len(argv) > 0 {
		argv = argv[1:]
	}
	for _, w := range want {
		i := slices.IndexFunc(argv, func(a string) bool { return Glob(w, a) })
		if i < 0 {
			return false
		}
		argv = argv[i+1:]
	}
	return true
}

// RequireExec fails t unless prog was executed with args (see FindExecs),
// and returns the first such exec. The failure shows every exec that did
// happen.
func (c *Capture) RequireExec(t testing.TB, prog string, args ...string) tracep.Event {
	t.Helper()
	found := c.FindExecs(prog, args...)
	if len(found) == 0 {
		t.Fatalf("no exec of %s matched; the execs were:\n%s", describeWant(prog, args), c.ExecTree())
		return tracep.Event{}
	}
	return found[0]
}

// RequireNoExec fails t if prog was executed with args, showing the
// offending execs.
func (c *Capture) RequireNoExec(t testing.TB, prog string, args ...string) {
	t.Helper()
	if found := c.FindExecs(prog, args...); len(found) > 0 {
		t.Fatalf("unexpected exec of %s:\n%s\nall execs:\n%s", describeWant(prog, args), formatEvents(found), c.ExecTree())
	}
}

// RequireOnlyExecs fails t if any program other than progs (globs, as in
// FindExecs) was executed.
func (c *Capture) RequireOnlyExecs(t testing.TB, progs ...string) {
	t.Helper()
	var bad []tracep.Event
	for _, ev := range c.Execs() {
		if !slices.ContainsFunc(progs, func(p string) bool { return matchProgram(ev, p) }) {
			bad = append(bad, ev)
		}
	}
	if len(bad) > 0 {
		t.Fatalf("execs outside the allowed set %q:\n%s\nall execs:\n%s", progs, formatEvents(bad), c.ExecTree())
	}
}

func describeWant(prog string, args []string) string {
	if len(args) == 0 {
		return prog
	}
	return prog + " " + strings.Join(args, " ")
}

func formatEvents(evs []tracep.Event) string {
	var b strings.Builder
	for _, ev := range evs {
		fmt.Fprintf(&b, "  %s\n", Describe(ev))
	}
	return b.String()
}

// ExecTree renders the exec events as a process tree: each process under
// the one that forked it, with its argv shell-quoted and escaped.
func (c *Capture) ExecTree() string {
	evs := c.Of(tracep.KindExec)
	depth := map[int32]int{}
	var b strings.Builder
	for _, ev := range evs {
		d, known := depth[ev.Proc.PID]
		if !known {
			if pd, ok := depth[ev.Proc.PPID]; ok {
				d = pd + 1
			}
			depth[ev.Proc.PID] = d
		}
		fmt.Fprintf(&b, "%s%s\n", strings.Repeat("  ", d+1), Describe(ev))
	}
	if b.Len() == 0 {
		return "  (no exec events)\n"
	}
	return b.String()
}

// Describe renders one event on one line, with every string escaped so
// that it is safe on a terminal.
func Describe(ev tracep.Event) string {
	p := fmt.Sprintf("pid=%d ppid=%d %s", ev.Proc.PID, ev.Proc.PPID, tracep.Escape(ev.Proc.Comm))
	switch {
	case ev.Exec != nil:
		x := ev.Exec
		switch x.Op {
		case tracep.ExecOpExec:
			argv := tracep.ShellJoin(x.Argv)
			if x.ArgvTruncated {
				argv += " …(truncated)"
			}
			return fmt.Sprintf("%s exec %s: %s", p, tracep.Escape(x.Filename), argv)
		case tracep.ExecOpFail:
			return fmt.Sprintf("%s exec %s failed: %s", p, tracep.Escape(x.Filename), x.Errno)
		case tracep.ExecOpExit:
			if x.Signal != "" {
				return fmt.Sprintf("%s exit signal=%s", p, x.Signal)
			}
			return fmt.Sprintf("%s exit status=%d", p, x.ExitCode)
		}
	case ev.Net != nil:
		n := ev.Net
		return fmt.Sprintf("%s %s %s %s %s → %s %s", p, n.Op, n.Proto, n.Dir, n.Src, n.Dst, n.Errno)
	case ev.DNS != nil:
		d := ev.DNS
		var ans []string
		for _, a := range d.Answers {
			ans = append(ans, a.Type+" "+tracep.Escape(a.Data))
		}
		return fmt.Sprintf("%s dns %s %s %s [%s]", p, d.Type, tracep.Escape(d.Name), d.RCode, strings.Join(ans, ", "))
	case ev.TLS != nil:
		x := ev.TLS
		return fmt.Sprintf("%s tls %s %s sni=%s len=%d", p, x.Op, x.Library, tracep.Escape(x.SNI), x.Len)
	case ev.CA != nil:
		return fmt.Sprintf("ca %s:%d certs=%d verified=%t", tracep.Escape(ev.CA.Host), ev.CA.Port, len(ev.CA.Certs), ev.CA.Verified)
	}
	return p + " " + string(ev.Kind)
}
