package web_test

import (
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/tracep/tracep/backends"
	"github.com/tracep/tracep/backends/testnet"
	"github.com/tracep/tracep/cmd/tracep/web"
	"github.com/tracep/tracep/cmd/tracep/web/webtest"
	"github.com/tracep/tracep/harness"
	"github.com/tracep/tracep/tracep"
	"github.com/tracep/tracep/tracep/tracetest"
)

// The live page, in a real browser, of a workload traced in the hermetic
// network: the page is open before the workload starts and gets its events
// as they come. Its process tree has the workload's processes; a click on
// the connection shows the DNS answer it came from and the process that
// asked; a policy violation is highlighted with its rule and process chain;
// a loss shows. Each state is kept as a screenshot (TEST_ARTIFACTS, or go
// test -artifacts).
func TestIntegrationLivePage(t *testing.T) {
	tracetest.SkipUnlessRoot(t, "tracing a workload for the live page")
	b := webtest.Browser(t)
	ctx := tracetest.Context(t)
	script := "getent hosts example.test; curl -sS https://example.test/ >/dev/null"
	s := startServer(t, web.Config{Title: "sh -c " + tracep.ShellQuote(script)})
	webtest.Do(t, b, "open the page", chromedp.Navigate(s.URL()),
		chromedp.Poll[chromedp.Void](`document.getElementById('state').textContent === 'live'`))

	n, err := testnet.New(nil)
	require.NoError(t, err)
	defer n.Close()
	c, err := harness.Run(ctx, exec.Command("sh", "-c", script), harness.InNet(n), harness.OnEvent(s.Publish))
	tracetest.SkipIfUnprivileged(t, err)
	require.Equal(t, 0, c.ExitCode)

	// The process tree: every process of the trace, named as the harness does.
	want := webtest.TreeNames(c)
	require.Contains(t, want, "curl[")
	require.Contains(t, want, "getent[")
	webtest.Do(t, b, "the process tree", chromedp.Poll[chromedp.Void](webtest.TreeNamesJS+` === `+webtest.Quote(want)))
	total := `document.getElementById('total').textContent === '` + strconv.Itoa(len(c.Events)) + ` events'`
	webtest.Do(t, b, "every event", chromedp.Poll[chromedp.Void](total))
	webtest.Screenshot(t, b, "1-tree")

	// A connection leads to the DNS answer that gave its address, and to
	// the process that asked.
	var conn tracep.Event
	for _, ev := range c.Events {
		if ev.Net != nil && ev.Net.Op == tracep.NetOpConnect && ev.Net.Dst.Port() == 443 {
			conn = ev
		}
	}
	require.NotNil(t, conn.Net, "a connection to :443 in\n%s", tracetest.Lines(c.Events))
	answer, ok := c.AnswerFor(conn)
	require.True(t, ok, "an answer for %s", conn)
	webtest.Do(t, b, "filter the connection", chromedp.SendKeys("#q", conn.Text()),
		chromedp.Poll[chromedp.Void](`document.getElementById('shown').textContent === '1 shown'`),
		chromedp.Click(".row:not([hidden])"),
		chromedp.Poll[chromedp.Void](`document.querySelector('#detail .l-answer a')`))
	require.Equal(t, conn.String(), webtest.Eval[string](t, b, `document.querySelector('#detail .d-text').textContent`))
	require.Equal(t, answer.String(), webtest.Eval[string](t, b, `document.querySelector('#detail .l-answer a').textContent`))
	require.Equal(t, answer.Proc.String(), webtest.Eval[string](t, b, `document.querySelector('#detail .l-asker').textContent`))
	webtest.Screenshot(t, b, "2-connection")
	webtest.Do(t, b, "follow the answer", chromedp.Click("#detail .l-answer a"),
		chromedp.Poll[chromedp.Void](`document.querySelector('#detail .d-text').textContent === `+webtest.Quote(answer.String())))
	webtest.Screenshot(t, b, "3-answer")

	// A policy violation: highlighted in the list, the tree and the detail,
	// with the rule and the process chain.
	pol, err := harness.ParsePolicy(strings.NewReader("deny exec prog=curl\nallow exec prog=*\n"))
	require.NoError(t, err)
	vs := pol.Check(c.Events)
	require.Len(t, vs, 1)
	s.SetVerdict(vs, nil)
	webtest.Do(t, b, "the violation", chromedp.Poll[chromedp.Void](`document.querySelector('#verdict .v-item')`),
		chromedp.Click("#verdict .v-item"),
		chromedp.Poll[chromedp.Void](`document.querySelector('#list .row.viol.sel') && document.querySelector('#detail .d-viol')`))
	require.Equal(t, vs[0].Event.Text(), webtest.Eval[string](t, b, `document.querySelector('#list .row.viol.sel .c-x').textContent`))
	verdict := webtest.Eval[string](t, b, `document.getElementById('verdict').textContent`)
	require.Contains(t, verdict, "1 policy violation")
	require.Contains(t, verdict, "denied by line 1: deny exec prog=curl")
	chain := strings.TrimPrefix(vs[0].String()[strings.Index(vs[0].String(), "process: "):], "process: ")
	require.Regexp(t, `^curl\[\d+\] ← sh\[\d+\]$`, chain)
	require.Contains(t, verdict, "process: "+chain)
	require.Contains(t, webtest.Eval[string](t, b, `document.querySelector('#detail .d-viol').textContent`), chain)
	require.True(t, webtest.Eval[bool](t, b, `!!document.querySelector('#tree .node.viol')`))
	webtest.Screenshot(t, b, "4-violation")

	// A loss, as the trace reports one: a note in the stream.
	s.Publish(backends.NoteEvent(tracep.Note{Op: tracep.NoteLost, Of: tracep.KindNet, Count: 3, Total: 3}))
	webtest.Do(t, b, "the loss", chromedp.Poll[chromedp.Void](`!document.getElementById('loss').hidden`))
	require.Equal(t, "⚠ Events lost, this trace is incomplete: 3 net events lost", webtest.Eval[string](t, b, `document.getElementById('loss').textContent`))
	s.Done("exit status 0")
	webtest.Do(t, b, "the end", chromedp.Poll[chromedp.Void](`document.getElementById('state').textContent === 'exit status 0'`))
	webtest.Screenshot(t, b, "5-loss")
}
