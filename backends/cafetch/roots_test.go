package cafetch

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tracep/tracep/backends/testnet"
)

func TestRawSubject(t *testing.T) {
	pki, err := testnet.DefaultPKI()
	require.NoError(t, err)
	leaf, err := pki.Leaf("example.test")
	require.NoError(t, err)
	for _, c := range []*x509.Certificate{pki.Root(), pki.Intermediate(), leaf.Leaf} {
		got, err := rawSubject(c.Raw, false)
		require.NoError(t, err)
		require.Equal(t, c.RawSubject, got)
		// From the start of the certificate only: as far as the
		// subject, or short of it.
		end := bytes.LastIndex(c.Raw, c.RawSubject) + len(c.RawSubject) // after the issuer, which may be the same
		got, err = rawSubject(c.Raw[:end], true)
		require.NoError(t, err)
		require.Equal(t, c.RawSubject, got)
		_, err = rawSubject(c.Raw[:end-1], true)
		require.ErrorIs(t, err, errShort)
		_, err = rawSubject(c.Raw[:end], false)
		require.Error(t, err, "the outer lengths are checked")
	}
	for _, bad := range [][]byte{nil, {0x30}, {0x30, 0x85, 1, 2, 3, 4, 5}, {0x30, 0x05, 0x30, 0x03}, {0x1f, 0x01, 0x00}} {
		_, err := rawSubject(bad, false)
		require.Error(t, err, "%x", bad)
	}
}

// The filtered pool verifies exactly as the full bundle does.
func TestSystemRootsFor(t *testing.T) {
	pki, err := testnet.DefaultPKI()
	require.NoError(t, err)
	other, err := pki.SelfSigned("unrelated.test")
	require.NoError(t, err)
	bundle := filepath.Join(t.TempDir(), "bundle.pem")
	data := append(append([]byte{}, pemOf(other.Leaf)...), pki.RootPEM()...)
	require.NoError(t, os.WriteFile(bundle, data, 0o644))
	t.Setenv("SSL_CERT_FILE", bundle)
	t.Setenv("SSL_CERT_DIR", filepath.Dir(bundle)) // the bundle's own directory is skipped

	leaf, err := pki.Leaf("example.test")
	require.NoError(t, err)
	chain := []*x509.Certificate{leaf.Leaf, pki.Intermediate()}
	pool, err := systemRootsFor(chain)
	require.NoError(t, err)
	require.Len(t, pool.Subjects(), 1, "only the root that can sign the chain")
	require.NoError(t, verify(chain, "example.test", nil))

	self, err := pki.SelfSigned("self-signed.test")
	require.NoError(t, err)
	require.Error(t, verify([]*x509.Certificate{self.Leaf}, "self-signed.test", nil))
}

func pemOf(c *x509.Certificate) []byte { return []byte(Describe(c, 0).PEM) }

// A certificate directory named by SSL_CERT_DIR adds its roots.
func TestSystemRootsDir(t *testing.T) {
	pki, err := testnet.DefaultPKI()
	require.NoError(t, err)
	bundleDir, certDir := t.TempDir(), t.TempDir()
	bundle := filepath.Join(bundleDir, "bundle.pem")
	require.NoError(t, os.WriteFile(bundle, []byte("no certificates here\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(certDir, "root.pem"), pki.RootPEM(), 0o644))
	require.NoError(t, os.Symlink("root.pem", filepath.Join(certDir, "abcd1234.0")))
	t.Setenv("SSL_CERT_FILE", bundle)
	t.Setenv("SSL_CERT_DIR", certDir)
	leaf, err := pki.Leaf("example.test")
	require.NoError(t, err)
	require.NoError(t, verify([]*x509.Certificate{leaf.Leaf, pki.Intermediate()}, "example.test", nil))

	t.Setenv("SSL_CERT_DIR", "")
	require.Error(t, verify([]*x509.Certificate{leaf.Leaf, pki.Intermediate()}, "example.test", nil))
}

// Every certificate of the system bundle is found by its subject, as
// pem.Decode and x509 would find it.
func TestAddMatchingSystemBundle(t *testing.T) {
	data, err := os.ReadFile(bundleFiles[0])
	if err != nil {
		t.Skipf("no system bundle: %v", err)
	}
	var certs []*x509.Certificate
	for rest := data; ; {
		var blk *pem.Block
		if blk, rest = pem.Decode(rest); blk == nil {
			break
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		require.NoError(t, err)
		certs = append(certs, c)
	}
	require.NotEmpty(t, certs)
	for _, c := range certs {
		pool := x509.NewCertPool()
		addMatching(pool, data, [][]byte{c.RawSubject})
		require.Contains(t, pool.Subjects(), c.RawSubject, "%s", c.Subject) //nolint:staticcheck // not a system pool
	}
	all := x509.NewCertPool()
	var subjects [][]byte
	for _, c := range certs {
		subjects = append(subjects, c.RawSubject)
	}
	addMatching(all, data, subjects)
	require.Len(t, all.Subjects(), len(certs)) //nolint:staticcheck // counting only
}
