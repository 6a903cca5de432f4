package base

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/tracep/tracep/harness"
	"github.com/tracep/tracep/tracep"
)

const viewHelp = `usage: tracep view [-web ADDR] [-policy FILE] TRACE.jsonl

Serve a saved trace to a browser: the JSON lines that tracep -j and the
harness write. The page shows the process tree, the events with filters
(kind, process and its descendants, text, time), what each event leads to
(a connection's DNS answer and the process that asked, a TLS session's
connection and server name, a process's parent), lost and incomplete
events, a timeline, and with -policy the violations of a policy.

The page's address is printed on stderr; it carries a token that every
request needs. tracep view serves it until interrupted.

  -policy FILE  show the violations of the policy in FILE, and whether the
                trace is complete enough to show that it holds
  -web ADDR     listen on ADDR (default: a free port of 127.0.0.1; a missing
                host is 127.0.0.1, 0.0.0.0:PORT listens everywhere)
`

// runView is tracep view: a saved trace in the browser.
func runView(e *env, args []string) int {
	var addr, policyPath string
	fs := NewFlags("tracep view")
	fs.String("web", "ADDR", &addr, "listen address")
	fs.String("policy", "FILE", &policyPath, "policy to check")
	rest, err := fs.Parse(args)
	if errors.Is(err, ErrHelp) {
		fmt.Fprint(e.stdout, viewHelp)
		return ExitOK
	}
	if err == nil && len(rest) != 1 {
		err = errors.New("want one trace file")
	}
	var policy *harness.Policy
	if err == nil && policyPath != "" {
		policy, err = harness.ReadPolicyFile(policyPath)
	}
	if err != nil {
		fmt.Fprintf(e.stderr, "tracep view: %v\n\n%s", err, viewHelp)
		return ExitUsage
	}
	if extensions.StartWeb == nil {
		return e.handOver("tracep view")
	}
	evs, err := readTrace(rest[0])
	if err != nil {
		fmt.Fprintf(e.stderr, "tracep view: %v\n", err)
		return ExitError
	}
	srv, err := extensions.StartWeb(e.ctx, addr, filepath.Base(rest[0]))
	if err != nil {
		fmt.Fprintf(e.stderr, "tracep view: %v\n", err)
		return ExitError
	}
	for _, ev := range evs {
		srv.Publish(ev)
	}
	if policy != nil {
		v := policy.Judge(evs)
		srv.SetVerdict(v.Violations, v.Incomplete)
	}
	srv.Done("saved trace")
	fmt.Fprintf(e.stderr, "tracep view: %d events of %s at %s (Ctrl-C to stop)\n", len(evs), rest[0], srv.URL())
	<-e.ctx.Done()
	if err := srv.Close(); err != nil {
		fmt.Fprintf(e.stderr, "tracep view: %v\n", err)
		return ExitError
	}
	return ExitOK
}

// readTrace reads a trace file of JSON lines.
func readTrace(name string) ([]tracep.Event, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	evs, err := tracep.ReadAll(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return evs, nil
}
