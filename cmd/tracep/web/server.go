package web

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"
)

// Config says where and how a Server serves. The zero value is a server on
// a free port of 127.0.0.1.
type Config struct {
	// Addr is the address to listen on, host:port. Empty is
	// "127.0.0.1:0", a free port of the loopback; a missing host is
	// 127.0.0.1 too, so "-web :8080" stays local: only an explicit host
	// ("0.0.0.0:8080", "[::]:8080", a name) listens elsewhere.
	Addr string
	// Title names the trace on the page, e.g. the command line traced.
	Title string
	// MaxHistory bounds the memory of the events the server keeps, in
	// bytes (default DefaultMaxHistory): their JSON, text and copy. Beyond
	// it the oldest events are dropped, and the page says how many.
	MaxHistory int
}

// DefaultMaxHistory is the default of Config.MaxHistory: 256 MiB.
const DefaultMaxHistory = 256 << 20

// Server serves one trace to browsers. Its methods are safe for concurrent
// use.
type Server struct {
	cfg   Config
	token string
	url   string
	// The listening address, for the Host check.
	host string // the host of cfg.Addr as given, "" when none
	ip   netip.Addr
	port string

	ln   net.Listener
	http *http.Server

	mu sync.Mutex
	st state

	// linkMu serialises the building of the link index.
	linkMu sync.Mutex
	links  *linkIndex

	treeWake chan struct{}
	closing  chan struct{}
	wg       sync.WaitGroup
	once     sync.Once
	closeErr error
}

//go:embed static
var static embed.FS

// treeEvery bounds how often the process tree is rebuilt while events
// arrive.
const treeEvery = 200 * time.Millisecond

// Start listens on cfg.Addr and serves the page until Close. ctx bounds
// only the start. The page is at URL(), which carries the token every
// request needs.
func Start(ctx context.Context, cfg Config) (*Server, error) {
	if cfg.MaxHistory <= 0 {
		cfg.MaxHistory = DefaultMaxHistory
	}
	addr := cfg.Addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("web address %q: %w", addr, err)
	}
	if host == "" {
		addr = net.JoinHostPort("127.0.0.1", port)
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("web: %w", err)
	}
	tok := make([]byte, 16)
	if _, err := rand.Read(tok); err != nil {
		ln.Close()
		return nil, fmt.Errorf("web token: %w", err)
	}
	la := ln.Addr().(*net.TCPAddr).AddrPort()
	s := &Server{
		cfg:      cfg,
		token:    hex.EncodeToString(tok),
		host:     host,
		ip:       la.Addr().Unmap(),
		port:     fmt.Sprint(la.Port()),
		ln:       ln,
		treeWake: make(chan struct{}, 1),
		closing:  make(chan struct{}),
	}
	s.st.init()
	urlHost := host
	if ip, err := netip.ParseAddr(host); host == "" || (err == nil && ip.IsUnspecified()) {
		urlHost = "127.0.0.1"
	}
	s.url = "http://" + net.JoinHostPort(urlHost, s.port) + "/" + s.token + "/"
	s.http = &http.Server{
		Handler:           http.HandlerFunc(s.serveHTTP),
		ReadHeaderTimeout: 10 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return context.Background() },
	}
	s.wg.Add(2)
	go func() {
		defer s.wg.Done()
		_ = s.http.Serve(ln) // ends with http.ErrServerClosed at Close
	}()
	go func() {
		defer s.wg.Done()
		s.treeLoop()
	}()
	return s, nil
}

// URL returns the page's address, with the token: what to open in a
// browser, and to print.
func (s *Server) URL() string { return s.url }

// Close stops serving: open pages see the stream end. It waits for every
// goroutine of the server and is idempotent.
func (s *Server) Close() error {
	s.once.Do(func() {
		close(s.closing) // ends the streams and the tree loop
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.http.Shutdown(ctx); err != nil {
			s.closeErr = fmt.Errorf("web: close: %w", err)
			s.http.Close()
		}
		s.wg.Wait()
	})
	return s.closeErr
}

// serveHTTP checks every request, then serves the page, its assets, the
// stream and the links of an event.
func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cache-Control", "no-store")
	if err := s.check(r); err != nil {
		http.Error(w, err.Error(), http.StatusForbidden)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		h.Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	switch rest := r.URL.Path[1+len(s.token):]; rest { // check saw the token
	case "":
		http.Redirect(w, r, "/"+s.token+"/", http.StatusFound)
	case "/":
		s.serveFile(w, r, "index.html")
	case "/app.js", "/app.css":
		s.serveFile(w, r, rest[1:])
	case "/events":
		s.serveStream(w, r)
	case "/links":
		s.serveLinks(w, r)
	default:
		http.NotFound(w, r)
	}
}

// errRefused is the error of a refused request; the response says no more.
var errRefused = errors.New("forbidden")

// check refuses a request without the token, for another host, or from
// another origin.
func (s *Server) check(r *http.Request) error {
	p := r.URL.Path
	if len(p) < len(s.token)+1 || subtle.ConstantTimeCompare([]byte(p[1:len(s.token)+1]), []byte(s.token)) != 1 ||
		(len(p) > len(s.token)+1 && p[len(s.token)+1] != '/') {
		return fmt.Errorf("%w: no valid token", errRefused)
	}
	if !s.allowedHost(r.Host) {
		return fmt.Errorf("%w: host %q is not this server", errRefused, r.Host)
	}
	if o := r.Header.Get("Origin"); o != "" && o != "http://"+r.Host {
		return fmt.Errorf("%w: cross-origin request", errRefused)
	}
	switch r.Header.Get("Sec-Fetch-Site") {
	case "", "same-origin", "none":
	default:
		return fmt.Errorf("%w: cross-site request", errRefused)
	}
	return nil
}

// allowedHost reports whether a Host header names this server: its port,
// and localhost, the host it was given, or the address it listens on (any
// address when it listens on all of them; any loopback address when on a
// loopback one).
func (s *Server) allowedHost(hostport string) bool {
	host, port, err := net.SplitHostPort(hostport)
	if err != nil || port != s.port {
		return false
	}
	if strings.EqualFold(host, "localhost") || (s.host != "" && strings.EqualFold(host, s.host)) {
		return true
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return false
	}
	ip = ip.Unmap()
	return ip == s.ip || s.ip.IsUnspecified() || (s.ip.IsLoopback() && ip.IsLoopback())
}

// serveFile serves one embedded asset.
func (s *Server) serveFile(w http.ResponseWriter, r *http.Request, name string) {
	b, err := fs.ReadFile(static, "static/"+name)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	types := map[string]string{".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}
	w.Header().Set("Content-Type", types[name[strings.LastIndexByte(name, '.'):]])
	if r.Method == http.MethodHead {
		return
	}
	_, _ = w.Write(b)
}
