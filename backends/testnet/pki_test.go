package testnet

import (
	"crypto/x509"
	"encoding/pem"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestPKIChain(t *testing.T) {
	t.Parallel()
	p, err := DefaultPKI()
	require.NoError(t, err)
	again, err := DefaultPKI()
	require.NoError(t, err)
	require.Same(t, p, again, "generated once per process")

	leaf, err := p.Leaf("Example.Test.")
	require.NoError(t, err)
	cached, err := p.Leaf("example.test")
	require.NoError(t, err)
	require.Same(t, leaf, cached)
	require.Len(t, leaf.Certificate, 2, "leaf, then intermediate")
	require.Equal(t, p.Intermediate().Raw, leaf.Certificate[1])

	// The chain verifies up to the root with only the root trusted.
	intermediates := x509.NewCertPool()
	intermediates.AddCert(p.Intermediate())
	chains, err := leaf.Leaf.Verify(x509.VerifyOptions{
		DNSName:       "example.test",
		Roots:         p.RootPool(),
		Intermediates: intermediates,
	})
	require.NoError(t, err)
	require.Len(t, chains, 1)
	require.Equal(t, []*x509.Certificate{leaf.Leaf, p.Intermediate(), p.Root()}, chains[0])

	// Without the intermediate it does not: clients must use AIA.
	_, err = leaf.Leaf.Verify(x509.VerifyOptions{DNSName: "example.test", Roots: p.RootPool()})
	require.Error(t, err)

	require.Equal(t, []string{IntermediateURL}, leaf.Leaf.IssuingCertificateURL)
	require.Equal(t, []string{RootURL}, p.Intermediate().IssuingCertificateURL)
	require.Equal(t, "http://pki.test/intermediate.crt", IntermediateURL)
	require.Equal(t, "http://pki.test/root.crt", RootURL)
	require.True(t, p.Root().IsCA)
	require.True(t, p.Intermediate().IsCA)
	require.False(t, leaf.Leaf.IsCA)
	require.Equal(t, x509.ECDSA, leaf.Leaf.PublicKeyAlgorithm)
	require.True(t, leaf.Leaf.NotBefore.Before(time.Now()))
}

func TestPKISelfSigned(t *testing.T) {
	t.Parallel()
	p, err := DefaultPKI()
	require.NoError(t, err)
	c, err := p.SelfSigned("self-signed.test")
	require.NoError(t, err)
	require.Len(t, c.Certificate, 1)
	require.Equal(t, c.Leaf.RawSubject, c.Leaf.RawIssuer)
	_, err = c.Leaf.Verify(x509.VerifyOptions{DNSName: "self-signed.test", Roots: p.RootPool()})
	var unknown x509.UnknownAuthorityError
	require.ErrorAs(t, err, &unknown)
}

func TestPKIPEM(t *testing.T) {
	t.Parallel()
	p, err := DefaultPKI()
	require.NoError(t, err)
	for _, tc := range []struct {
		pem  []byte
		cert *x509.Certificate
	}{{p.RootPEM(), p.Root()}, {p.IntermediatePEM(), p.Intermediate()}} {
		block, rest := pem.Decode(tc.pem)
		require.NotNil(t, block)
		require.Empty(t, rest)
		require.Equal(t, "CERTIFICATE", block.Type)
		require.Equal(t, tc.cert.Raw, block.Bytes)
	}
}

func BenchmarkPKI(b *testing.B) {
	for b.Loop() {
		p, err := newPKI()
		require.NoError(b, err)
		_, err = p.Leaf("example.test")
		require.NoError(b, err)
	}
}
