package web_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tracep/tracep/cmd/tracep/web"
	"github.com/tracep/tracep/cmd/tracep/web/webtest"
	"github.com/tracep/tracep/harness"
	"github.com/tracep/tracep/tracep"
)

// wireEvent is an event as the page gets it.
type wireEvent struct {
	ID         uint64          `json:"id"`
	T          float64         `json:"t"`
	Proc       string          `json:"proc"`
	Text       string          `json:"text"`
	Incomplete string          `json:"inc"`
	Action     bool            `json:"act"`
	Ev         json.RawMessage `json:"ev"`
}

type status struct {
	Title      string   `json:"title"`
	Kinds      []string `json:"kinds"`
	Total      uint64   `json:"total"`
	Dropped    uint64   `json:"dropped"`
	Lost       []string `json:"lost"`
	Notes      []string `json:"notes"`
	Incomplete uint64   `json:"incomplete"`
	Done       bool     `json:"done"`
	Status     string   `json:"status"`
}

type wireProc struct {
	PID      int32      `json:"pid"`
	Proc     string     `json:"proc"`
	Argv     string     `json:"argv"`
	Exit     string     `json:"exit"`
	Exec     uint64     `json:"exec"`
	Children []wireProc `json:"children"`
}

type verdict struct {
	Violations []struct {
		ID     uint64 `json:"id"`
		Event  string `json:"event"`
		Reason string `json:"reason"`
		Rule   string `json:"rule"`
		Chain  string `json:"chain"`
	} `json:"violations"`
	Incomplete string `json:"incomplete"`
}

// page is what a page has read of the stream so far.
type page struct {
	status  status
	events  []wireEvent
	tree    []wireProc
	verdict *verdict
}

// read reads the stream into p until until holds.
func (p *page) read(t *testing.T, st *webtest.Stream, until func(*page) bool) {
	t.Helper()
	st.Until(t, func(event string, data []byte) bool {
		switch event {
		case "status":
			require.NoError(t, json.Unmarshal(data, &p.status))
		case "events":
			var batch []wireEvent
			require.NoError(t, json.Unmarshal(data, &batch))
			p.events = append(p.events, batch...)
		case "tree":
			var tr struct{ Roots []wireProc }
			require.NoError(t, json.Unmarshal(data, &tr))
			p.tree = tr.Roots
		case "verdict":
			p.verdict = &verdict{}
			require.NoError(t, json.Unmarshal(data, p.verdict))
		default:
			t.Fatalf("unknown message %q", event)
		}
		return until(p)
	})
}

func (p *page) has(n int) func(*page) bool {
	return func(p *page) bool { return len(p.events) >= n }
}

// Each event reaches the page as the JSON tracep -j writes, with its
// core text and process; the page gets what is published while it is
// open, and a reconnecting page what follows the last event it had.
func TestStreamSendsTheEventsInTheCoreWords(t *testing.T) {
	s := startServer(t, web.Config{Title: "sh -c x"})
	evs := webtest.Trace(400)
	for _, ev := range evs[:100] {
		s.Publish(ev)
	}
	var p page
	p.read(t, webtest.OpenStream(t, s.URL()), p.has(100))
	for _, ev := range evs[100:] { // live
		s.Publish(ev)
	}
	st := webtest.OpenStream(t, s.URL(), "Last-Event-ID", "350")
	var q page
	q.read(t, st, q.has(50))
	require.Equal(t, uint64(351), q.events[0].ID, "a reconnecting page gets what follows")

	st = webtest.OpenStream(t, s.URL())
	p = page{}
	p.read(t, st, func(p *page) bool { return len(p.events) >= 400 && p.status.Total == 400 && p.tree != nil })
	require.Len(t, p.events, 400)
	var enc strings.Builder
	e := tracep.NewEncoder(&enc)
	incomplete := 0
	for i, w := range p.events {
		ev := evs[i]
		require.Equal(t, uint64(i+1), w.ID)
		require.Equal(t, ev.Text(), w.Text)
		require.Equal(t, ev.Proc.String(), w.Proc)
		require.Equal(t, ev.Payload().Incomplete(), w.Incomplete)
		require.Equal(t, ev.IsAction(), w.Action)
		require.InDelta(t, float64(ev.Time.UnixNano())/1e6, w.T, 0.001)
		enc.Reset()
		require.NoError(t, e.Encode(ev))
		require.JSONEq(t, enc.String(), string(w.Ev), "the JSON of tracep -j")
		if w.Incomplete != "" {
			incomplete++
		}
	}
	require.NotZero(t, incomplete)
	require.Equal(t, "sh -c x", p.status.Title)
	require.Equal(t, uint64(incomplete), p.status.Incomplete)
	require.Equal(t, []string{"17 net events lost"}, p.status.Lost, "the trace's lost note, in the core's words")
	require.False(t, p.status.Done)

	s.Done("exit status 3")
	p.read(t, st, func(p *page) bool { return p.status.Done })
	require.Equal(t, "exit status 3", p.status.Status)
}

// The tree is the harness's process tree, in the core's words.
func TestStreamSendsTheHarnessTree(t *testing.T) {
	s := startServer(t, web.Config{})
	evs := webtest.Trace(2000)
	for _, ev := range evs {
		s.Publish(ev)
	}
	var want []string
	var walkHarness func(p *harness.Process, depth int)
	walkHarness = func(p *harness.Process, depth int) {
		exit := ""
		for _, ev := range p.Events {
			if ev.Exec != nil && ev.Exec.Op == tracep.ExecOpExit {
				exit = ev.Text()
			}
		}
		want = append(want, fmt.Sprintf("%*s%s %s %s", depth*2, "", p.Proc(), tracep.ShellJoin(p.Argv), exit))
		for _, c := range p.Children {
			walkHarness(c, depth+1)
		}
	}
	for _, p := range (&harness.Capture{Events: evs}).Processes() {
		walkHarness(p, 0)
	}
	var got []string
	var walk func(p wireProc, depth int)
	walk = func(p wireProc, depth int) {
		got = append(got, fmt.Sprintf("%*s%s %s %s", depth*2, "", p.Proc, p.Argv, p.Exit))
		if p.Exec != 0 {
			require.Contains(t, evs[p.Exec-1].Text(), "exec ", "the id of %s's exec", p.Proc)
			require.Equal(t, p.PID, evs[p.Exec-1].Proc.PID)
		}
		for _, c := range p.Children {
			walk(c, depth+1)
		}
	}
	var p page
	p.read(t, webtest.OpenStream(t, s.URL()), func(p *page) bool {
		got = nil
		for _, r := range p.tree {
			walk(r, 0)
		}
		return slices.Equal(got, want)
	})
	require.Greater(t, len(want), 40)
}

// A verdict marks the events of its violations, with the rule, the reason
// and the process chain, and says why the trace cannot prove a policy.
func TestStreamSendsTheVerdict(t *testing.T) {
	s := startServer(t, web.Config{})
	evs := webtest.Trace(1000)
	for _, ev := range evs {
		s.Publish(ev)
	}
	pol, err := harness.ParsePolicy(strings.NewReader("allow exec prog=sh\nallow exec prog=xargs\ndeny exec prog=curl args=*host-20*\nallow exec prog=curl\n"))
	require.NoError(t, err)
	capture := append([]tracep.Event(nil), evs...)
	harness.SortEvents(capture) // renumbered: the server finds them by what they are
	vs := pol.Check(capture)
	require.NotEmpty(t, vs)
	s.SetVerdict(vs, errors.New("trace incomplete: 17 net events lost"))
	var p page
	p.read(t, webtest.OpenStream(t, s.URL()), func(p *page) bool { return p.verdict != nil })
	require.Len(t, p.verdict.Violations, len(vs))
	for i, v := range p.verdict.Violations {
		require.NotZero(t, v.ID)
		require.Equal(t, vs[i].Event.Text(), evs[v.ID-1].Text())
		require.Equal(t, vs[i].Event.String(), v.Event)
		require.Equal(t, vs[i].Reason, v.Reason)
		require.Equal(t, vs[i].Rule.Text, v.Rule)
		require.Regexp(t, `^curl\[\d+\] ← xargs\[\d+\] ← sh\[1000\]$`, v.Chain)
		require.Contains(t, vs[i].String(), "process: "+v.Chain, "the chain as the CLI prints it")
	}
	require.Equal(t, "trace incomplete: 17 net events lost", p.verdict.Incomplete)
}

// Beyond its history bound the server drops the oldest events, and says
// how many.
func TestStreamSaysWhatWasDropped(t *testing.T) {
	s := startServer(t, web.Config{MaxHistory: 64 << 10})
	evs := webtest.Trace(2000)
	for _, ev := range evs {
		s.Publish(ev)
	}
	var p page
	p.read(t, webtest.OpenStream(t, s.URL()), func(p *page) bool {
		return p.status.Total == 2000 && len(p.events) > 0 && p.events[len(p.events)-1].ID == 2000
	})
	require.NotZero(t, p.status.Dropped)
	require.Equal(t, p.status.Dropped+1, p.events[0].ID, "the oldest kept comes first")
	require.Len(t, p.events, int(2000-p.status.Dropped))
}

// The process tree is of the events kept: the processes whose events were
// all dropped leave it.
func TestTreeIsOfTheEventsKept(t *testing.T) {
	s := startServer(t, web.Config{MaxHistory: 256 << 10})
	evs := webtest.Trace(3000)
	for _, ev := range evs {
		s.Publish(ev)
	}
	pids := func(tree []wireProc) []int32 {
		var out []int32
		var walk func(w wireProc)
		walk = func(w wireProc) {
			out = append(out, w.PID)
			for _, c := range w.Children {
				walk(c)
			}
		}
		for _, r := range tree {
			walk(r)
		}
		return out
	}
	var p page
	p.read(t, webtest.OpenStream(t, s.URL()), func(p *page) bool {
		if p.status.Total != 3000 || p.status.Dropped == 0 {
			return false
		}
		in := pids(p.tree)
		oldestKept := evs[p.status.Dropped].Proc.PID
		return slices.Contains(in, oldestKept) && !slices.Contains(in, 2001)
	})
}
