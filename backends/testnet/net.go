package testnet

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"

	"github.com/tracep/tracep/tracep"
)

// Config configures a Net. A nil *Config and zero fields mean the defaults.
type Config struct {
	// Zone is what the DNS server answers. nil means DefaultZone(). Every
	// non-loopback address in it is added to lo.
	Zone Zone
	// Sites are served over HTTP and HTTPS. nil means DefaultSites(). With
	// no sites, HTTP still answers every host with DefaultHandler.
	Sites []Site
	// Nameserver is the address written to /etc/resolv.conf inside.
	// Zero means 127.0.0.1; ::1 is the other usual choice. A non-loopback
	// address is added to lo.
	Nameserver netip.Addr
	// Addrs are added to lo besides the zone's, for tests that connect to
	// an address no name resolves to.
	Addrs []netip.Addr
}

// Net is a fake internet in a throwaway network namespace and mount
// namespace: DNS on port 53 (UDP and TCP), HTTP on 80 and HTTPS on 443, on
// every address of lo. Create it with New and release it with Close.
type Net struct {
	pki        *PKI
	dns        *DNSServer
	sites      *sites
	nameserver netip.Addr
	resolver   *net.Resolver
	ns         *namespace

	servers []*http.Server
	wg      sync.WaitGroup // serve loops
	conns   sync.WaitGroup // open HTTP connections, counted by ConnState

	mu        sync.Mutex
	serveErrs []error // why serve loops stopped before Close

	closeOnce sync.Once
	closeErr  error
}

// New starts a fake internet. It needs CAP_SYS_ADMIN (root); without it
// the error wraps a *tracep.PermissionError. Off Linux it wraps
// tracep.ErrNotSupported.
func New(cfg *Config) (*Net, error) {
	if cfg == nil {
		cfg = &Config{}
	}
	zone := cfg.Zone
	if zone == nil {
		zone = DefaultZone()
	}
	siteList := cfg.Sites
	if siteList == nil {
		siteList = DefaultSites()
	}
	nameserver := cfg.Nameserver.Unmap()
	if !nameserver.IsValid() {
		nameserver = netip.AddrFrom4([4]byte{127, 0, 0, 1})
	}
	if nameserver.IsUnspecified() || nameserver.Zone() != "" {
		return nil, fmt.Errorf("testnet: nameserver %s: %w", nameserver, tracep.ErrInvalid)
	}
	for _, a := range cfg.Addrs {
		if !a.IsValid() {
			return nil, fmt.Errorf("testnet: invalid address in Addrs: %w", tracep.ErrInvalid)
		}
	}

	dns, err := NewDNSServer(zone)
	if err != nil {
		return nil, err
	}
	pki, err := DefaultPKI()
	if err != nil {
		return nil, err
	}
	s, err := newSites(siteList, pki)
	if err != nil {
		return nil, err
	}

	n := &Net{pki: pki, dns: dns, sites: s, nameserver: nameserver}
	n.resolver = &net.Resolver{PreferGo: true, Dial: n.dialNameserver}
	n.ns, err = startNamespace(nsConfig{
		addrs:      localAddrs(append(append(zone.addrs(), cfg.Addrs...), nameserver)),
		resolvConf: fmt.Appendf(nil, "# tracep testnet\nnameserver %s\n", nameserver),
		hosts:      []byte("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"),
		nsswitch:   []byte(nsswitchConf),
		caBundle:   pki.RootPEM(),
	})
	if err != nil {
		return nil, err
	}
	if err := n.serve(); err != nil {
		n.Close()
		return nil, err
	}
	n.register()
	return n, nil
}

// nsswitchConf sends host lookups to /etc/hosts and then DNS, nothing
// else (no systemd-resolved, mdns or myhostname, which would look outside).
const nsswitchConf = `# tracep testnet
passwd:    files
group:     files
shadow:    files
hosts:     files dns
networks:  files
protocols: files
services:  files
`

// serve opens the listening sockets inside the namespace (a socket belongs
// to the network namespace it was created in) and serves them from
// ordinary goroutines.
func (n *Net) serve() error {
	type family struct{ tcp, udp, any string }
	var (
		packetConns []net.PacketConn
		listeners   []net.Listener // dns, http, https per family
	)
	err := n.ns.do(func() error {
		var lc net.ListenConfig
		ctx := context.Background()
		for _, f := range []family{{"tcp4", "udp4", "0.0.0.0"}, {"tcp6", "udp6", "::"}} {
			pc, err := lc.ListenPacket(ctx, f.udp, net.JoinHostPort(f.any, "53"))
			if err != nil {
				return err
			}
			packetConns = append(packetConns, pc)
			for _, port := range []string{"53", "80", "443"} {
				l, err := lc.Listen(ctx, f.tcp, net.JoinHostPort(f.any, port))
				if err != nil {
					return err
				}
				listeners = append(listeners, l)
			}
		}
		return nil
	})
	if err != nil {
		for _, pc := range packetConns {
			pc.Close()
		}
		for _, l := range listeners {
			l.Close()
		}
		return fmt.Errorf("testnet: listen: %w", err)
	}

	quiet := log.New(io.Discard, "", 0) // handshake failures are expected
	plain := &http.Server{Handler: n.sites, ErrorLog: quiet, ConnState: n.connState}
	secure := &http.Server{Handler: n.sites, ErrorLog: quiet, ConnState: n.connState}
	n.servers = []*http.Server{plain, secure}
	tlsConfig := n.sites.tlsConfig()
	for i, pc := range packetConns {
		dnsL, httpL, httpsL := listeners[3*i], listeners[3*i+1], listeners[3*i+2]
		n.wg.Go(func() { n.report(n.dns.Serve(pc, dnsL)) })
		n.wg.Go(func() { n.report(plain.Serve(httpL)) })
		n.wg.Go(func() { n.report(secure.Serve(tls.NewListener(httpsL, tlsConfig))) })
	}
	return nil
}

// report keeps the error that stopped a serve loop, for Close to return.
func (n *Net) report(err error) {
	if err == nil || errors.Is(err, http.ErrServerClosed) {
		return
	}
	n.mu.Lock()
	n.serveErrs = append(n.serveErrs, err)
	n.mu.Unlock()
}

func (n *Net) connState(_ net.Conn, state http.ConnState) {
	switch state {
	case http.StateNew:
		n.conns.Add(1)
	case http.StateClosed, http.StateHijacked:
		n.conns.Done()
	}
}

// Close stops the servers and waits for their goroutines and connections,
// ends the namespace thread (the namespaces go with it, unless a process
// started inside still runs) and removes the temporary files. It returns
// the errors that stopped a server early. Close is safe to call more than
// once; later calls return the first result.
func (n *Net) Close() error {
	n.closeOnce.Do(func() {
		n.unregister()
		n.dns.Close()
		for _, s := range n.servers {
			s.Close()
		}
		n.wg.Wait()
		// Again: a connection accepted while the first Close ran is
		// tracked only now.
		for _, s := range n.servers {
			s.Close()
		}
		n.conns.Wait()
		errs := []error{n.ns.close()}
		n.mu.Lock()
		errs = append(errs, n.serveErrs...)
		n.mu.Unlock()
		n.closeErr = errors.Join(errs...)
	})
	return n.closeErr
}

// DNS returns the DNS server, for counting the queries it answered.
func (n *Net) DNS() *DNSServer { return n.dns }

// PKI returns the certificate authority the sites' certificates chain to.
func (n *Net) PKI() *PKI { return n.pki }

// CAFile returns the path of the trust bundle (the root CA in PEM) that
// is mounted over the system bundle inside and named by SSL_CERT_FILE.
func (n *Net) CAFile() string { return n.ns.caFile }

// Nameserver returns the address of the DNS server in resolv.conf.
func (n *Net) Nameserver() netip.Addr { return n.nameserver }

// Do runs f on the namespace thread and returns its result. Sockets that f
// creates belong to the fake internet, wherever they are used later.
//
// Only f's own goroutine is inside: Go's resolver, http.Transport and any
// goroutine f starts run outside, so use DialContext, Resolver or
// HTTPClient for those (they may be called from f too). f blocks every
// other Do and Start until it returns, and must not call runtime.Goexit
// (t.FailNow, require): that would end the namespace. A panic in f is
// raised again in the caller, with the namespace goroutine's stack.
func (n *Net) Do(f func() error) error {
	return n.ns.do(f)
}

// Start starts cmd inside the namespaces: it forks from the namespace
// thread, so the child inherits the network and mount namespaces. A
// command made by Command runs its program directly, without nsenter.
// cmd.SysProcAttr is left as the caller set it (UseCgroupFD works; a
// Pdeathsig fires when Close ends the namespace thread).
//
// Start sets SSL_CERT_FILE to CAFile in the environment unless cmd.Env
// already names it; when cmd.Env is nil it inherits the process
// environment without proxy variables, since no proxy is reachable. An
// empty cmd.Dir becomes the current directory, which the namespace thread
// would otherwise not follow.
func (n *Net) Start(cmd *exec.Cmd) error {
	n.unwrap(cmd)
	cmd.Env = n.env(cmd.Env)
	if cmd.Dir == "" {
		if wd, err := os.Getwd(); err == nil {
			cmd.Dir = wd
		}
	}
	return n.ns.do(cmd.Start)
}

// Run starts cmd inside with Start and waits for it.
func (n *Net) Run(cmd *exec.Cmd) error {
	if err := n.Start(cmd); err != nil {
		return err
	}
	return cmd.Wait()
}

// CombinedOutput runs cmd inside and returns its standard output and
// standard error together.
func (n *Net) CombinedOutput(cmd *exec.Cmd) ([]byte, error) {
	if cmd.Stdout != nil || cmd.Stderr != nil {
		return nil, fmt.Errorf("testnet: CombinedOutput: Stdout or Stderr already set: %w", tracep.ErrInvalid)
	}
	var b bytes.Buffer
	cmd.Stdout, cmd.Stderr = &b, &b
	err := n.Run(cmd)
	return b.Bytes(), err
}

var proxyVars = []string{"http_proxy", "https_proxy", "ftp_proxy", "all_proxy"}

func (n *Net) env(env []string) []string {
	bundle := "SSL_CERT_FILE=" + n.ns.caFile
	if env == nil {
		for _, kv := range os.Environ() {
			k, _, _ := strings.Cut(kv, "=")
			if k == "SSL_CERT_FILE" || slices.Contains(proxyVars, strings.ToLower(k)) {
				continue
			}
			env = append(env, kv)
		}
		return append(env, bundle)
	}
	for _, kv := range env {
		if strings.HasPrefix(kv, "SSL_CERT_FILE=") {
			return env
		}
	}
	return append(slices.Clip(env), bundle)
}

// DialContext connects to address inside the fake internet, like
// net.Dialer.DialContext: names are resolved by its DNS server and the
// socket is created by a thread inside the network namespace (not the
// namespace thread, so DialContext may be called from Do). Addresses are
// tried in the order the resolver returns them.
func (n *Net) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(address)
	if err != nil {
		return nil, fmt.Errorf("testnet: dial: %w", err)
	}
	var addrs []netip.Addr
	if a, err := netip.ParseAddr(host); err == nil {
		addrs = []netip.Addr{a}
	} else {
		ipNetwork := "ip"
		if strings.HasSuffix(network, "4") || strings.HasSuffix(network, "6") {
			ipNetwork += network[len(network)-1:]
		}
		// Inside there is no search list; the trailing dot keeps the
		// host's (which the Go resolver reads) out of it.
		if !strings.HasSuffix(host, ".") {
			host += "."
		}
		if addrs, err = n.resolver.LookupNetIP(ctx, ipNetwork, host); err != nil {
			return nil, fmt.Errorf("testnet: dial: %w", err)
		}
	}
	var errs []error
	for _, a := range addrs {
		c, err := n.ns.dial(ctx, network, net.JoinHostPort(a.String(), port))
		if err == nil {
			return c, nil
		}
		errs = append(errs, err)
	}
	return nil, fmt.Errorf("testnet: dial %s: %w", address, errors.Join(errs...))
}

// dialNameserver is the Resolver's Dial: whatever the host's resolv.conf
// says, queries go to the fake internet's DNS server.
func (n *Net) dialNameserver(ctx context.Context, network, _ string) (net.Conn, error) {
	return n.ns.dial(ctx, network, netip.AddrPortFrom(n.nameserver, 53).String())
}

// Resolver returns a Go resolver that sends every query to the fake
// internet's DNS server. It still reads the host's resolv.conf options
// (search list, ndots): end names with a dot to ask for exactly them.
func (n *Net) Resolver() *net.Resolver { return n.resolver }

// HTTPClient returns a client that dials with DialContext, trusts only the
// fake root CA and ignores proxy settings. Call CloseIdleConnections when
// done with it.
func (n *Net) HTTPClient() *http.Client {
	return &http.Client{Transport: &http.Transport{
		DialContext:     n.DialContext,
		TLSClientConfig: &tls.Config{RootCAs: n.pki.RootPool()},
	}}
}

// nsConfig is what the platform code sets up inside the namespaces.
type nsConfig struct {
	addrs                                 []netip.Addr // added to lo
	resolvConf, hosts, nsswitch, caBundle []byte       // mounted over the system's
}
