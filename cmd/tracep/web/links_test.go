package web_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tracep/tracep/cmd/tracep/web"
	"github.com/tracep/tracep/cmd/tracep/web/webtest"
	"github.com/tracep/tracep/harness"
	"github.com/tracep/tracep/tracep"
	"github.com/tracep/tracep/tracep/tracetest"
)

type eventRef struct {
	ID    uint64 `json:"id"`
	Event string `json:"event"`
	PID   int32  `json:"pid"`
	Proc  string `json:"proc"`
	Exec  uint64 `json:"exec"`
}

type links struct {
	ID         uint64     `json:"id"`
	Chain      []eventRef `json:"chain"`
	ChainText  string     `json:"chain_text"`
	Answer     *eventRef  `json:"answer"`
	Connection *eventRef  `json:"connection"`
	SNI        string     `json:"sni"`
}

// getLinks asks the server what event id leads to; code is the status.
func getLinks(t *testing.T, s *web.Server, id string) (links, int) {
	t.Helper()
	req, err := http.NewRequestWithContext(tracetest.Context(t), http.MethodGet, s.URL()+"links?id="+id, nil)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var l links
	if resp.StatusCode == http.StatusOK {
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&l))
	}
	return l, resp.StatusCode
}

// The links of every event are the harness's own queries over the same
// events: AnswerFor for a connection, ConnectionFor for TLS, and the
// process chain of the harness's tree.
func TestLinksAreTheHarnessQueries(t *testing.T) {
	s := startServer(t, web.Config{})
	evs := webtest.Trace(3000)
	for _, ev := range evs {
		s.Publish(ev)
	}
	c := &harness.Capture{Events: evs}
	byPID := map[int32]*harness.Process{}
	var index func(p *harness.Process)
	index = func(p *harness.Process) {
		byPID[p.PID] = p
		for _, ch := range p.Children {
			index(ch)
		}
	}
	for _, p := range c.Processes() {
		index(p)
	}
	answers, conns := 0, 0
	for i, ev := range evs {
		l, code := getLinks(t, s, fmt.Sprint(i+1))
		require.Equal(t, http.StatusOK, code)
		require.Equal(t, uint64(i+1), l.ID)
		if ev.Proc.PID != 0 {
			want := ev.Proc.String()
			for q := byPID[ev.Proc.PID].Parent; q != nil; q = q.Parent {
				want += " ← " + q.Proc().String()
			}
			require.Equal(t, want, l.ChainText, "chain of %s", ev)
			require.Len(t, l.Chain, strings.Count(want, " ← ")+1)
		}
		if a, ok := c.AnswerFor(ev); ok {
			require.NotNil(t, l.Answer, "answer of %s", ev)
			require.Equal(t, a.Seq, l.Answer.ID)
			require.Equal(t, a.String(), l.Answer.Event)
			require.Equal(t, a.Proc.String(), l.Answer.Proc)
			answers++
		} else {
			require.Nil(t, l.Answer, "%s", ev)
		}
		if conn, ok := c.ConnectionFor(ev); ok {
			require.NotNil(t, l.Connection, "connection of %s", ev)
			require.Equal(t, conn.Seq, l.Connection.ID)
			require.Equal(t, ev.TLS.SNI, l.SNI)
			conns++
		} else {
			require.Nil(t, l.Connection, "%s", ev)
		}
	}
	require.Greater(t, answers, 100)
	require.Greater(t, conns, 100)

	_, code := getLinks(t, s, "100000")
	require.Equal(t, http.StatusNotFound, code)
	_, code = getLinks(t, s, "x")
	require.Equal(t, http.StatusBadRequest, code)
}

// A TLS event without a server name gets the one of the handshake on its
// connection; an exec's chain leads to its parent's exec.
func TestLinksOfATLSReadWithoutSNI(t *testing.T) {
	s := startServer(t, web.Config{})
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	sh := tracep.Proc{PID: 10, PPID: 1, Comm: "sh"}
	py := tracep.Proc{PID: 11, PPID: 10, Comm: "python3"}
	src, dst := netip.MustParseAddrPort("192.0.2.1:40000"), netip.MustParseAddrPort("192.0.2.10:443")
	evs := []tracep.Event{
		{Kind: tracep.KindExec, Proc: sh, Exec: &tracep.Exec{Op: tracep.ExecOpExec, Filename: "/bin/sh", Argv: []string{"sh"}}},
		{Kind: tracep.KindExec, Proc: py, Exec: &tracep.Exec{Op: tracep.ExecOpExec, Filename: "/usr/bin/python3", Argv: []string{"python3", "x.py"}}},
		{Kind: tracep.KindNet, Proc: py, Net: &tracep.Net{Op: tracep.NetOpConnect, Proto: "tcp", Dir: tracep.DirOut, Src: src, Dst: dst}},
		{Kind: tracep.KindTLS, Proc: py, TLS: &tracep.TLS{Op: tracep.TLSOpHandshake, Library: "wire", SNI: "Example.TEST", Src: src, Dst: dst}},
		{Kind: tracep.KindTLS, Proc: py, TLS: &tracep.TLS{Op: tracep.TLSOpRead, Library: "openssl", Data: []byte("HTTP/1.1 200 OK"), Len: 15}},
	}
	for i := range evs {
		evs[i].KTime = uint64(i+1) * 1000
		evs[i].Time = t0.Add(time.Duration(i) * time.Millisecond)
		s.Publish(evs[i])
	}
	l, code := getLinks(t, s, "5")
	require.Equal(t, http.StatusOK, code)
	require.NotNil(t, l.Connection)
	require.Equal(t, uint64(3), l.Connection.ID)
	require.Equal(t, "Example.TEST", l.SNI)
	require.Equal(t, "python3[11] ← sh[10]", l.ChainText)
	require.Equal(t, uint64(2), l.Chain[0].Exec)
	require.Equal(t, uint64(1), l.Chain[1].Exec, "the parent's exec")
}
