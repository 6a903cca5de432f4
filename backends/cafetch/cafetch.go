package cafetch

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/tracep/tracep/tracep"
)

// Errors returned by Fetch; each is wrapped with the detail.
var (
	// ErrVerify means the chain did not verify for the host and
	// Config.Insecure was not set.
	ErrVerify = errors.New("certificate verification failed")
	// ErrNoCertificates means the server completed a handshake without
	// sending a certificate.
	ErrNoCertificates = errors.New("server sent no certificates")
	// ErrAIA means the AIA fetch failed; Fetch still returns the chain.
	ErrAIA = errors.New("aia fetch failed")
)

// DefaultTimeout bounds a fetch when Config.Timeout is zero.
const DefaultTimeout = 10 * time.Second

// maxAIABody bounds an AIA response: a certificate is a few KiB.
const maxAIABody = 1 << 20

// Config says what to fetch. Host is required; everything else has a default.
type Config struct {
	// Host is a DNS name or an IP literal (IPv6 without brackets).
	Host string
	// Port defaults to 443.
	Port int
	// Timeout bounds the whole fetch: resolution, dial, handshake and the
	// AIA request. Zero means DefaultTimeout.
	Timeout time.Duration
	// Insecure skips verification during the handshake. The chain is still
	// checked afterwards, and the result reported in Chain.Verified.
	Insecure bool
	// FetchRoot fetches the issuer of the topmost certificate over AIA,
	// unless the chain already ends in a self-signed root.
	FetchRoot bool
	// Roots verifies the chain; nil means the system roots.
	Roots *x509.CertPool
	// Dial, if set, replaces net.Dialer.DialContext (for tests and netns use).
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

// Result is what Fetch found: the chain as a tracep payload and the parsed
// certificates in the same order.
type Result struct {
	Chain *tracep.Chain
	Certs []*x509.Certificate
	// AIAError is non-nil (wrapping ErrAIA) when FetchRoot was asked for and
	// the fetch failed or no AIA URL was present.
	AIAError error
}

// Fetch connects to the server and returns its chain. Verification failures
// wrap ErrVerify and say what failed; network errors keep the net package's
// error so callers can tell a missing host from a refused port.
func Fetch(ctx context.Context, cfg Config) (*Result, error) {
	if cfg.Host == "" {
		return nil, fmt.Errorf("host: %w", tracep.ErrInvalid)
	}
	port := cfg.Port
	if port == 0 {
		port = 443
	}
	if port < 1 || port > 65535 {
		return nil, fmt.Errorf("port %d: %w", port, tracep.ErrInvalid)
	}
	timeout := cfg.Timeout
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	if timeout < 0 {
		return nil, fmt.Errorf("timeout %v: %w", timeout, tracep.ErrInvalid)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	addr := net.JoinHostPort(cfg.Host, strconv.Itoa(port))
	dial := cfg.Dial
	if dial == nil {
		dial = (&net.Dialer{}).DialContext
	}
	raw, err := dial(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	defer raw.Close()

	conf := &tls.Config{
		ServerName: serverName(cfg.Host),
		RootCAs:    cfg.Roots,
		// Verification is done below, so that an insecure fetch can still
		// report whether the chain would have verified.
		InsecureSkipVerify: true,
	}
	conn := tls.Client(raw, conf)
	if err := conn.HandshakeContext(ctx); err != nil {
		return nil, fmt.Errorf("tls handshake with %s: %w", addr, err)
	}
	defer conn.Close()
	peer := conn.ConnectionState().PeerCertificates
	if len(peer) == 0 {
		return nil, ErrNoCertificates
	}

	chain := &tracep.Chain{Host: cfg.Host, Port: port, Addr: raw.RemoteAddr().String()}
	verr := verify(peer, cfg.Host, cfg.Roots)
	chain.Verified = verr == nil
	if verr != nil {
		chain.VerifyError = verr.Error()
		if !cfg.Insecure {
			return nil, fmt.Errorf("%w for %s: %v", ErrVerify, cfg.Host, verr)
		}
	}
	res := &Result{Chain: chain, Certs: append([]*x509.Certificate(nil), peer...)}
	for i, c := range peer {
		chain.Certs = append(chain.Certs, Describe(c, i))
	}
	if cfg.FetchRoot {
		top := peer[len(peer)-1]
		switch {
		case IsSelfSigned(top):
			// The chain already ends in its root: fetching it again would
			// only add a duplicate.
		case len(top.IssuingCertificateURL) == 0:
			res.AIAError = fmt.Errorf("%w: no AIA URL in topmost certificate", ErrAIA)
		default:
			root, err := fetchIssuer(ctx, cfg, top)
			if err != nil {
				res.AIAError = err
				break
			}
			d := Describe(root, len(res.Certs))
			d.Fetched = true
			res.Certs = append(res.Certs, root)
			chain.Certs = append(chain.Certs, d)
		}
	}
	return res, nil
}

// serverName is the SNI to send: none for IP literals, as RFC 6066 requires.
func serverName(host string) string {
	if net.ParseIP(host) != nil {
		return ""
	}
	return host
}

func verify(peer []*x509.Certificate, host string, roots *x509.CertPool) error {
	if roots == nil {
		var err error
		if roots, err = systemRootsFor(peer); err != nil {
			return fmt.Errorf("load system roots: %w", err)
		}
	}
	inter := x509.NewCertPool()
	for _, c := range peer[1:] {
		inter.AddCert(c)
	}
	_, err := peer[0].Verify(x509.VerifyOptions{DNSName: host, Roots: roots, Intermediates: inter})
	return err
}

// fetchIssuer tries each AIA URL of top in turn and returns the first
// certificate that really issued top. Redirects are not followed: an AIA
// URL names the certificate's location, and following a redirect would let
// any HTTP server on the path choose what we fetch.
func fetchIssuer(ctx context.Context, cfg Config, top *x509.Certificate) (*x509.Certificate, error) {
	tr := &http.Transport{Proxy: nil, DisableKeepAlives: true}
	if cfg.Dial != nil {
		tr.DialContext = cfg.Dial
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{
		Transport:     tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	var errs []error
	for _, u := range top.IssuingCertificateURL {
		c, err := getCert(ctx, client, u)
		if err == nil {
			err = top.CheckSignatureFrom(c)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", u, err))
			continue
		}
		return c, nil
	}
	return nil, fmt.Errorf("%w: %w", ErrAIA, errors.Join(errs...))
}

func getCert(ctx context.Context, client *http.Client, url string) (*x509.Certificate, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("http status %s", resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxAIABody))
	if err != nil {
		return nil, err
	}
	return ParseCert(body)
}

// ParseCert parses a DER certificate, or the first CERTIFICATE block of PEM.
func ParseCert(b []byte) (*x509.Certificate, error) {
	if c, err := x509.ParseCertificate(b); err == nil {
		return c, nil
	}
	rest := b
	for {
		var blk *pem.Block
		blk, rest = pem.Decode(rest)
		if blk == nil {
			return nil, errors.New("no DER or PEM certificate")
		}
		if blk.Type == "CERTIFICATE" {
			return x509.ParseCertificate(blk.Bytes)
		}
	}
}

// IsSelfSigned reports whether c is a CA that verifies its own signature.
func IsSelfSigned(c *x509.Certificate) bool {
	return c.IsCA && bytes.Equal(c.RawIssuer, c.RawSubject) && c.CheckSignatureFrom(c) == nil
}

// Role names c's place in a chain at index i, as `tracep ca` prints it.
func Role(c *x509.Certificate, i int) string {
	switch {
	case i == 0 && !c.IsCA:
		return "leaf"
	case c.IsCA && IsSelfSigned(c):
		return "root CA"
	case c.IsCA:
		return "intermediate CA"
	default:
		return "unknown"
	}
}

// Describe turns c, found at index i of a chain, into the tracep payload.
func Describe(c *x509.Certificate, i int) tracep.Cert {
	sum := sha256.Sum256(c.Raw)
	return tracep.Cert{
		Role:      Role(c, i),
		Subject:   c.Subject.String(),
		Issuer:    c.Issuer.String(),
		Serial:    hex.EncodeToString(c.SerialNumber.Bytes()),
		NotBefore: c.NotBefore.UTC(),
		NotAfter:  c.NotAfter.UTC(),
		IsCA:      c.IsCA,
		SHA256:    hex.EncodeToString(sum[:]),
		AIA:       c.IssuingCertificateURL,
		PEM:       string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})),
	}
}
