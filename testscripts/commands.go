package testscripts

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/tracep/tracep/harness"
	"github.com/tracep/tracep/tracep"
)

const defaultEventsFile = "events.jsonl"

// cmdTrace runs a program under the harness, in-process, and writes its
// events as JSON lines.
func cmdTrace(ts *testscript.TestScript, neg bool, args []string) {
	fs := flag.NewFlagSet("trace", flag.ContinueOnError)
	kinds := fs.String("kinds", "", "comma-separated kinds to trace (default: all the host supports)")
	out := fs.String("o", defaultEventsFile, "file to write the events to")
	inNet := fs.Bool("net", false, "run inside the script's hermetic network")
	allowLost := fs.Bool("allow-lost", false, "accept a trace that lost events")
	var wait time.Duration
	fs.DurationVar(&wait, "wait", 0, "trace what the program leaves running for up to this long")
	fs.SetOutput(ts.Stderr())
	if err := fs.Parse(args); err != nil || fs.NArg() == 0 {
		ts.Fatalf("usage: trace [-kinds k,...] [-o file] [-net] [-wait d] [-allow-lost] program [args...]")
	}
	var opts []harness.Option
	if *kinds != "" {
		var ks []tracep.Kind
		for _, s := range strings.Split(*kinds, ",") {
			k, err := tracep.ParseKind(s)
			ts.Check(err)
			ks = append(ks, k)
		}
		opts = append(opts, harness.Kinds(ks...))
	}
	if *inNet {
		opts = append(opts, harness.InNet(scriptNet(ts)))
	}
	if wait > 0 {
		opts = append(opts, harness.WaitAll(wait))
	}
	cmd := scriptCommand(ts, fs.Arg(0), fs.Args()[1:]...)
	c, err := harness.Run(context.Background(), cmd, opts...)
	if err != nil && errors.Is(err, os.ErrPermission) {
		ts.Fatalf("trace: %v", err)
	}
	if c == nil {
		ts.Fatalf("trace: %v", err)
	}
	if err != nil && !(*allowLost && errors.Is(err, tracep.ErrLost)) {
		ts.Fatalf("trace: %v", err)
	}
	f, ferr := os.Create(ts.MkAbs(*out))
	ts.Check(ferr)
	enc := tracep.NewEncoder(f)
	for _, ev := range c.Events {
		ts.Check(enc.Encode(ev))
	}
	ts.Check(f.Close())
	ts.Logf("trace: %d events, exit status %d, armed in %v", len(c.Events), c.ExitCode, c.Arm)
	if neg != (c.ExitCode != 0) {
		if neg {
			ts.Fatalf("%s unexpectedly succeeded", fs.Arg(0))
		}
		ts.Fatalf("%s: exit status %d", fs.Arg(0), c.ExitCode)
	}
}

// cmdExpect asserts that events match (or, negated, that none do).
func cmdExpect(ts *testscript.TestScript, neg bool, args []string) {
	fs := flag.NewFlagSet("expect", flag.ContinueOnError)
	file := fs.String("f", defaultEventsFile, "events file")
	count := fs.Int("count", -1, "exact number of matching events")
	fs.SetOutput(ts.Stderr())
	if err := fs.Parse(args); err != nil || fs.NArg() == 0 {
		ts.Fatalf("usage: expect [-f file] [-count n] kind [key=glob...]")
	}
	m, err := harness.ParseMatcherArgs(fs.Args())
	ts.Check(err)
	evs := readEvents(ts, *file)
	found, incomplete := harness.Absent(evs, m)
	switch {
	case neg && *count >= 0:
		ts.Fatalf("expect: -count cannot be negated")
	case neg && len(found) > 0:
		ts.Fatalf("expect: %d event(s) match %q:\n%s", len(found), m, describeAll(found))
	case neg && incomplete != nil:
		ts.Fatalf("expect: no event matches %q, but that cannot be verified: %v", m, incomplete)
	case !neg && *count >= 0 && len(found) != *count:
		ts.Fatalf("expect: %d event(s) match %q, want %d:\n%s\nall %s events:\n%s", len(found), m, *count, describeAll(found), m.Kind, describeAll(ofKind(evs, m.Kind)))
	case !neg && *count < 0 && len(found) == 0:
		ts.Fatalf("expect: no event matches %q; the %s events were:\n%s", m, kindName(m.Kind), describeAll(ofKind(evs, m.Kind)))
	}
}

// cmdOnly asserts that every event of a kind matches one of the matchers.
func cmdOnly(ts *testscript.TestScript, neg bool, args []string) {
	fs := flag.NewFlagSet("only", flag.ContinueOnError)
	file := fs.String("f", defaultEventsFile, "events file")
	fs.SetOutput(ts.Stderr())
	if err := fs.Parse(args); err != nil || fs.NArg() < 2 {
		ts.Fatalf("usage: only [-f file] kind 'key=glob ...' ['key=glob ...' ...]")
	}
	kind, err := tracep.ParseKind(fs.Arg(0))
	ts.Check(err)
	var ms []harness.Matcher
	for _, a := range fs.Args()[1:] {
		m, err := harness.ParseMatcher(a)
		ts.Check(err)
		m.Kind = kind
		ms = append(ms, m)
	}
	evs := readEvents(ts, *file)
	bad := harness.Unmatched(evs, ms...)
	switch {
	case neg && len(bad) == 0:
		ts.Fatalf("only: every %s event is allowed", kind)
	case !neg && len(bad) > 0:
		ts.Fatalf("only: %d %s event(s) outside the allowed set:\n%s", len(bad), kind, describeAll(bad))
	case !neg:
		if gaps := harness.Gaps(evs, kind); len(gaps) > 0 {
			ts.Fatalf("only: cannot be verified: %v: %s", tracep.ErrIncomplete, strings.Join(gaps, "; "))
		}
	}
}

// cmdEvents prints events, one line each, for stdout assertions.
func cmdEvents(ts *testscript.TestScript, neg bool, args []string) {
	if neg {
		ts.Fatalf("unsupported: ! events")
	}
	fs := flag.NewFlagSet("events", flag.ContinueOnError)
	file := fs.String("f", defaultEventsFile, "events file")
	normalize := fs.Bool("normalize", false, "print the normalised golden form")
	fs.SetOutput(ts.Stderr())
	if err := fs.Parse(args); err != nil {
		ts.Fatalf("usage: events [-f file] [-normalize] [kind]")
	}
	evs := readEvents(ts, *file)
	if fs.NArg() > 0 {
		k, err := tracep.ParseKind(fs.Arg(0))
		ts.Check(err)
		evs = ofKind(evs, k)
	}
	if *normalize {
		fmt.Fprint(ts.Stdout(), harness.Normalize(evs, ts.Getenv("WORK"), "$WORK"))
		return
	}
	fmt.Fprint(ts.Stdout(), describeAll(evs))
}

// cmdPolicy checks the events against a policy file.
func cmdPolicy(ts *testscript.TestScript, neg bool, args []string) {
	fs := flag.NewFlagSet("policy", flag.ContinueOnError)
	file := fs.String("f", defaultEventsFile, "events file")
	fs.SetOutput(ts.Stderr())
	if err := fs.Parse(args); err != nil || fs.NArg() != 1 {
		ts.Fatalf("usage: policy [-f file] policy-file")
	}
	p, err := harness.ReadPolicyFile(ts.MkAbs(fs.Arg(0)))
	ts.Check(err)
	v := p.Judge(readEvents(ts, *file))
	switch {
	case neg && len(v.Violations) == 0:
		ts.Fatalf("policy: no violation of %s", fs.Arg(0))
	case neg:
		// As asserted: the violations are the command's output.
		fmt.Fprint(ts.Stdout(), describeViolations(v.Violations))
	case len(v.Violations) > 0:
		ts.Fatalf("policy: %d violation(s) of %s:\n%s", len(v.Violations), fs.Arg(0), describeViolations(v.Violations))
	case v.Incomplete != nil:
		ts.Fatalf("policy: %s cannot be verified: %v", fs.Arg(0), v.Incomplete)
	}
}

func describeViolations(vs []harness.Violation) string {
	var b strings.Builder
	for _, v := range vs {
		b.WriteString("  " + v.String() + "\n")
	}
	return b.String()
}

func readEvents(ts *testscript.TestScript, file string) []tracep.Event {
	f, err := os.Open(ts.MkAbs(file))
	ts.Check(err)
	defer f.Close()
	evs, err := tracep.ReadAll(f)
	ts.Check(err)
	return evs
}

func ofKind(evs []tracep.Event, k tracep.Kind) []tracep.Event {
	if k == "" {
		return evs
	}
	var out []tracep.Event
	for _, ev := range evs {
		if ev.Kind == k {
			out = append(out, ev)
		}
	}
	return out
}

func kindName(k tracep.Kind) string {
	if k == "" {
		return "traced"
	}
	return string(k)
}

func describeAll(evs []tracep.Event) string {
	if len(evs) == 0 {
		return "  (none)\n"
	}
	var b strings.Builder
	for _, ev := range evs {
		b.WriteString("  " + ev.String() + "\n")
	}
	return b.String()
}

// scriptCommand builds a command as testscript's exec would: looked up in
// the script's PATH, run in its working directory with its environment.
func scriptCommand(ts *testscript.TestScript, name string, args ...string) *exec.Cmd {
	path := name
	if !strings.Contains(name, "/") {
		var err error
		path, err = lookPath(ts.Getenv("PATH"), name)
		ts.Check(err)
	}
	cmd := exec.Command(path, args...)
	cmd.Args[0] = name
	cmd.Dir = ts.MkAbs(".")
	cmd.Env = scriptEnv(ts)
	cmd.Stdout = ts.Stdout()
	cmd.Stderr = ts.Stderr()
	return cmd
}

func lookPath(pathList, name string) (string, error) {
	for _, dir := range filepath.SplitList(pathList) {
		p := filepath.Join(dir, name)
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s: executable file not found in $PATH", name)
}

// scriptEnv is the script's environment: the variables testscript set up,
// with their current values.
func scriptEnv(ts *testscript.TestScript) []string {
	env := ts.Value(envKey{}).(*testscript.Env)
	seen := map[string]bool{}
	var out []string
	for _, kv := range env.Vars {
		k, _, _ := strings.Cut(kv, "=")
		if seen[k] {
			continue
		}
		seen[k] = true
		out = append(out, k+"="+ts.Getenv(k))
	}
	return out
}
