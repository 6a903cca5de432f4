package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/tracep/tracep/cmd/tracep/internal/base"
	"github.com/tracep/tracep/testscripts"
)

const scriptHelp = `usage: tracep script [-update] [-run REGEXP] [-v] FILE.txtar|DIR...

Run testscript scripts (txtar files) with tracep's script commands and
conditions (trace, expect, only, events, policy, netexec, [root],
[trace:KIND]) besides testscript's own (exec, stdout, cmp, ...): the
toolkit for projects without Go code. A directory means its *.txtar and
*.txt files. tracep itself is on the scripts' PATH.

  -run REGEXP  run only the scripts whose name (file name without extension) matches
  -update      rewrite the golden sections (cmp against an archive file) with what was produced
  -v           print every script's log, not only a failing one's

Like go test: "--- PASS" or "--- FAIL" per script, the log of a failing one,
then "ok" or "FAIL"; the exit status is 0 when every script passed, 1 when
one failed, 2 for a usage error. Tracing needs root.
`

func runScript(e *env, args []string) int {
	var update, verbose bool
	var run string
	fs := base.NewFlags("tracep script")
	fs.Bool("update", &update, "")
	fs.Bool("v", &verbose, "")
	fs.String("run", "REGEXP", &run, "")
	paths, err := fs.Parse(args)
	if errors.Is(err, base.ErrHelp) {
		fmt.Fprint(e.stdout, scriptHelp)
		return base.ExitOK
	}
	var re *regexp.Regexp
	if err == nil {
		re, err = regexp.Compile(run)
	}
	var files []string
	if err == nil {
		files, err = scriptFiles(paths, re)
	}
	if err != nil {
		fmt.Fprintf(e.stderr, "tracep script: %v\n\n%s", err, scriptHelp)
		return base.ExitUsage
	}
	if err := onPath(); err != nil {
		fmt.Fprintf(e.stderr, "tracep script: %v\n", err)
		return base.ExitError
	}
	p := testscript.Params{Files: files, UpdateScripts: update}
	if err := testscripts.Setup(&p); err != nil {
		fmt.Fprintf(e.stderr, "tracep script: %v\n", err)
		return base.ExitError
	}
	r := &scriptRun{out: e.stdout, verbose: verbose}
	start := time.Now()
	r.run("", func(t testscript.T) { testscript.RunT(t, p) }, true)
	if r.failed {
		fmt.Fprintf(e.stdout, "FAIL\t%d script(s)\t%.3fs\n", len(files), time.Since(start).Seconds())
		return base.ExitError
	}
	fmt.Fprintf(e.stdout, "ok\t%d script(s)\t%.3fs\n", len(files), time.Since(start).Seconds())
	return base.ExitOK
}

// scriptFiles lists the scripts of paths whose name re matches.
func scriptFiles(paths []string, re *regexp.Regexp) ([]string, error) {
	if len(paths) == 0 {
		return nil, errors.New("no script or directory given")
	}
	var files []string
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		candidates := []string{p}
		if st.IsDir() {
			candidates = nil
			ents, err := os.ReadDir(p)
			if err != nil {
				return nil, err
			}
			for _, ent := range ents {
				if n := ent.Name(); !ent.IsDir() && (strings.HasSuffix(n, ".txtar") || strings.HasSuffix(n, ".txt")) {
					candidates = append(candidates, filepath.Join(p, n))
				}
			}
		}
		for _, f := range candidates {
			name := strings.TrimSuffix(filepath.Base(f), filepath.Ext(f))
			if re.MatchString(name) {
				files = append(files, f)
			}
		}
	}
	if len(files) == 0 {
		return nil, errors.New("no script matches")
	}
	return files, nil
}

// onPath puts this tracep first on PATH, for `exec tracep` in scripts.
func onPath() error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	return os.Setenv("PATH", filepath.Dir(self)+string(os.PathListSeparator)+os.Getenv("PATH"))
}

// scriptRun is testscript.T for scripts run outside go test: one at a
// time, each script's log kept and printed when it fails (or with -v).
type scriptRun struct {
	out     io.Writer
	verbose bool
	mu      sync.Mutex
	log     strings.Builder
	failed  bool
}

var (
	errScriptFailed  = errors.New("script failed")
	errScriptSkipped = errors.New("script skipped")
)

func (r *scriptRun) Skip(args ...any)  { r.Log(args...); panic(errScriptSkipped) }
func (r *scriptRun) Fatal(args ...any) { r.Log(args...); r.FailNow() }
func (r *scriptRun) FailNow()          { panic(errScriptFailed) }
func (r *scriptRun) Parallel()         {}
func (r *scriptRun) Verbose() bool     { return r.verbose }

func (r *scriptRun) Log(args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	msg := fmt.Sprint(args...)
	if !strings.HasSuffix(msg, "\n") {
		msg += "\n"
	}
	r.log.WriteString(msg)
}

// Run runs one script (testscript calls it once per file).
func (r *scriptRun) Run(name string, f func(testscript.T)) {
	sub := &scriptRun{out: r.out, verbose: r.verbose}
	start := time.Now()
	status := sub.run(name, f, false)
	fmt.Fprintf(r.out, "--- %s: %s (%.3fs)\n", status, name, time.Since(start).Seconds())
	if status == "FAIL" || r.verbose {
		for _, l := range strings.SplitAfter(strings.TrimSuffix(sub.log.String(), "\n"), "\n") {
			fmt.Fprintf(r.out, "    %s", strings.TrimSuffix(l, "\n")+"\n")
		}
	}
	if status == "FAIL" {
		r.failed = true
	}
}

// run calls f, turning its FailNow and Skip into a status.
func (r *scriptRun) run(_ string, f func(testscript.T), top bool) (status string) {
	defer func() {
		switch err := recover(); err {
		case nil:
			status = "PASS"
		case errScriptSkipped:
			status = "SKIP"
		case errScriptFailed:
			status, r.failed = "FAIL", true
		default:
			panic(err)
		}
		if top && r.log.Len() > 0 {
			fmt.Fprint(r.out, r.log.String())
		}
	}()
	f(r)
	return ""
}
