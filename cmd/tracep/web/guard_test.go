package web_test

import (
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tracep/tracep/cmd/tracep/web"
	"github.com/tracep/tracep/tracep/tracetest"
)

// startServer starts a server for one test.
func startServer(t testing.TB, cfg web.Config) *web.Server {
	t.Helper()
	s, err := web.Start(tracetest.Context(t), cfg)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	return s
}

// By default the server is on a free port of the loopback, and an
// address without a host stays there; its URL carries a fresh token of
// 128 bits.
func TestListensOnLoopback(t *testing.T) {
	for _, addr := range []string{"", ":0", "127.0.0.1:0"} {
		s := startServer(t, web.Config{Addr: addr})
		u, err := url.Parse(s.URL())
		require.NoError(t, err)
		require.Equal(t, "127.0.0.1", u.Hostname(), addr)
		require.NotEqual(t, "0", u.Port())
		require.Regexp(t, `^/[0-9a-f]{32}/$`, u.Path)
	}
	a, b := startServer(t, web.Config{}), startServer(t, web.Config{})
	require.NotEqual(t, path(t, a.URL()), path(t, b.URL()))
}

func path(t *testing.T, s string) string {
	u, err := url.Parse(s)
	require.NoError(t, err)
	return u.Path
}

// Requests without the token, for another host, from another origin or
// site, or with another method than GET and HEAD are refused; the page
// itself runs under a policy that allows nothing but the server.
func TestRefusesWhatIsNotThePage(t *testing.T) {
	s := startServer(t, web.Config{})
	page := s.URL()
	u, _ := url.Parse(page)
	base := "http://" + u.Host
	token := strings.Trim(u.Path, "/")
	tests := []struct {
		name   string
		method string
		url    string
		header map[string]string
		host   string
		want   int
	}{
		{name: "the page", url: page, want: http.StatusOK},
		{name: "its script", url: page + "app.js", want: http.StatusOK},
		{name: "its style", url: page + "app.css", want: http.StatusOK},
		{name: "navigated to from nowhere", url: page, header: map[string]string{"Sec-Fetch-Site": "none"}, want: http.StatusOK},
		{name: "its own script", url: page + "app.js", header: map[string]string{"Origin": base, "Sec-Fetch-Site": "same-origin"}, want: http.StatusOK},
		{name: "localhost", url: page, host: "localhost:" + u.Port(), want: http.StatusOK},

		{name: "no token", url: base + "/", want: http.StatusForbidden},
		{name: "no token, an asset", url: base + "/app.js", want: http.StatusForbidden},
		{name: "no token, the stream", url: base + "/events", want: http.StatusForbidden},
		{name: "token in the query", url: base + "/events?token=" + token, want: http.StatusForbidden},
		{name: "wrong token", url: base + "/" + strings.Repeat("0", 32) + "/", want: http.StatusForbidden},
		{name: "token prefix", url: base + "/" + token[:31] + "/", want: http.StatusForbidden},
		{name: "token with more", url: base + "/" + token + "0/", want: http.StatusForbidden},
		{name: "other host (DNS rebinding)", url: page, host: "evil.example:" + u.Port(), want: http.StatusForbidden},
		{name: "other port", url: page, host: "127.0.0.1:1", want: http.StatusForbidden},
		{name: "other origin", url: page + "events", header: map[string]string{"Origin": "http://evil.example"}, want: http.StatusForbidden},
		{name: "other port's origin", url: page + "events", header: map[string]string{"Origin": "http://127.0.0.1:1"}, want: http.StatusForbidden},
		{name: "opaque origin", url: page + "events", header: map[string]string{"Origin": "null"}, want: http.StatusForbidden},
		{name: "cross-site", url: page, header: map[string]string{"Sec-Fetch-Site": "cross-site"}, want: http.StatusForbidden},
		{name: "same-site, another origin", url: page + "events", header: map[string]string{"Sec-Fetch-Site": "same-site"}, want: http.StatusForbidden},
		{name: "POST", method: http.MethodPost, url: page, header: map[string]string{"Origin": base}, want: http.StatusMethodNotAllowed},
		{name: "POST without token", method: http.MethodPost, url: base + "/", want: http.StatusForbidden},
		{name: "nothing else served", url: page + "../etc/passwd", want: http.StatusNotFound},
		{name: "nothing else under the token", url: page + "index.html", want: http.StatusNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			method := tt.method
			if method == "" {
				method = http.MethodGet
			}
			req, err := http.NewRequestWithContext(tracetest.Context(t), method, tt.url, nil)
			require.NoError(t, err)
			for k, v := range tt.header {
				req.Header.Set(k, v)
			}
			if tt.host != "" {
				req.Host = tt.host
			}
			if strings.HasSuffix(tt.url, "/events") && tt.want == http.StatusOK {
				t.Fatal("a stream would not end")
			}
			resp, err := http.DefaultTransport.RoundTrip(req)
			require.NoError(t, err)
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			require.Equal(t, tt.want, resp.StatusCode, "%s %s: %s", method, tt.url, body)
			require.Contains(t, resp.Header.Get("Content-Security-Policy"), "default-src 'none'")
			require.Equal(t, "no-referrer", resp.Header.Get("Referrer-Policy"))
			if tt.want != http.StatusOK {
				require.NotContains(t, string(body), "<script", "a refusal serves nothing of the page")
			}
		})
	}
}

// An address with an explicit host listens there, and accepts that host.
func TestExplicitHost(t *testing.T) {
	s := startServer(t, web.Config{Addr: "localhost:0"})
	u, _ := url.Parse(s.URL())
	_, port, _ := net.SplitHostPort(u.Host)
	req, err := http.NewRequestWithContext(tracetest.Context(t), http.MethodGet, s.URL(), nil)
	require.NoError(t, err)
	req.Host = "localhost:" + port
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
}
