package cafetch_test

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tracep/tracep/backends/cafetch"
	"github.com/tracep/tracep/backends/testnet"
	"github.com/tracep/tracep/tracep"
)

// server serves TLS with cert on loopback and, on a second listener, the
// PKI's certificates over HTTP as the fake internet's pki.test does. dial
// sends port 443 to the first and port 80 to the second, so the fetcher
// can use real names without any DNS.
type server struct {
	tlsAddr, httpAddr string
}

func startServer(t testing.TB, cert *tls.Certificate, pki *testnet.PKI) *server {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{*cert}})
	require.NoError(t, err)
	tlsSrv := &http.Server{Handler: http.NotFoundHandler()}
	go tlsSrv.Serve(ln)

	hl, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	mux := http.NewServeMux()
	mux.HandleFunc("/root.crt", func(w http.ResponseWriter, r *http.Request) { w.Write(pki.Root().Raw) })
	mux.HandleFunc("/intermediate.crt", func(w http.ResponseWriter, r *http.Request) { w.Write(pki.Intermediate().Raw) })
	mux.HandleFunc("/elsewhere.crt", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/root.crt", http.StatusFound)
	})
	httpSrv := &http.Server{Handler: mux}
	go httpSrv.Serve(hl)
	t.Cleanup(func() { tlsSrv.Close(); httpSrv.Close() })
	return &server{tlsAddr: ln.Addr().String(), httpAddr: hl.Addr().String()}
}

func (s *server) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	_, port, _ := net.SplitHostPort(addr)
	target := s.tlsAddr
	if port == "80" {
		target = s.httpAddr
	}
	var d net.Dialer
	return d.DialContext(ctx, network, target)
}

func TestFetchChain(t *testing.T) {
	pki, err := testnet.DefaultPKI()
	require.NoError(t, err)
	leaf, err := pki.Leaf("example.test")
	require.NoError(t, err)
	srv := startServer(t, leaf, pki)

	res, err := cafetch.Fetch(context.Background(), cafetch.Config{
		Host: "example.test", Roots: pki.RootPool(), Dial: srv.dial, FetchRoot: true, Timeout: 5 * time.Second,
	})
	require.NoError(t, err)
	require.NoError(t, res.AIAError)
	ch := res.Chain
	require.True(t, ch.Verified, ch.VerifyError)
	require.Len(t, ch.Certs, 3, "leaf, intermediate, and the root fetched over AIA")
	require.Equal(t, []string{"leaf", "intermediate CA", "root CA"}, []string{ch.Certs[0].Role, ch.Certs[1].Role, ch.Certs[2].Role})
	require.False(t, ch.Certs[1].Fetched)
	require.True(t, ch.Certs[2].Fetched)
	require.Equal(t, pki.Root().Raw, res.Certs[2].Raw)
	require.Equal(t, "CN=example.test", ch.Certs[0].Subject)
	require.Len(t, ch.Certs[0].SHA256, 64)
	require.Contains(t, ch.Certs[0].PEM, "-----BEGIN CERTIFICATE-----")
	require.Equal(t, []string{testnet.IntermediateURL}, ch.Certs[0].AIA)
}

func TestFetchVerification(t *testing.T) {
	pki, err := testnet.DefaultPKI()
	require.NoError(t, err)
	self, err := pki.SelfSigned("self-signed.test")
	require.NoError(t, err)
	srv := startServer(t, self, pki)
	cfg := cafetch.Config{Host: "self-signed.test", Roots: pki.RootPool(), Dial: srv.dial}

	_, err = cafetch.Fetch(context.Background(), cfg)
	require.ErrorIs(t, err, cafetch.ErrVerify)
	require.Contains(t, err.Error(), "self-signed.test")

	cfg.Insecure = true
	res, err := cafetch.Fetch(context.Background(), cfg)
	require.NoError(t, err)
	require.False(t, res.Chain.Verified)
	require.NotEmpty(t, res.Chain.VerifyError)
	require.Len(t, res.Chain.Certs, 1)

	// The name must match too: a good chain for another host fails.
	leaf, err := pki.Leaf("example.test")
	require.NoError(t, err)
	srv = startServer(t, leaf, pki)
	_, err = cafetch.Fetch(context.Background(), cafetch.Config{Host: "other.test", Roots: pki.RootPool(), Dial: srv.dial})
	require.ErrorIs(t, err, cafetch.ErrVerify)
}

func TestFetchRootAlreadyInChain(t *testing.T) {
	pki, err := testnet.DefaultPKI()
	require.NoError(t, err)
	leaf, err := pki.Leaf("example.test")
	require.NoError(t, err)
	full := *leaf
	full.Certificate = append(append([][]byte(nil), leaf.Certificate...), pki.Root().Raw)
	srv := startServer(t, &full, pki)
	res, err := cafetch.Fetch(context.Background(), cafetch.Config{Host: "example.test", Roots: pki.RootPool(), Dial: srv.dial, FetchRoot: true})
	require.NoError(t, err)
	require.NoError(t, res.AIAError)
	require.Len(t, res.Chain.Certs, 3, "no duplicate root")
}

func TestFetchTimeoutBoundsHandshake(t *testing.T) {
	// A server that accepts the connection but never speaks TLS: the
	// reference tool hangs here forever.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			accepted <- c
		}
	}()
	host, port, _ := net.SplitHostPort(ln.Addr().String())
	p, err := strconv.Atoi(port)
	require.NoError(t, err)
	start := time.Now()
	_, err = cafetch.Fetch(context.Background(), cafetch.Config{Host: host, Port: p, Timeout: 300 * time.Millisecond})
	require.Error(t, err)
	require.Less(t, time.Since(start), 5*time.Second)
	var ne net.Error
	require.ErrorAs(t, err, &ne)
	require.True(t, ne.Timeout(), "%v", err)
	(<-accepted).Close()
}

func TestFetchBadInput(t *testing.T) {
	for _, cfg := range []cafetch.Config{
		{},
		{Host: "example.test", Port: 70000},
		{Host: "example.test", Port: -1},
		{Host: "example.test", Timeout: -time.Second},
	} {
		_, err := cafetch.Fetch(context.Background(), cfg)
		require.ErrorIs(t, err, tracep.ErrInvalid, "%+v", cfg)
	}
}

func TestFetchRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().(*net.TCPAddr)
	ln.Close() // now nothing listens there
	_, err = cafetch.Fetch(context.Background(), cafetch.Config{Host: "127.0.0.1", Port: addr.Port, Timeout: 2 * time.Second})
	require.Error(t, err)
	require.Contains(t, err.Error(), "connection refused")
}

func TestParseCert(t *testing.T) {
	pki, err := testnet.DefaultPKI()
	require.NoError(t, err)
	c, err := cafetch.ParseCert(pki.Root().Raw)
	require.NoError(t, err)
	require.True(t, cafetch.IsSelfSigned(c))
	c, err = cafetch.ParseCert(append([]byte("junk\n"), pki.IntermediatePEM()...))
	require.NoError(t, err)
	require.Equal(t, "intermediate CA", cafetch.Role(c, 1))
	_, err = cafetch.ParseCert([]byte("not a certificate"))
	require.Error(t, err)
}
