package cafetch_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tracep/tracep/backends/cafetch"
	"github.com/tracep/tracep/backends/testnet"
)

// BenchmarkFetch measures one fetch as `tracep ca` makes it against a
// server on loopback: dial, handshake, verification against the trust
// store (read for each fetch, as each tracep ca process reads it) and the
// chain's description. The trust store is the one SSL_CERT_FILE names (the
// system bundle with the test PKI's root added, as a user who trusts a
// private CA would make it), or the system's own, which does not hold the
// test root: that fetch is insecure, and still verifies the chain against
// every system root that could have signed it.
func BenchmarkFetch(b *testing.B) {
	pki, err := testnet.DefaultPKI()
	require.NoError(b, err)
	leaf, err := pki.Leaf("example.test")
	require.NoError(b, err)
	srv := startServer(b, leaf, pki)

	var system []byte
	for _, f := range []string{"/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt", "/etc/ssl/cert.pem"} {
		if system, err = os.ReadFile(f); err == nil {
			break
		}
	}
	bundle := filepath.Join(b.TempDir(), "bundle.pem")
	require.NoError(b, os.WriteFile(bundle, append(system, pki.RootPEM()...), 0o644))

	for _, tc := range []struct {
		name     string
		certFile string
		insecure bool
	}{
		{"SSL_CERT_FILE", bundle, false},
		{"system", "", true},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.Setenv("SSL_CERT_FILE", tc.certFile)
			b.Setenv("SSL_CERT_DIR", "")
			cfg := cafetch.Config{Host: "example.test", Dial: srv.dial, Insecure: tc.insecure, Timeout: 5 * time.Second}
			start := time.Now()
			for b.Loop() {
				res, err := cafetch.Fetch(context.Background(), cfg)
				require.NoError(b, err)
				require.Equal(b, !tc.insecure, res.Chain.Verified, res.Chain.VerifyError)
			}
			per := time.Since(start) / time.Duration(b.N)
			b.ReportMetric(float64(per.Microseconds())/1000, "ms/fetch")
			b.Logf("%s: %.2f ms per fetch (%d fetches)", tc.name, float64(per.Microseconds())/1000, b.N)
		})
	}
}
