package cli

import (
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/css"
	"github.com/chromedp/cdproto/dom"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/profiler"
	"github.com/chromedp/chromedp"
	"github.com/tracep/tracep/cmd/tracep/web/webtest"
)

func TestTmpProgress(t *testing.T) {
	br := webtest.Browser(t)
	file := writeTrace(t, webtest.Trace(viewEvents))
	url, _ := startView(t, file)
	webtest.Do(t, br, "blank", chromedp.Navigate("about:blank"))
	chromedp.Call(br, network.Disable, cdp.Empty{})
	chromedp.Call(br, dom.Disable, cdp.Empty{})
	chromedp.Call(br, css.Disable, cdp.Empty{})
	chromedp.Call(br, cdplog.Disable, cdp.Empty{})
	if _, err := chromedp.Call(br, profiler.Enable, cdp.Empty{}); err != nil {
		t.Fatal(err)
	}
	chromedp.Call(br, profiler.Start, cdp.Empty{})
	webtest.Do(t, br, "open", chromedp.Navigate(url))
	t0 := time.Now()
	webtest.Do(t, br, "load", chromedp.Poll[chromedp.Void](`window.tracepLoaded`, chromedp.WithPollingTimeout(time.Minute)))
	t.Logf("loaded in %v", time.Since(t0))
	res, err := chromedp.Call(br, profiler.Stop, cdp.Empty{})
	if err != nil {
		t.Fatal(err)
	}
	self := map[string]int64{}
	for _, n := range res.Profile.Nodes {
		self[fmt.Sprintf("%s %s:%d", n.CallFrame.FunctionName, n.CallFrame.URL[max(0, len(n.CallFrame.URL)-10):], n.CallFrame.LineNumber+1)] += n.HitCount
	}
	type kv struct {
		k string
		v int64
	}
	var l []kv
	for k, v := range self {
		l = append(l, kv{k, v})
	}
	sort.Slice(l, func(i, j int) bool { return l[i].v > l[j].v })
	for _, x := range l[:25] {
		t.Logf("%6d %s", x.v, x.k)
	}
}
