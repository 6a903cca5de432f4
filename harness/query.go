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
		fail(t, "no exec of %s matched; the execs were:\n%s", describeWant(prog, args), c.ExecTree())
		return tracep.Event{}
	}
	return found[0]
}

// RequireNoExec fails t if prog was executed with args, showing the
// offending execs.
func (c *Capture) RequireNoExec(t testing.TB, prog string, args ...string) {
	t.Helper()
	if found := c.FindExecs(prog, args...); len(found) > 0 {
		fail(t, "unexpected exec of %s:\n%s\nall execs:\n%s", describeWant(prog, args), formatEvents(found), c.ExecTree())
		return
	}
	var hiding []tracep.Event // the program, with an argv cut short: the args may be in the cut part
	for _, ev := range c.Execs() {
		if len(args) > 0 && matchProgram(ev, prog) && ev.Exec.Incomplete() != "" {
			hiding = append(hiding, ev)
		}
	}
	c.requireComplete(t, "no exec of "+describeWant(prog, args), hiding, tracep.KindExec)
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
		fail(t, "execs outside the allowed set %q:\n%s\nall execs:\n%s", progs, formatEvents(bad), c.ExecTree())
		return
	}
	c.requireComplete(t, fmt.Sprintf("only the programs %q", progs), nil, tracep.KindExec)
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
		fmt.Fprintf(&b, "  %s\n", ev)
	}
	return b.String()
}

// ExecTree renders the exec events as a process tree: each process under
// the one that forked it, with its argv shell-quoted and escaped.
func (c *Capture) ExecTree() string {
	var b strings.Builder
	var walk func(ps []*Process, depth int)
	walk = func(ps []*Process, depth int) {
		for _, p := range ps {
			for _, ev := range p.Events {
				if ev.Kind == tracep.KindExec {
					fmt.Fprintf(&b, "%s%s\n", strings.Repeat("  ", depth+1), ev)
				}
			}
			walk(p.Children, depth+1)
		}
	}
	walk(newProcessTree(c.Of(tracep.KindExec)).roots, 0)
	if b.Len() == 0 {
		return "  (no exec events)\n"
	}
	return b.String()
}
