package testnet

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tracep/tracep/tracep"
)

func TestDefaultHandler(t *testing.T) {
	t.Parallel()
	p, err := DefaultPKI()
	require.NoError(t, err)
	h := DefaultHandler()
	serve := func(method, target, body string) *httptest.ResponseRecorder {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(method, target, strings.NewReader(body)))
		return w
	}

	w := serve("GET", "http://example.test/", "")
	require.Equal(t, http.StatusOK, w.Code)
	require.Equal(t, "hello from example.test\n", w.Body.String())

	w = serve("POST", "http://example.test:8080/echo", "ping")
	require.Equal(t, http.StatusOK, w.Code)
	require.Equal(t, "ping", w.Body.String())

	w = serve("GET", "http://example.test/bytes?n=100", "")
	require.Equal(t, http.StatusOK, w.Code)
	require.Equal(t, Bytes(100), w.Body.Bytes())
	require.Equal(t, "abcdefghijklmnopqrstuvwxyzab", string(Bytes(28)))

	for _, n := range []string{"-1", "x", "16777217"} {
		require.Equal(t, http.StatusBadRequest, serve("GET", "http://example.test/bytes?n="+n, "").Code, n)
	}
	require.Equal(t, http.StatusNotFound, serve("GET", "http://example.test/nope", "").Code)

	w = serve("GET", "http://pki.test/root.crt", "")
	require.Equal(t, p.Root().Raw, w.Body.Bytes())
	require.Equal(t, "application/pkix-cert", w.Header().Get("Content-Type"))
	require.Equal(t, p.Intermediate().Raw, serve("GET", "http://pki.test/intermediate.crt", "").Body.Bytes())
}

func TestSitesRouting(t *testing.T) {
	t.Parallel()
	p, err := DefaultPKI()
	require.NoError(t, err)
	custom := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "custom") })
	s, err := newSites(append(DefaultSites(), Site{Name: "custom.test", Handler: custom}), p)
	require.NoError(t, err)

	get := func(host string) string {
		w := httptest.NewRecorder()
		s.ServeHTTP(w, httptest.NewRequest("GET", "http://"+host+"/", nil))
		return w.Body.String()
	}
	require.Equal(t, "custom", get("Custom.Test"))
	require.Equal(t, "hello from www.example.test\n", get("www.example.test:80"))
	require.Equal(t, "hello from 192.0.2.10\n", get("192.0.2.10"), "unknown hosts get the default handler")
	require.Equal(t, "hello from ::1\n", get("[::1]"))

	_, err = newSites([]Site{{Name: "a.test"}, {Name: "A.test."}}, p)
	require.ErrorIs(t, err, tracep.ErrInvalid)
	_, err = newSites([]Site{{Name: "a.test/x"}}, p)
	require.ErrorIs(t, err, tracep.ErrInvalid)
}

// TestSitesTLS checks certificate selection by SNI on plain loopback.
func TestSitesTLS(t *testing.T) {
	t.Parallel()
	p, err := DefaultPKI()
	require.NoError(t, err)
	s, err := newSites(DefaultSites(), p)
	require.NoError(t, err)
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	require.NoError(t, err)
	srv := &http.Server{Handler: s}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(tls.NewListener(l, s.tlsConfig())) }()
	t.Cleanup(func() {
		require.NoError(t, srv.Close())
		require.ErrorIs(t, <-done, http.ErrServerClosed)
	})

	handshake := func(name string, cfg *tls.Config) (tls.ConnectionState, error) {
		cfg.ServerName = name
		c, err := tls.Dial("tcp4", l.Addr().String(), cfg)
		if err != nil {
			return tls.ConnectionState{}, err
		}
		defer c.Close()
		return c.ConnectionState(), nil
	}

	for _, name := range []string{"example.test", "www.example.test", "pki.test"} {
		st, err := handshake(name, &tls.Config{RootCAs: p.RootPool(), NextProtos: []string{"h2", "http/1.1"}})
		require.NoError(t, err, name)
		require.Len(t, st.PeerCertificates, 2, "leaf and intermediate")
		require.Equal(t, []string{name}, st.PeerCertificates[0].DNSNames)
		require.Equal(t, "http/1.1", st.NegotiatedProtocol, "never h2")
	}

	_, err = handshake("self-signed.test", &tls.Config{RootCAs: p.RootPool()})
	var unknown x509.UnknownAuthorityError
	require.ErrorAs(t, err, &unknown)

	// aia.test sends its leaf alone; with the intermediate it verifies.
	_, err = handshake("aia.test", &tls.Config{RootCAs: p.RootPool()})
	require.ErrorAs(t, err, &unknown)
	st, err := handshake("aia.test", &tls.Config{InsecureSkipVerify: true})
	require.NoError(t, err)
	require.Len(t, st.PeerCertificates, 1)
	require.Equal(t, []string{IntermediateURL}, st.PeerCertificates[0].IssuingCertificateURL)

	// Without SNI the first site answers.
	st, err = handshake("", &tls.Config{InsecureSkipVerify: true})
	require.NoError(t, err)
	require.Equal(t, []string{"example.test"}, st.PeerCertificates[0].DNSNames)

	// And the HTTP layer dispatches on Host.
	client := &http.Client{Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: p.RootPool(), ServerName: "www.example.test"},
	}}
	defer client.CloseIdleConnections()
	req, err := http.NewRequest("POST", "https://"+l.Addr().String()+"/echo", bytes.NewReader(Bytes(70000)))
	require.NoError(t, err)
	resp, err := client.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, Bytes(70000), body)
}
