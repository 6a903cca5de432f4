package testnet

import (
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"

	"github.com/tracep/tracep/tracep"
)

// Site is a host name served over HTTP (port 80) and HTTPS (port 443).
// Its DNS records come from the zone, not from the Site.
type Site struct {
	// Name is the host name; HTTPS picks the certificate by SNI and HTTP
	// the handler by Host.
	Name string
	// Handler serves the site; nil means DefaultHandler. Wrap
	// DefaultHandler to keep its paths.
	Handler http.Handler
	// SelfSigned presents a self-signed certificate, which clients reject.
	SelfSigned bool
	// OmitIntermediate sends only the leaf, so a client must fetch the
	// intermediate through the leaf's AIA URL to build the chain.
	OmitIntermediate bool
}

// DefaultSites returns the sites a nil Config serves: example.test,
// www.example.test, pki.test, self-signed.test (SelfSigned) and aia.test
// (OmitIntermediate), all with DefaultHandler.
func DefaultSites() []Site {
	return []Site{
		{Name: "example.test"},
		{Name: "www.example.test"},
		{Name: PKIHost},
		{Name: "self-signed.test", SelfSigned: true},
		{Name: "aia.test", OmitIntermediate: true},
	}
}

// MaxBytes is the largest body /bytes serves and /echo accepts.
const MaxBytes = 16 << 20

// DefaultHandler returns the handler of every site without its own:
//
//	GET /                   "hello from <host>\n"
//	/echo                   the request body, any method (at most MaxBytes)
//	GET /bytes?n=N          N bytes of Bytes(N), 0 <= N <= MaxBytes
//	GET /root.crt           the root CA, DER
//	GET /intermediate.crt   the intermediate CA, DER
//
// Anything else is 404.
func DefaultHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintf(w, "hello from %s\n", hostOnly(r.Host))
	})
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		// Read everything first: HTTP/1 handlers may not read after writing.
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBytes))
		if err != nil {
			http.Error(w, err.Error(), http.StatusRequestEntityTooLarge)
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Write(body)
	})
	mux.HandleFunc("GET /bytes", func(w http.ResponseWriter, r *http.Request) {
		n, err := strconv.Atoi(r.URL.Query().Get("n"))
		if err != nil || n < 0 || n > MaxBytes {
			http.Error(w, fmt.Sprintf("n must be an integer in [0, %d]", MaxBytes), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Length", strconv.Itoa(n))
		w.Write(Bytes(n))
	})
	cert := func(pick func(*PKI) []byte) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			p, err := DefaultPKI()
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			w.Header().Set("Content-Type", "application/pkix-cert") // RFC 2585
			w.Write(pick(p))
		}
	}
	mux.HandleFunc("GET /root.crt", cert(func(p *PKI) []byte { return p.root.Raw }))
	mux.HandleFunc("GET /intermediate.crt", cert(func(p *PKI) []byte { return p.intermediate.Raw }))
	return mux
}

// Bytes returns the n bytes /bytes?n=n serves: the lower-case alphabet,
// repeated. They are printable, so they read well in a trace.
func Bytes(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = 'a' + byte(i%26)
	}
	return b
}

// sites routes requests and TLS handshakes to the configured sites.
type sites struct {
	handlers map[string]http.Handler
	certs    map[string]*tls.Certificate
	first    *tls.Certificate // for handshakes without (or with unknown) SNI
	fallback http.Handler
}

func newSites(list []Site, pki *PKI) (*sites, error) {
	s := &sites{
		handlers: make(map[string]http.Handler),
		certs:    make(map[string]*tls.Certificate),
		fallback: DefaultHandler(),
	}
	for _, site := range list {
		name := canonicalName(site.Name)
		if name == "" || strings.ContainsAny(name, "/: ") {
			return nil, fmt.Errorf("testnet: site %q: %w", site.Name, tracep.ErrInvalid)
		}
		if _, dup := s.certs[name]; dup {
			return nil, fmt.Errorf("testnet: site %q given twice: %w", site.Name, tracep.ErrInvalid)
		}
		var cert *tls.Certificate
		var err error
		if site.SelfSigned {
			cert, err = pki.SelfSigned(name)
		} else {
			cert, err = pki.Leaf(name)
		}
		if err != nil {
			return nil, err
		}
		if site.OmitIntermediate {
			c := *cert
			c.Certificate = c.Certificate[:1]
			cert = &c
		}
		s.certs[name] = cert
		if s.first == nil {
			s.first = cert
		}
		s.handlers[name] = s.fallback
		if site.Handler != nil {
			s.handlers[name] = site.Handler
		}
	}
	return s, nil
}

// ServeHTTP dispatches on Host; unknown hosts (such as a bare address) get
// DefaultHandler.
func (s *sites) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h, ok := s.handlers[canonicalName(hostOnly(r.Host))]
	if !ok {
		h = s.fallback
	}
	h.ServeHTTP(w, r)
}

func (s *sites) tlsConfig() *tls.Config {
	return &tls.Config{
		// HTTP/1.1 only: plaintext a TLS tracer sees stays readable.
		NextProtos: []string{"http/1.1"},
		GetCertificate: func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
			if c, ok := s.certs[canonicalName(hello.ServerName)]; ok {
				return c, nil
			}
			if s.first == nil {
				return nil, fmt.Errorf("testnet: no site for %q", hello.ServerName)
			}
			return s.first, nil
		},
	}
}

func hostOnly(hostport string) string {
	if host, _, err := net.SplitHostPort(hostport); err == nil {
		return host
	}
	return strings.TrimSuffix(strings.TrimPrefix(hostport, "["), "]")
}
