package main_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/tracep/tracep/cmd/tracep/web/webtest"
	"github.com/tracep/tracep/harness"
	"github.com/tracep/tracep/tracep"
	"github.com/tracep/tracep/tracep/tracetest"
)

// tracep run -web: a real browser opens the live page while a workload
// runs in the hermetic network, and sees, from the DOM, the process tree
// grow with the workload's processes, the DNS answer that a connection came
// from, the policy violation highlighted with its rule, and a loss forced by
// stopping the tracer during an exec storm. After the command the page stays
// until Ctrl-C. Screenshots of each state go to the artifact directory.
func TestIntegrationRunWebLivePage(t *testing.T) {
	tracetest.SkipUnlessRoot(t, "tracep run -web")
	b := webtest.Browser(t)
	dir := t.TempDir()
	armed, goOn, paused, storm, done := fifo(t, dir, "armed"), fifo(t, dir, "go"), fifo(t, dir, "paused"), fifo(t, dir, "storm"), fifo(t, dir, "done")
	policy := filepath.Join(dir, "no-curl.policy")
	require.NoError(t, os.WriteFile(policy, []byte("deny exec prog=curl\nallow exec prog=*\n"), 0o644))
	// Every program of the storm runs once before it, so that the TLS
	// tracer knows it and never holds it while tracep is stopped.
	script := `echo armed >` + armed + `; read x <` + goOn + `
getent hosts example.test
curl -sS https://example.test/ >/dev/null
long=$(head -c 30000 /dev/zero | tr '\0' a); /bin/true
echo paused >` + paused + `; read x <` + storm + `
i=0; while [ $i -lt 1000 ]; do /bin/true "$long"; i=$((i+1)); done
echo done >` + done
	trace := filepath.Join(dir, "trace.jsonl")
	cmd := exec.Command(tracepBin, "run", "-net", "-web", ":0", "-policy", policy, "-j", "-o", trace, "--", "sh", "-c", script)
	var stderr tracetest.Buffer
	cmd.Stderr = &stderr
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Signal(syscall.SIGCONT); _ = cmd.Process.Kill() })

	url, err := webtest.URLIn(stderr.WaitLine(t, "tracep run: live page at"))
	require.NoError(t, err)
	readFifo(t, armed)
	webtest.Do(t, b, "open the live page", webtest.Open(url),
		chromedp.Poll[chromedp.Void](`document.getElementById('state').textContent === 'live'`))
	require.NoError(t, os.WriteFile(goOn, []byte("go\n"), 0o600))

	readFifo(t, paused)
	// The processes so far are on the live page, as they come.
	for _, prog := range []string{"getent", "curl"} {
		webtest.Do(t, b, "live "+prog, chromedp.Poll[chromedp.Void](
			`[...document.querySelectorAll('#tree .n-proc')].some(e => e.textContent.startsWith('`+prog+`['))`))
	}
	webtest.Screenshot(t, b, "1-live")

	// Stopped, the tracer cannot drain its rings: the storm overflows them.
	require.NoError(t, cmd.Process.Signal(syscall.SIGSTOP))
	require.NoError(t, os.WriteFile(storm, []byte("go\n"), 0o600))
	readFifo(t, done)
	require.NoError(t, cmd.Process.Signal(syscall.SIGCONT))
	ended := stderr.WaitLine(t, "tracep run: trace ended")
	require.Contains(t, ended, "exit status 3", "the policy was violated:\n%s", stderr.String())

	f, err := os.Open(trace)
	require.NoError(t, err)
	evs, err := tracep.ReadAll(f)
	f.Close()
	require.NoError(t, err)
	// In time order, as the page and the harness have them (the CLI
	// writes them as each tracer delivers).
	harness.SortEvents(evs)
	c := &harness.Capture{Events: evs}

	// The process tree: the workload's processes, named as the CLI does.
	webtest.Do(t, b, "the end", chromedp.Poll[chromedp.Void](`document.getElementById('state').textContent === 'exit status 3'`))
	// The storm's 1,000 children are shown on demand.
	webtest.Do(t, b, "the process tree", chromedp.Poll[chromedp.Void](`document.querySelector('#tree .n-more')`),
		chromedp.Click("#tree .n-more"), chromedp.Poll[chromedp.Void](webtest.TreeNamesJS+` === `+webtest.Quote(webtest.TreeNames(c))))

	// The loss, prominently.
	webtest.Do(t, b, "the loss", chromedp.Poll[chromedp.Void](`!document.getElementById('loss').hidden`))
	require.Contains(t, webtest.Eval[string](t, b, `document.getElementById('loss').textContent`), "exec events lost")
	require.Regexp(t, `trace lost [0-9]+ exec events`, stderr.String())
	webtest.Screenshot(t, b, "2-loss")

	// A connection leads to the DNS answer that gave its address.
	var conn tracep.Event
	for _, ev := range evs {
		if ev.Net != nil && ev.Net.Op == tracep.NetOpConnect && ev.Net.Dst.Port() == 443 {
			conn = ev
		}
	}
	require.NotNil(t, conn.Net, "a connection to :443 in\n%s", tracetest.Lines(evs))
	answer, ok := c.AnswerFor(conn)
	require.True(t, ok, "an answer for %s", conn)
	webtest.Do(t, b, "filter the connection", chromedp.SendKeys("#q", conn.Text()),
		chromedp.Poll[chromedp.Void](`document.getElementById('shown').textContent === '1 shown'`),
		chromedp.Click(".row:not([hidden])"),
		chromedp.Poll[chromedp.Void](`document.querySelector('#detail .l-answer a')`))
	require.Equal(t, answer.String(), webtest.Eval[string](t, b, `document.querySelector('#detail .l-answer a').textContent`))
	webtest.Screenshot(t, b, "3-connection")

	// The violation: curl, denied by line 1, highlighted.
	webtest.Do(t, b, "the violation", chromedp.Poll[chromedp.Void](`document.querySelector('#verdict .v-item')`),
		chromedp.Click("#verdict .v-item"),
		chromedp.Poll[chromedp.Void](`document.querySelector('#list .row.viol.sel')`))
	verdict := webtest.Eval[string](t, b, `document.getElementById('verdict').textContent`)
	require.Contains(t, verdict, "denied by line 1: deny exec prog=curl")
	require.Regexp(t, `curl\[\d+\] ← sh\[\d+\]`, verdict)
	webtest.Screenshot(t, b, "4-violation")

	// The page stays until Ctrl-C; then tracep exits with the verdict.
	require.NoError(t, cmd.Process.Signal(syscall.SIGINT))
	require.Equal(t, 3, exitCode(cmd.Wait()), "%s", stderr.String())
}
