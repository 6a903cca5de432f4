package testscripts

import (
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/tracep/tracep/backends"
	"github.com/tracep/tracep/tracep"
	"github.com/tracep/tracep/tracep/tracetest"
)

// scriptCmd is one command that tracep adds to testscript. The table below
// is the single source of the commands, their usage and README.md.
type scriptCmd struct {
	name    string
	args    string
	summary string
	detail  string
	run     func(ts *testscript.TestScript, neg bool, args []string)
}

// scriptCond is one condition that tracep adds.
type scriptCond struct {
	name    string // without brackets; a trailing ":" marks a prefix condition
	summary string
	eval    func(suffix string) (bool, error)
}

func commands() []scriptCmd {
	return []scriptCmd{
		{
			name:    "netexec",
			args:    "program [args...]",
			summary: "run a program inside the script's hermetic network",
			detail: "Like exec, but the program runs in a network namespace of its own with an in-process fake internet " +
				"(see backends/testnet): DNS on 127.0.0.1:53, HTTP and HTTPS for example.test and the other default sites, " +
				"a private /etc/resolv.conf and a CA bundle that trusts the fake root. The network is made on first use " +
				"and torn down when the script ends. Its standard output and error become the script's stdout and stderr. " +
				"Needs root.",
			run: cmdNetexec,
		},
		{
			name:    "trace",
			args:    "[-kinds k,...] [-o file] [-net] [-wait d] [-allow-lost] program [args...]",
			summary: "run a program under trace and write its events to a file",
			detail: "Runs program (looked up in the script's PATH, in the script's directory and environment) in a cgroup " +
				"of its own with every tracer armed before its first instruction, as harness.Run does, and writes the " +
				"events as JSON lines to file (default events.jsonl). The program's output becomes the script's stdout " +
				"and stderr. -kinds narrows the tracers; -net runs the program inside the script's hermetic network. " +
				"What the program leaves running is killed when it exits (a trace record says which processes); " +
				"-wait d traces them for up to d first. Lost events fail the command unless -allow-lost is given; " +
				"they are then trace records in the file, and every later absence check (! expect, only, policy) " +
				"fails as unverifiable instead of passing. With !, the program must exit non-zero.",
			run: cmdTrace,
		},
		{
			name:    "expect",
			args:    "[-f file] [-count n] kind [key=glob...]",
			summary: "assert that traced events match",
			detail: "Passes when at least one event of kind (exactly n with -count) satisfies every key=glob (or " +
				"key!=glob) term; with !, when none does. Keys are the JSON field names of the event's payload and " +
				"process (filename, argv, errno, pid, comm...) plus, for exec, prog (base name of the program) and args " +
				"(the shell-quoted command line). * matches any run of characters, ? one. A failure lists the events " +
				"of that kind that did happen. A key the kind does not have, or a pattern its values can never match " +
				"(dst=10.0.0.0/33), is an error. ! expect fails when the trace lost events of the kind, or cut one " +
				"short where a match could hide: absence is only asserted of a complete trace. " +
				"Example: expect exec prog=uname; ! expect exec prog=curl.",
			run: cmdExpect,
		},
		{
			name:    "only",
			args:    "[-f file] kind 'key=glob ...' ['key=glob ...' ...]",
			summary: "assert that every event of a kind is allowed",
			detail: "Each argument after kind is one matcher (terms separated by spaces); every event of kind must " +
				"satisfy at least one of them. Only actions count (successful execs, opened flows, queries, TLS handshakes and writes; not exits, closes or reads), as in policies. A failure lists the events " +
				"outside the allowed set. Example: only exec prog=sh prog=uname.",
			run: cmdOnly,
		},
		{
			name:    "events",
			args:    "[-f file] [-normalize] [kind]",
			summary: "print traced events, one line each, to stdout",
			detail: "Prints each event (of kind, if given) as tracep.Event.String renders it (process, then the kind's text), for stdout assertions. " +
				"With -normalize it prints the stable golden form of harness.Normalize instead (processes as p1, p2 in " +
				"tree order, each process's lines cut at its execs with DNS queries and flows sorted and the DNS sockets " +
				"folded into their queries, so that parallel work prints the same every run; no pids, ports, times or ids; " +
				"$WORK for the script's directory and $TMPDIR with * for random temporary names), for a golden compare with " +
				"cmp stdout file.golden, which go test ./testscripts -update rewrites in the archive.",
			run: cmdEvents,
		},
		{
			name:    "policy",
			args:    "[-f file] policy-file",
			summary: "check the traced events against a policy",
			detail: "Passes when the events obey the policy (see harness.Policy: allow and deny rules with matchers, " +
				"first match wins, and require connect-from-dns / sni-from-dns); with !, when at least one event " +
				"violates it (the violations, each with its event, reason and process chain, then go to stdout). A clean " +
				"verdict needs a complete trace: events lost of a kind the policy looks at make it fail as unverifiable.",
			run: cmdPolicy,
		},
	}
}

func conditions() []scriptCond {
	return []scriptCond{
		{
			name:    "root",
			summary: "the script runs as root; with TRACEP_REQUIRE_PRIVILEGED=1 a false [root] fails the script instead",
			eval: func(string) (bool, error) {
				if os.Geteuid() == 0 {
					return true, nil
				}
				if tracetest.PrivilegeRequired() {
					return false, fmt.Errorf("%s=1 but not running as root", tracetest.RequirePrivilegedEnv)
				}
				return false, nil
			},
		},
		{
			name:    "trace:",
			summary: "this host can trace kind X (exec, net, dns, tls) here and now: root, and the kernel support the tracer needs",
			eval: func(kind string) (bool, error) {
				k, err := tracep.ParseKind(kind)
				if err != nil {
					return false, err
				}
				err = backends.Supported(k)
				if err != nil && tracetest.PrivilegeRequired() && (errors.Is(err, os.ErrPermission) || errors.Is(err, tracep.ErrNotSupported)) {
					return false, fmt.Errorf("[trace:%s]: %v, and %s=1", kind, err, tracetest.RequirePrivilegedEnv)
				}
				return err == nil, nil
			},
		},
	}
}

// README renders the reference of tracep's script commands and conditions,
// as testscripts/README.md has it.
func README() string {
	var b strings.Builder
	b.WriteString("<!-- Generated by `go test ./testscripts -run TestREADME -update`; do not edit. -->\n\n")
	b.WriteString("# tracep scripts\n\n")
	b.WriteString("The `*.txtar` files here are [testscript](https://pkg.go.dev/github.com/rogpeppe/go-internal/testscript) " +
		"scripts run by `go test ./testscripts`. Besides testscript's built-in commands and conditions " +
		"(`exec`, `stdout`, `cmp`, `[exec:prog]`, `[linux]`…) they can use the ones below. " +
		"`tracep` itself is on the script's PATH; run it with `exec tracep ...`.\n\n" +
		"Other projects get the same commands and conditions with `testscripts.Setup(&params)` " +
		"(package `github.com/tracep/tracep/testscripts`) in their own Go tests, or without Go code " +
		"with `tracep script FILE.txtar|DIR...`.\n\n")
	b.WriteString("## Commands\n\n")
	cmds := commands()
	sort.Slice(cmds, func(i, j int) bool { return cmds[i].name < cmds[j].name })
	for _, c := range cmds {
		fmt.Fprintf(&b, "### `%s %s`\n\n%s.\n\n%s\n\n", c.name, c.args, upperFirst(c.summary), c.detail)
	}
	b.WriteString("## Conditions\n\n| condition | true when |\n| --- | --- |\n")
	conds := conditions()
	sort.Slice(conds, func(i, j int) bool { return conds[i].name < conds[j].name })
	for _, c := range conds {
		name := c.name
		if strings.HasSuffix(name, ":") {
			name += "X"
		}
		fmt.Fprintf(&b, "| `[%s]` | %s |\n", name, c.summary)
	}
	return b.String()
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
