package base

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/tracep/tracep/backends"
)

const doctorHelp = `usage: tracep doctor [-j]

Say what works on this host and why not: the kernel and its BTF, where the
cgroup v2 hierarchy is (or that tracep will mount its own), tracefs, the
kernel features tracep probes (with the fallback used for a missing one),
the capabilities held and missing, and for each tracer "works" or "does
not, because ..., to fix: ...". Each tracer is started for real, for
tracep's own process, and a cgroup is made and removed as running a
command would.

Exit status 0 when every tracer works, 1 otherwise.

  -j    one JSON object instead of text
`

// runDoctor is tracep doctor.
func runDoctor(e *env, args []string) int {
	var asJSON bool
	fs := NewFlags("tracep doctor")
	fs.Bool("j", &asJSON, "JSON")
	rest, err := fs.Parse(args)
	if errors.Is(err, ErrHelp) {
		fmt.Fprint(e.stdout, doctorHelp)
		return ExitOK
	}
	if err == nil && len(rest) > 0 {
		err = fmt.Errorf("unexpected argument %q", printable(rest[0]))
	}
	if err != nil {
		fmt.Fprintf(e.stderr, "tracep doctor: %v\n\n%s", err, doctorHelp)
		return ExitUsage
	}
	d := backends.Diagnose(e.ctx)
	if asJSON {
		enc := json.NewEncoder(e.stdout)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(d); err != nil {
			fmt.Fprintf(e.stderr, "tracep doctor: %v\n", err)
			return ExitError
		}
	} else {
		printDiagnosis(e.stdout, d)
	}
	if !d.AllWork() {
		return ExitError
	}
	return ExitOK
}

// printDiagnosis writes d for people.
func printDiagnosis(w io.Writer, d *backends.Diagnosis) {
	line := func(label, format string, args ...any) {
		fmt.Fprintf(w, "%-13s %s\n", label, fmt.Sprintf(format, args...))
	}
	line("kernel", "%s", d.Kernel)
	line("BTF", "%s", d.BTF)

	cg := d.Cgroup
	switch {
	case cg.Error != "":
		line("cgroup2", "none usable: %s", cg.Error)
	case cg.Private:
		what := "none visible"
		if len(cg.Visible) > 0 {
			what = "only read-only ones visible (" + strings.Join(cg.Visible, ", ") + ")"
		}
		line("cgroup2", "%s: tracep mounts its own (private: no other process sees it; gone when tracep exits)", what)
	case cg.ReadOnly:
		line("cgroup2", "%s (read-only)", cg.Path)
	default:
		line("cgroup2", "%s", cg.Path)
	}
	if cg.Error == "" {
		if cg.WholeSystem {
			line("", "net and dns hooks on the system's root cgroup: whole-system traces cover the system")
		} else {
			line("", "net and dns hooks on this cgroup namespace's root only: whole-system traces say what they cover")
		}
	}
	line("", "running commands: %s", cg.Commands)
	line("tracefs", "%s", d.Tracefs)
	if len(d.Namespaces) == 0 {
		line("namespaces", "the host's (initial) cgroup, pid and user namespaces")
	}
	for i, ns := range d.Namespaces {
		label := ""
		if i == 0 {
			label = "namespaces"
		}
		line(label, "%s", ns)
	}
	held, missing := "none", "none"
	if len(d.Capabilities.Held) > 0 {
		held = strings.Join(d.Capabilities.Held, ", ")
	}
	if len(d.Capabilities.Missing) > 0 {
		missing = strings.Join(d.Capabilities.Missing, ", ")
	}
	line("capabilities", "held: %s; missing: %s", held, missing)
	if d.Capabilities.UserNamespace {
		line("", "in a user namespace: its capabilities do not count for BPF")
	}

	fmt.Fprintln(w, "features")
	for _, f := range d.Features {
		state := "ok"
		switch {
		case f.Disabled:
			state = "disabled"
		case f.Error != "":
			state = "unknown"
		case !f.Available:
			state = "missing"
		}
		s := fmt.Sprintf("  %-8s %-22s %s (Linux %s)", state, f.Name, f.What, f.Since)
		switch {
		case f.Error != "":
			s += ": " + f.Error
		case !f.Available && f.Fallback != "":
			s += "; using " + f.Fallback + " instead"
		case !f.Available && len(f.Tracers) > 0:
			s += "; needed by " + andList(f.Tracers)
		case !f.Available:
			s += "; needed by every tracer"
		}
		fmt.Fprintln(w, s)
	}

	fmt.Fprintln(w, "tracers")
	for _, t := range d.Tracers {
		if t.Works {
			fmt.Fprintf(w, "  %-5s works (needs %s)\n", t.Kind, t.Caps)
			continue
		}
		s := fmt.Sprintf("  %-5s does not, because %s", t.Kind, t.Because)
		if t.Fix != "" {
			s += ", to fix: " + t.Fix
		}
		if t.Partly != "" {
			s += " (" + t.Partly + ")"
		}
		fmt.Fprintln(w, s)
	}
}

// andList joins kinds: "net and dns".
func andList[K ~string](ks []K) string {
	s := make([]string, len(ks))
	for i, k := range ks {
		s[i] = string(k)
	}
	out := strings.Join(s, ", ")
	if i := strings.LastIndex(out, ", "); i >= 0 {
		out = out[:i] + " and " + out[i+2:]
	}
	return out
}
