package base

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/tracep/tracep/backends"
	"github.com/tracep/tracep/harness"
	"github.com/tracep/tracep/tracep"
)

const runHelp = `usage: tracep run [-cjQ] [-o FILE] [-kinds K,...] [-policy FILE] [-audit FILE] [-normalize] [-web ADDR] (-p PIDS | [-net] [--] CMD [ARGS...])

Run a command under every tracer (exec, net, dns, tls as the host allows) in
a cgroup of its own, traced from its first instruction, and print one
stream: each event under its process, indented by the process tree. Or,
with -p, trace running processes and their descendants until interrupted.

  -audit FILE   write a suggested policy for what was done to FILE
  -c            force colour (default: on when the output is a terminal and NO_COLOR is unset)
  -j            JSON lines in the tracep event schema
  -kinds K,...  the kinds to trace (default: every kind this host can trace)
  -net          run the command inside tracep's hermetic test network
  -normalize    after the trace, print it in the stable golden form instead of live events
  -o FILE       append output to FILE
  -p PIDS       trace these processes and all their descendants, running and
                future (comma-separated, repeatable); 0 adds the events of no known process
  -policy FILE  check the trace against the policy in FILE; exit 3 on a violation, 4 when incomplete
  -Q            no start-up line, no warnings
  -web ADDR     serve a live page of the trace on ADDR (:0 for a free port of 127.0.0.1)

The exit status is the command's, or 3 when -policy finds a violation (printed
on stderr), or 4 when the policy cannot be verified because the trace lost
events, or cut one short, where a violation could hide (never 0 then).
Without a command, it is 0, 1 on an error, 3 or 4.
` + commonHelp

// runCmd is tracep run: every tracer, one stream, policies.
type runCmd struct {
	t                 *traceRun
	kindList          []string
	policyPath, audit string
	normalize         bool
	policy            *harness.Policy
	judging           *harness.Judging
	auditor           harness.Auditor
	depth             depthTracker
	shown             int // violations on the page of -web
}

func runRun(e *env, args []string) int { return runTrace(e, "run", &runCmd{}, args) }

func (c *runCmd) help() string { return runHelp }

func (c *runCmd) declare(fs *FlagSet) {
	fs.List("kinds", "K,...", &c.kindList, "kinds to trace")
	fs.String("policy", "FILE", &c.policyPath, "policy to check")
	fs.String("audit", "FILE", &c.audit, "write a suggested policy")
	fs.Bool("normalize", &c.normalize, "print the golden form")
}

func (c *runCmd) prepare(t *traceRun) (err error) {
	c.t = t
	if len(t.argv) == 0 && len(t.pids) == 0 && !t.unowned {
		return errors.New("no command given (and no -p)")
	}
	if c.policyPath != "" {
		if c.policy, err = harness.ReadPolicyFile(c.policyPath); err != nil {
			return err
		}
	}
	if t.kinds, err = parseKinds(c.kindList); err != nil {
		return err
	}
	if len(t.kinds) == 0 {
		// Every kind the host can trace; when none, all, so that starting
		// them says what is missing.
		if t.kinds, _ = backends.SupportedKinds(); len(t.kinds) == 0 {
			t.kinds = backends.Kinds()
		}
	}
	if c.policy != nil {
		c.judging = c.policy.Judging()
	}
	// The verdict and the audit are made on the fly; only the golden form
	// needs every event.
	t.keepEvents = c.normalize
	t.silent = c.normalize
	return nil
}

// observe feeds the policy and the audit, which keep only what they need.
func (c *runCmd) observe(ev tracep.Event) {
	if c.judging != nil {
		c.judging.Add(ev)
		if n := c.judging.Violations(); n != c.shown && c.t.web != nil {
			c.shown = n
			c.t.web.SetVerdict(c.judging.Verdict().Violations, nil)
		}
	}
	if c.audit != "" {
		c.auditor.Add(ev)
	}
}

func (c *runCmd) keep(tracep.Event) bool { return true }

// kindColor colours each kind's lines.
var kindColor = map[tracep.Kind]int{
	tracep.KindExec: cBrCyan,
	tracep.KindNet:  cYellow,
	tracep.KindDNS:  cMagenta,
	tracep.KindTLS:  cGreen,
	tracep.KindCA:   cBlue,
}

// print writes the event under its process: indent, pid, comm, text.
func (c *runCmd) print(ev tracep.Event) {
	out := c.t.out
	d := c.depth.of(ev.Proc)
	if ev.Exec != nil && ev.Exec.Op == tracep.ExecOpExit {
		c.depth.forget(ev.Proc.PID)
	}
	out.line("%s%s %s %s", strings.Repeat("  ", d), out.clr(cYellow, strconv.Itoa(int(ev.Proc.PID))),
		out.clr(cDim, tracep.Escape(ev.Proc.Comm)), out.clr(kindColor[ev.Kind], ev.Text()))
}

// finish prints the golden form, writes the audit and checks the policy.
func (c *runCmd) finish(r *traceResult, code int) int {
	if c.normalize {
		c.t.out.write([]byte(harness.Normalize(r.events)))
	}
	if c.audit != "" {
		var b bytes.Buffer
		_, err := c.auditor.WriteTo(&b)
		if err == nil {
			err = WriteFile(c.audit, b.Bytes())
		}
		if err != nil {
			c.t.warnf("audit: %v", err)
			return ExitError
		}
	}
	if c.judging == nil {
		return code
	}
	v := c.judging.Verdict()
	if c.t.web != nil {
		c.t.web.SetVerdict(v.Violations, v.Incomplete)
	}
	if len(v.Violations) > 0 {
		var b strings.Builder
		fmt.Fprintf(&b, "tracep run: %d policy violation(s) of %s:\n", len(v.Violations), c.policyPath)
		for _, v := range v.Violations {
			fmt.Fprintf(&b, "  %s\n", v)
		}
		fmt.Fprint(c.t.stderr, b.String())
		return ExitPolicy
	}
	if v.Incomplete != nil {
		c.t.warnf("policy %s cannot be verified: %v", c.policyPath, v.Incomplete)
		return ExitIncomplete
	}
	return code
}
