package cli

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/tracep/tracep/backends"
	"github.com/tracep/tracep/harness"
	"github.com/tracep/tracep/tracep"
)

const runUsageLine = "usage: tracep run [flags] [--] CMD [ARGS...]"

// runCommand traces a command with every tracer the host supports and
// prints one interleaved stream.
func runRun(e *env, args []string) int {
	fs := newFlagSet("tracep run", e.stderr)
	var (
		asJSON    = fs.Bool("j", false, "print JSON lines in the tracep event schema")
		out       = fs.String("o", "", "append the events to `FILE` instead of stdout")
		color     = fs.Bool("c", false, "force colour")
		kindsFlag = fs.String("kinds", "", "comma-separated `kinds` to trace (default: every kind this host can trace)")
		policy    = fs.String("policy", "", "check the trace against the policy in `FILE`; exit 3 on a violation")
		audit     = fs.String("audit", "", "write a suggested policy for what the command did to `FILE`")
		normalize = fs.Bool("normalize", false, "after the run, print the trace in the stable golden form instead of live events")
	)
	// Flags end at the command: everything from its name on is its own.
	fs.Usage = func() {}
	err := fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprintf(e.stdout, "%s\n\nRun a command under every tracer (exec, net, dns, tls as available) in a\ncgroup of its own, traced from its first instruction. Events stream as they\nhappen; the command's exit status is passed on, or 3 when -policy finds a\nviolation.\n\n", runUsageLine)
		printDefaults(fs, e.stdout)
		return exitOK
	}
	if err != nil {
		fmt.Fprintln(e.stderr, runUsageLine)
		printDefaults(fs, e.stderr)
		return exitUsage
	}
	argv := fs.Args()
	if len(argv) == 0 {
		fmt.Fprintf(e.stderr, "tracep run: no command given\n%s\n", runUsageLine)
		return exitUsage
	}
	var pol *harness.Policy
	if *policy != "" {
		if pol, err = harness.ReadPolicyFile(*policy); err != nil {
			fmt.Fprintf(e.stderr, "tracep run: %v\n", err)
			return exitUsage
		}
	}
	kinds, err := runKinds(*kindsFlag)
	if err != nil {
		fmt.Fprintf(e.stderr, "tracep run: %v\n", err)
		return exitUsage
	}
	sink, err := openSink(*out, e.stdout, *color)
	if err != nil {
		fmt.Fprintf(e.stderr, "tracep run: %v\n", err)
		return exitError
	}
	defer sink.close()

	p := newRunPrinter(sink, *asJSON)
	var events []tracep.Event
	print := func(ev tracep.Event) {
		if !*normalize {
			p.print(ev)
		}
	}
	code := runTracedCommandCapture(e, "run", argv, kinds, print, func(c *harness.Capture) { events = c.Events })
	if *normalize {
		sink.write([]byte(harness.Normalize(events)))
	}
	if *audit != "" {
		var b bytes.Buffer
		if err := harness.Audit(&b, events); err == nil {
			err = os.WriteFile(*audit, b.Bytes(), 0o644)
		}
		if err != nil {
			fmt.Fprintf(e.stderr, "tracep run: write audit: %v\n", err)
			return exitError
		}
	}
	if pol != nil {
		if vs := pol.Check(events); len(vs) > 0 {
			fmt.Fprintf(e.stderr, "tracep run: %d policy violation(s) of %s:\n", len(vs), *policy)
			for _, v := range vs {
				fmt.Fprintf(e.stderr, "  %s\n", v)
			}
			return exitPolicy
		}
	}
	return code
}

// runKinds parses -kinds, defaulting to every kind the host can trace now.
func runKinds(s string) ([]tracep.Kind, error) {
	if s == "" {
		var ks []tracep.Kind
		for _, k := range backends.Kinds() {
			if err := backends.Supported(k); err == nil {
				ks = append(ks, k)
			}
		}
		if len(ks) == 0 {
			return backends.Kinds(), nil // Start then says what is missing
		}
		return ks, nil
	}
	var ks []tracep.Kind
	for _, f := range strings.Split(s, ",") {
		k, err := tracep.ParseKind(strings.TrimSpace(f))
		if err != nil {
			return nil, err
		}
		ks = append(ks, k)
	}
	return ks, nil
}

// runPrinter prints events of every kind, indented by process depth and
// coloured by kind.
type runPrinter struct {
	out   *sink
	enc   *tracep.Encoder
	depth map[int32]int
	seq   uint64
}

func newRunPrinter(out *sink, asJSON bool) *runPrinter {
	p := &runPrinter{out: out, depth: map[int32]int{}}
	if asJSON {
		p.enc = tracep.NewEncoder(jsonWriter{out})
	}
	return p
}

var kindColor = map[tracep.Kind]int{
	tracep.KindExec: cBrCyan,
	tracep.KindNet:  cYellow,
	tracep.KindDNS:  cMagenta,
	tracep.KindTLS:  cGreen,
	tracep.KindCA:   cBlue,
}

func (p *runPrinter) print(ev tracep.Event) {
	p.seq++
	if p.enc != nil {
		ev.Seq = p.seq
		_ = p.enc.Encode(ev)
		return
	}
	d, ok := p.depth[ev.Proc.PID]
	if !ok {
		if pd, ok := p.depth[ev.Proc.PPID]; ok {
			d = pd + 1
		}
		p.depth[ev.Proc.PID] = d
	}
	kind := p.out.clr(kindColor[ev.Kind], fmt.Sprintf("%-4s", ev.Kind))
	pid := p.out.clr(cYellow, strconv.Itoa(int(ev.Proc.PID)))
	p.out.line("%s %s%s %s %s", kind, strings.Repeat("  ", d), pid, p.out.clr(cDim, tracep.Escape(ev.Proc.Comm)), runDetail(ev))
	if ev.Exec != nil && ev.Exec.Op == tracep.ExecOpExit {
		delete(p.depth, ev.Proc.PID)
	}
}

// runDetail is the kind-specific part of a line.
func runDetail(ev tracep.Event) string {
	switch {
	case ev.Exec != nil:
		x := ev.Exec
		switch x.Op {
		case tracep.ExecOpExec:
			return tracep.ShellJoin(x.Argv)
		case tracep.ExecOpFail:
			return fmt.Sprintf("exec %s failed: %s", tracep.ShellQuote(x.Filename), x.Errno)
		case tracep.ExecOpExit:
			if x.Signal != "" {
				return "exited, signal " + x.Signal
			}
			return fmt.Sprintf("exited %d", x.ExitCode)
		}
	case ev.Net != nil:
		n := ev.Net
		arrow := map[string]string{tracep.DirOut: "→", tracep.DirIn: "←"}[n.Dir]
		if arrow == "" {
			arrow = "↔"
		}
		s := fmt.Sprintf("%s %s %s %s %s", n.Op, strings.ToUpper(n.Proto), n.Src, arrow, n.Dst)
		if n.State != "" {
			s += " " + n.State
		}
		if n.Errno != "" {
			s += " " + n.Errno
		}
		return s
	case ev.DNS != nil:
		d := ev.DNS
		var ans []string
		for _, a := range d.Answers {
			ans = append(ans, tracep.Escape(a.Data))
		}
		rcode := d.RCode
		if !d.Answered {
			rcode = "no answer"
		}
		return fmt.Sprintf("%s %s → %s %s", d.Type, tracep.Escape(d.Name), rcode, strings.Join(ans, " "))
	case ev.TLS != nil:
		x := ev.TLS
		dir := map[string]string{tracep.TLSOpWrite: "TX", tracep.TLSOpRead: "RX"}[x.Op]
		if dir == "" {
			dir = x.Op
		}
		first, _, _ := strings.Cut(string(x.Data), "\n")
		if len(first) > 60 {
			first = first[:60] + "…"
		}
		return fmt.Sprintf("%s %s sni=%s %d bytes %s", dir, x.Library, tracep.Escape(x.SNI), x.Len, tracep.Escape(strings.TrimSpace(first)))
	}
	return string(ev.Kind)
}
