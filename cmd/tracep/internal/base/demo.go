package base

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"

	"github.com/tracep/tracep/backends"
	"github.com/tracep/tracep/harness"
	"github.com/tracep/tracep/tracep"
)

const demoHelp = `usage: tracep demo [-j]

Run tracep's built-in demo: a throwaway network namespace serving a fake
internet (DNS, HTTP and HTTPS for example.test, with its own CA) and, inside
it, a small workload traced by every tracer the host supports, as tracep run
does, from its first instruction. Nothing leaves the namespace. Needs root.

  -j   print the events as JSON lines instead of the process tree
`

// demoScript is the built-in workload. $TRACEP is this binary.
const demoScript = `"$TRACEP" ca -fetch-root -o "$TMPDIR/example.test-ca.pem" example.test; uname -sr; getent hosts example.test; ` +
	`if command -v curl >/dev/null; then curl -sS https://example.test/; fi`

func runDemo(e *env, args []string) int {
	var asJSON bool
	fs := NewFlags("tracep demo")
	fs.Bool("j", &asJSON, "JSON lines")
	rest, err := fs.Parse(args)
	if errors.Is(err, ErrHelp) {
		fmt.Fprint(e.stdout, demoHelp)
		return ExitOK
	}
	if err == nil && len(rest) > 0 {
		err = fmt.Errorf("unexpected argument: %s", printable(rest[0]))
	}
	if err != nil {
		fmt.Fprintf(e.stderr, "tracep demo: %v\n\n%s", err, demoHelp)
		return ExitUsage
	}
	if extensions.NewNetwork == nil {
		return e.handOver("tracep demo")
	}
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintf(e.stderr, "tracep demo: %v\n", err)
		return ExitError
	}
	n, err := extensions.NewNetwork()
	if err != nil {
		fmt.Fprintf(e.stderr, "tracep demo: start the fake internet: %v\n", err)
		return ExitError
	}
	defer n.Close()

	out, _ := openSink("", e.stdout, false)
	p := &runCmd{}
	p.t = &traceRun{env: e, name: "demo", cmd: p, out: out, json: asJSON}
	p.t.enc = tracep.NewEncoder(jsonWriter{p.t})
	kinds, err := backends.SupportedKinds()
	if err != nil {
		kinds = backends.Kinds() // starting them says what is missing
	}
	var events strings.Builder
	cmd := exec.Command("/bin/sh", "-c", demoScript)
	tmp, err := os.MkdirTemp("", "tracep-demo-")
	if err != nil {
		fmt.Fprintf(e.stderr, "tracep demo: %v\n", err)
		return ExitError
	}
	defer os.RemoveAll(tmp)
	cmd.Env = append(os.Environ(), "TRACEP="+self, "TMPDIR="+tmp)
	cmd.Stdout, cmd.Stderr = &events, &events
	c, err := harness.Run(e.ctx, cmd, harness.InNet(n), harness.Kinds(kinds...), harness.OnEvent(p.t.output), harness.OnCaughtUp(out.flush))
	out.close() // the events first, then the rest
	if c == nil {
		fmt.Fprintf(e.stderr, "tracep demo: %v\n", err)
		return ExitError
	}
	if !asJSON {
		fmt.Fprintf(e.stdout, "\n== the workload's own output\n%s", events.String())
		fmt.Fprintf(e.stdout, "\n%d events (%s), armed in %v, %d lost; workload exit status %d\n",
			len(c.Events), kindList(kinds), c.Arm.Round(10_000), c.Lost, c.ExitCode)
	}
	if err != nil {
		fmt.Fprintf(e.stderr, "tracep demo: %v\n", err)
		return ExitError
	}
	return c.ExitCode
}

func kindList(ks []tracep.Kind) string {
	s := make([]string, len(ks))
	for i, k := range ks {
		s[i] = string(k)
	}
	return strings.Join(s, ", ")
}
