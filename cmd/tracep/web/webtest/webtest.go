// Package webtest helps tests of the web dashboard: a headless Chromium
// driven with chromedp, screenshots kept as test artifacts, and a large
// synthetic trace. Only tests import it, so the tracep binary does not
// link chromedp.
package webtest

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/css"
	"github.com/chromedp/cdproto/dom"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/tracep/tracep/harness"
	"github.com/tracep/tracep/tracep/tracetest"
)

// Browser starts a headless Chromium (Debian's, /usr/bin/chromium) with a
// fresh profile for one test and returns the context of one tab; the
// browser stops when the test ends. The test is skipped when Chromium is
// not installed (bash .ci/run installs it). Script errors of the page fail
// the test.
//
// The browser resolves no name and fetches nothing of its own: it only
// reaches the addresses a test opens.
func Browser(t testing.TB) context.Context {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		t.Skip("chromium not installed (Debian: apt-get install chromium)")
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1400, 900),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-features", "Translate,MediaRouter,OptimizationHints"),
		chromedp.Flag("metrics-recording-only", true),
		chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost"),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	var mu sync.Mutex
	var errs []string
	ctx, cancel := chromedp.NewContext(actx, chromedp.WithListener(func(ev any) {
		if e, ok := ev.(*runtime.EventExceptionThrown); ok {
			mu.Lock()
			d := e.ExceptionDetails
			msg := fmt.Sprintf("%s (%s:%d:%d)", d.Text, d.URL, d.LineNumber+1, d.ColumnNumber+1)
			if d.Exception != nil {
				msg += ": " + d.Exception.Description
			}
			errs = append(errs, msg)
			mu.Unlock()
		}
	}))
	if err := chromedp.Do(ctx); err != nil { // starts the browser
		cancel()
		cancelAlloc()
		t.Fatalf("start chromium: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
		mu.Lock()
		defer mu.Unlock()
		for _, e := range errs {
			t.Errorf("page script error: %s", e)
		}
	})
	return ctx
}

// ActionTimeout bounds each Do and Eval, besides the test's deadline.
const ActionTimeout = 2 * time.Minute

// bound derives from the tab's context one that ends with
// tracetest.Context(t) or after ActionTimeout.
func bound(t testing.TB, ctx context.Context) (context.Context, context.CancelFunc) {
	c, cancel := context.WithTimeout(ctx, ActionTimeout)
	stop := context.AfterFunc(tracetest.Context(t), cancel)
	return c, func() { stop(); cancel() }
}

// Do runs actions in the browser's tab, bounded (see ActionTimeout), and
// fails the test on an error.
func Do(t testing.TB, ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := bound(t, ctx)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// Eval evaluates a JavaScript expression in the tab and returns its value.
func Eval[T any](t testing.TB, ctx context.Context, expr string) T {
	t.Helper()
	ctx, cancel := bound(t, ctx)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// Await waits, in the page, until the JavaScript expression is truthy
// (checked at every animation frame) and returns its value. Unlike
// chromedp.Poll, it works in a Quiet tab.
func Await[T any](t testing.TB, ctx context.Context, expr string) T {
	t.Helper()
	ctx, cancel := bound(t, ctx)
	defer cancel()
	js := `new Promise(resolve => { const f = () => { const v = (` + expr + `); if (v) resolve(v); else requestAnimationFrame(f); }; f(); })`
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("await %s: %v", expr, err)
	}
	return v
}

// Open navigates the tab to url and waits for the page's load event. Unlike
// chromedp.Navigate, it works in a Quiet tab.
func Open(url string) chromedp.Action[chromedp.Void] {
	load := chromedp.WaitEvent(page.LoadEventFired, func(page.EventLoadEventFired) bool { return true },
		chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
			res, err := cdp.Call(ctx, t, page.Navigate, page.NavigateParams{URL: url})
			if err == nil && res.ErrorText != "" {
				err = fmt.Errorf("open %s: %s", url, res.ErrorText)
			}
			return err
		}))
	return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		_, err := load(ctx, t)
		return chromedp.Void{}, err
	}
}

// Screenshot writes a PNG of the tab's viewport as name.png in the test's
// artifact directory ([ArtifactDir]) and returns its path.
func Screenshot(t testing.TB, ctx context.Context, name string) string {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	path := filepath.Join(ArtifactDir(t), name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)
	return path
}

// ArtifactEnv names the environment variable of a directory under which
// tests keep their artifacts (screenshots), one directory per test.
const ArtifactEnv = "TEST_ARTIFACTS"

// ArtifactDir returns the directory for the test's artifacts:
// $TEST_ARTIFACTS/<test name> when that is set, else the test's own
// artifact directory (kept under -outputdir with go test -artifacts,
// removed after the test otherwise).
func ArtifactDir(t testing.TB) string {
	t.Helper()
	root := os.Getenv(ArtifactEnv)
	if root == "" {
		return t.ArtifactDir()
	}
	dir := filepath.Join(root, regexp.MustCompile(`[^A-Za-z0-9_.-]+`).ReplaceAllString(t.Name(), "_"))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// Quote makes s a JavaScript string literal.
func Quote(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`, "\n", `\n`, "\r", `\r`, "\u2028", `\u2028`, "\u2029", `\u2029`).Replace(s) + "'"
}

// URLIn finds the dashboard's URL in a command's output.
func URLIn(out string) (string, error) {
	m := regexp.MustCompile(`http://[^\s]+/[0-9a-f]{32}/`).FindString(out)
	if m == "" {
		return "", fmt.Errorf("no dashboard URL in %q", out)
	}
	return m, nil
}

// Stream reads a dashboard's event stream, as the page does.
type Stream struct {
	r    *bufio.Reader
	body io.Closer
}

// OpenStream opens the stream of the dashboard at url (Server.URL); it is
// closed when the test ends, and reading it fails once
// tracetest.Context(t) is done.
// Header gives request headers as key, value pairs (Last-Event-ID, as a
// reconnecting page sends it).
func OpenStream(t testing.TB, url string, header ...string) *Stream {
	t.Helper()
	req, err := http.NewRequestWithContext(tracetest.Context(t), http.MethodGet, url+"events", nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		t.Fatalf("GET %sevents: %s", url, resp.Status)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return &Stream{r: bufio.NewReader(resp.Body), body: resp.Body}
}

// Next returns the next message of the stream: its event name and data.
func (s *Stream) Next() (event string, data []byte, err error) {
	for {
		line, err := s.r.ReadString('\n')
		if err != nil {
			return "", nil, err
		}
		line = strings.TrimSuffix(line, "\n")
		switch {
		case line == "" && event != "":
			return event, data, nil
		case strings.HasPrefix(line, "event: "):
			event = line[len("event: "):]
		case strings.HasPrefix(line, "data: "):
			data = []byte(line[len("data: "):])
		}
	}
}

// Until reads messages until f, given each, returns true.
func (s *Stream) Until(t testing.TB, f func(event string, data []byte) bool) {
	t.Helper()
	for {
		ev, data, err := s.Next()
		if err != nil {
			t.Fatalf("read the stream: %v", err)
		}
		if f(ev, data) {
			return
		}
	}
}

// Quiet turns off what DevTools watches by default in the tab (network
// messages, DOM mutations, style sheets, the log), which copies every
// message of the stream and every change of the page to the test: for a
// benchmark, so that the page runs as it does for a user. Actions that
// query the DOM (Click, WaitVisible) need it on; Evaluate and Poll do not.
func Quiet(t testing.TB, ctx context.Context) {
	t.Helper()
	for _, c := range []cdp.Command[cdp.Empty, cdp.Empty]{network.Disable, dom.Disable, css.Disable, cdplog.Disable} {
		if _, err := chromedp.Call(ctx, c, cdp.Empty{}); err != nil {
			t.Fatalf("%s: %v", c.Method, err)
		}
	}
}

// TreeNames is what the page's process tree shows for the processes of c
// once every node is expanded: each process as the CLI names it, sorted,
// one per line. TreeNamesJS is the expression that reads it from the page.
func TreeNames(c *harness.Capture) string {
	var names []string
	var walk func(p *harness.Process)
	walk = func(p *harness.Process) {
		names = append(names, p.Proc().String())
		for _, ch := range p.Children {
			walk(ch)
		}
	}
	for _, p := range c.Processes() {
		walk(p)
	}
	slices.Sort(names)
	return strings.Join(names, "\n")
}

// TreeNamesJS reads the page's process tree as TreeNames renders a capture's.
const TreeNamesJS = `[...document.querySelectorAll('#tree .n-proc')].map(e => e.textContent).sort().join('\n')`
