package base

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/tracep/tracep/cmd/tracep/web/webtest"
	"github.com/tracep/tracep/harness"
	"github.com/tracep/tracep/tracep"
	"github.com/tracep/tracep/tracep/tracetest"
)

// writeTrace writes evs as tracep -j does, to a file of the test.
func writeTrace(t testing.TB, evs []tracep.Event) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "trace.jsonl")
	f, err := os.Create(path)
	require.NoError(t, err)
	enc := tracep.NewEncoder(f)
	for _, ev := range evs {
		require.NoError(t, enc.Encode(ev))
	}
	require.NoError(t, f.Close())
	return path
}

// startView runs tracep view with args as the command line does and
// returns the page's URL once it is served, and stop, which interrupts the
// view as Ctrl-C does and waits for it to end; the test's end does too.
func startView(t testing.TB, args ...string) (url string, stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var errOut tracetest.Buffer
	done := make(chan int, 1)
	go func() {
		done <- Run(ctx, append([]string{"view"}, args...), strings.NewReader(""), io.Discard, &errOut)
	}()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if code := <-done; code != ExitOK {
				t.Errorf("tracep view exited %d: %s", code, errOut.String())
			}
		})
	}
	t.Cleanup(stop)
	line := errOut.WaitLine(t, "tracep view: ")
	url, err := webtest.URLIn(line)
	require.NoError(t, err)
	return url, stop
}

func TestViewUsage(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.jsonl")
	require.NoError(t, os.WriteFile(bad, []byte("{\"schema\":1,\"kind\":\"exec\"}\nnot json\n"), 0o644))
	good := writeTrace(t, webtest.Trace(100))
	tests := []struct {
		args   []string
		code   int
		stderr string
	}{
		{nil, ExitUsage, "want one trace file"},
		{[]string{good, good}, ExitUsage, "want one trace file"},
		{[]string{"-policy", filepath.Join(dir, "none"), good}, ExitUsage, "no such file"},
		{[]string{"-x", good}, ExitUsage, "unknown flag -x"},
		{[]string{filepath.Join(dir, "none.jsonl")}, ExitError, "no such file"},
		{[]string{bad}, ExitError, "bad.jsonl: line 2: "},
		{[]string{"-web", "nonsense", good}, ExitError, "web address"},
	}
	for _, tt := range tests {
		name := make([]string, len(tt.args))
		for i, a := range tt.args {
			name[i] = filepath.Base(a)
		}
		t.Run(strings.Join(name, " "), func(t *testing.T) {
			var stdout, stderr strings.Builder
			code := Run(tracetest.Context(t), append([]string{"view"}, tt.args...), strings.NewReader(""), &stdout, &stderr)
			require.Equal(t, tt.code, code, stderr.String())
			require.Contains(t, stderr.String(), tt.stderr)
		})
	}
	var stdout strings.Builder
	require.Equal(t, ExitOK, Run(tracetest.Context(t), []string{"view", "-h"}, nil, &stdout, io.Discard))
	require.Contains(t, stdout.String(), "usage: tracep view")
}

// tracep view serves the page and every event of the file, with the
// policy's violations, until interrupted.
func TestViewServesTheTrace(t *testing.T) {
	evs := webtest.Trace(500)
	policy := filepath.Join(t.TempDir(), "p.policy")
	require.NoError(t, os.WriteFile(policy, []byte("deny dns name=host-5.example.test\nallow dns name=*\n"), 0o644))
	url, _ := startView(t, "-policy", policy, writeTrace(t, evs))

	resp, err := http.Get(url)
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, string(body), `<script src="app.js"`)

	var events, violations int
	webtest.OpenStream(t, url).Until(t, func(event string, data []byte) bool {
		switch event {
		case "events":
			var batch []json.RawMessage
			require.NoError(t, json.Unmarshal(data, &batch))
			events += len(batch)
		case "verdict":
			violations = strings.Count(string(data), `"reason"`)
		}
		return events == len(evs) && violations > 0
	})
	pol, err := harness.ReadPolicyFile(policy)
	require.NoError(t, err)
	require.Equal(t, len(pol.Check(evs)), violations)
}

// viewEvents is the size of the trace of the browser test and benchmark.
const viewEvents = 100_000

// tracep view of a saved 100,000-event trace in a real browser: its first
// screen shows the first events and the process tree; then every event is
// there, the lost and cut ones said, the violations marked, and the list
// filters and scrolls to the end.
func TestViewInBrowser(t *testing.T) {
	b := webtest.Browser(t)
	evs := webtest.Trace(viewEvents)
	policy := filepath.Join(t.TempDir(), "p.policy")
	require.NoError(t, os.WriteFile(policy, []byte("deny exec prog=curl args=*host-7.example.test*\nallow exec prog=*\n"), 0o644))
	url, _ := startView(t, "-policy", policy, writeTrace(t, evs))

	webtest.Do(t, b, "open the page", chromedp.Navigate(url))
	webtest.Do(t, b, "first screen", chromedp.Poll[chromedp.Void](`window.tracepFirstScreen`, chromedp.WithPollingTimeout(0)))
	rows := webtest.Eval[[]string](t, b, `[...document.querySelectorAll('#list .row:not([hidden]) .c-x')].map(e => e.textContent)`)
	require.Greater(t, len(rows), 10)
	for i, r := range rows {
		require.Equal(t, evs[i].Text(), r)
	}
	webtest.Do(t, b, "load", chromedp.Poll[chromedp.Void](`window.tracepLoaded`, chromedp.WithPollingTimeout(0)))
	webtest.Screenshot(t, b, "view-100k")

	require.Equal(t, "100000 events", webtest.Eval[string](t, b, `document.getElementById('total').textContent`))
	require.Contains(t, webtest.Eval[string](t, b, `document.getElementById('loss').textContent`), "17 net events lost")
	incomplete := 0
	for _, ev := range evs {
		if ev.Payload().Incomplete() != "" {
			incomplete++
		}
	}
	require.Contains(t, webtest.Eval[string](t, b, `document.getElementById('incomplete').textContent`), " "+strconv.Itoa(incomplete)+" events not captured whole")
	pol, err := harness.ReadPolicyFile(policy)
	require.NoError(t, err)
	vs := pol.Check(evs)
	require.NotEmpty(t, vs)
	require.Equal(t, len(vs), webtest.Eval[int](t, b, `document.querySelectorAll('#verdict .v-item').length`))

	// The last event, at the end of the list.
	webtest.Eval[bool](t, b, `(l => (l.scrollTop = l.scrollHeight, true))(document.getElementById('list'))`)
	lastRow := `document.querySelector('#list .row[data-id="` + strconv.Itoa(viewEvents) + `"]:not([hidden]) .c-x')`
	webtest.Do(t, b, "scroll to the end", chromedp.Poll[chromedp.Void](lastRow))
	require.Equal(t, evs[len(evs)-1].Text(), webtest.Eval[string](t, b, lastRow+".textContent"))

	// A text filter shows what contains the text, as the page words it.
	q := "host-7.example.test"
	want := 0
	for _, ev := range evs {
		if strings.Contains(strings.ToLower(ev.Proc.String()+" "+ev.Text()+" "+ev.Payload().Incomplete()), q) {
			want++
		}
	}
	webtest.Do(t, b, "filter", chromedp.SendKeys("#q", q))
	webtest.Do(t, b, "filtered", chromedp.Poll[chromedp.Void](`document.getElementById('shown').textContent === '`+strconv.Itoa(want)+` shown'`))
	webtest.Screenshot(t, b, "view-filtered")
}

// BenchmarkViewFirstScreen measures tracep view of a saved 100,000-event
// trace in Chromium: how long the view takes to read the file and serve
// it (ms/view-start), and, from the page's navigation start, when its
// first screen is painted (ms/first-screen: the first events, the tree,
// the timeline) and when all the events are in (ms/all-loaded). The goal
// is a first screen under one second.
func BenchmarkViewFirstScreen(b *testing.B) {
	br := webtest.Browser(b)
	webtest.Do(b, br, "start", chromedp.Navigate("about:blank"))
	webtest.Quiet(b, br)
	file := writeTrace(b, webtest.Trace(viewEvents))
	var start, first, loaded float64
	for b.Loop() {
		t0 := time.Now()
		url, stop := startView(b, file)
		start += float64(time.Since(t0).Microseconds()) / 1000
		webtest.Do(b, br, "open the page", webtest.Open(url))
		first += webtest.Await[float64](b, br, `window.tracepFirstScreen`)
		loaded += webtest.Await[float64](b, br, `window.tracepLoaded`)
		webtest.Do(b, br, "leave the page", webtest.Open("about:blank"))
		stop()
	}
	n := float64(b.N)
	b.ReportMetric(start/n, "ms/view-start")
	b.ReportMetric(first/n, "ms/first-screen")
	b.ReportMetric(loaded/n, "ms/all-loaded")
}
