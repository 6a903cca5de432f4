package testnet

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"sync"
	"time"
)

// PKI is a throwaway certificate authority: a root CA, an intermediate CA
// it signed, and leaf certificates the intermediate issues on demand. Keys
// are ECDSA P-256, so generating it takes about a millisecond.
//
// Leaves carry an AIA caIssuers URL pointing at the intermediate
// (IntermediateURL) and the intermediate one pointing at the root
// (RootURL), both served by a Net as DER over HTTP on PKIHost.
type PKI struct {
	root, intermediate       *x509.Certificate
	rootKey, intermediateKey *ecdsa.PrivateKey
	notAfter                 time.Time

	mu         sync.Mutex
	leaves     map[string]*tls.Certificate
	selfSigned map[string]*tls.Certificate
}

var defaultPKI = sync.OnceValues(newPKI)

// DefaultPKI returns the process-wide PKI, generating it on first use.
// Every Net of the process shares it.
func DefaultPKI() (*PKI, error) {
	return defaultPKI()
}

func newPKI() (*PKI, error) {
	// Back-date so clocks a little apart, and certificates issued just now,
	// are already valid.
	now := time.Now().Add(-time.Hour).Truncate(time.Second)
	p := &PKI{
		notAfter:   now.AddDate(2, 0, 0),
		leaves:     make(map[string]*tls.Certificate),
		selfSigned: make(map[string]*tls.Certificate),
	}
	var err error
	rootTmpl := &x509.Certificate{
		Subject:               pkix.Name{Organization: []string{"tracep testnet"}, CommonName: "tracep testnet Root CA"},
		NotBefore:             now,
		NotAfter:              now.AddDate(10, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	if p.root, p.rootKey, err = issue(rootTmpl, nil, nil); err != nil {
		return nil, fmt.Errorf("testnet: root ca: %w", err)
	}
	interTmpl := &x509.Certificate{
		Subject:               pkix.Name{Organization: []string{"tracep testnet"}, CommonName: "tracep testnet Intermediate CA"},
		NotBefore:             now,
		NotAfter:              now.AddDate(5, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
		IssuingCertificateURL: []string{RootURL},
	}
	if p.intermediate, p.intermediateKey, err = issue(interTmpl, p.root, p.rootKey); err != nil {
		return nil, fmt.Errorf("testnet: intermediate ca: %w", err)
	}
	return p, nil
}

// issue creates a key and a certificate from tmpl, signed by parent (or
// self-signed when parent is nil).
func issue(tmpl, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	tmpl.SerialNumber, err = rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, nil, err
	}
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		return nil, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, err
	}
	return cert, key, nil
}

// Root returns the root CA certificate. Do not modify it.
func (p *PKI) Root() *x509.Certificate { return p.root }

// Intermediate returns the intermediate CA certificate. Do not modify it.
func (p *PKI) Intermediate() *x509.Certificate { return p.intermediate }

// RootPEM returns the root CA certificate in PEM form: a trust bundle.
func (p *PKI) RootPEM() []byte { return pemCert(p.root) }

// IntermediatePEM returns the intermediate CA certificate in PEM form.
func (p *PKI) IntermediatePEM() []byte { return pemCert(p.intermediate) }

// RootPool returns a new pool holding only the root CA.
func (p *PKI) RootPool() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(p.root)
	return pool
}

// Leaf returns a server certificate for name issued by the intermediate,
// with the chain leaf, intermediate. Leaves are cached per name; do not
// modify the result.
func (p *PKI) Leaf(name string) (*tls.Certificate, error) {
	name = canonicalName(name)
	return p.cached(p.leaves, name, func() (*tls.Certificate, error) {
		leaf, key, err := issue(p.leafTemplate(name, []string{IntermediateURL}), p.intermediate, p.intermediateKey)
		if err != nil {
			return nil, err
		}
		return &tls.Certificate{
			Certificate: [][]byte{leaf.Raw, p.intermediate.Raw},
			PrivateKey:  key,
			Leaf:        leaf,
		}, nil
	})
}

// SelfSigned returns a self-signed server certificate for name, which no
// client trusts. Cached per name like Leaf.
func (p *PKI) SelfSigned(name string) (*tls.Certificate, error) {
	name = canonicalName(name)
	return p.cached(p.selfSigned, name, func() (*tls.Certificate, error) {
		leaf, key, err := issue(p.leafTemplate(name, nil), nil, nil)
		if err != nil {
			return nil, err
		}
		return &tls.Certificate{Certificate: [][]byte{leaf.Raw}, PrivateKey: key, Leaf: leaf}, nil
	})
}

func (p *PKI) cached(m map[string]*tls.Certificate, name string, create func() (*tls.Certificate, error)) (*tls.Certificate, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if c, ok := m[name]; ok {
		return c, nil
	}
	c, err := create()
	if err != nil {
		return nil, fmt.Errorf("testnet: certificate for %s: %w", name, err)
	}
	m[name] = c
	return c, nil
}

func (p *PKI) leafTemplate(name string, aia []string) *x509.Certificate {
	return &x509.Certificate{
		Subject:               pkix.Name{CommonName: name},
		DNSNames:              []string{name},
		NotBefore:             p.root.NotBefore,
		NotAfter:              p.notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IssuingCertificateURL: aia,
	}
}

func pemCert(c *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}
