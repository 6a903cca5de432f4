package cli

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/tracep/tracep/backends/cafetch"
	"github.com/tracep/tracep/cmd/tracep/internal/base"
	"github.com/tracep/tracep/tracep"
)

const caUsageLine = "usage: tracep ca [flags] <hostname> [port]"

func runCA(e *env, args []string) int {
	fs := newFlagSet("tracep ca", e.stderr)
	var (
		port      = fs.Int("port", 443, "TLS port to connect to")
		out       = fs.String("o", "", "Output file (default: <hostname>-ca.pem, use - for stdout)")
		fetchRoot = fs.Bool("fetch-root", false, "Fetch root CA via AIA URL")
		insecure  = fs.Bool("insecure", false, "Skip TLS certificate verification")
		all       = fs.Bool("all", false, "Save full chain including leaf certificate")
		showVer   = fs.Bool("version", false, "Print version and exit")
		asJSON    = fs.Bool("j", false, "Print the chain as one JSON line (tracep event schema) instead of the report")
		timeout   = cafetch.DefaultTimeout
	)
	fs.Var(base.Seconds(&timeout), "timeout", "Connection timeout in `seconds` (or a duration such as 500ms); bounds the dial, the handshake and the AIA fetch")
	pos, code, ok := parseCommandLine(fs, args, e, caUsageLine)
	if !ok {
		return code
	}
	if *showVer {
		fmt.Fprintf(e.stdout, "tls-ca-fetch %s\n", base.VersionString())
		return base.ExitOK
	}
	if len(pos) == 0 {
		fmt.Fprintln(e.stderr, caUsageLine)
		printDefaults(fs, e.stderr)
		return base.ExitError
	}
	if len(pos) > 2 {
		fmt.Fprintf(e.stderr, "tracep ca: unexpected argument %q\n%s\n", pos[2], caUsageLine)
		return base.ExitUsage
	}
	if *asJSON && *out == "-" {
		// Both would own stdout: PEM in a JSON stream breaks every reader.
		fmt.Fprintf(e.stderr, "tracep ca: -j and -o - both write to stdout; give -o a file\n%s\n", caUsageLine)
		return base.ExitUsage
	}
	host, p, err := splitHostPort(pos[0])
	if err != nil {
		fmt.Fprintf(e.stderr, "error: %v\n", err)
		return base.ExitError
	}
	if p != "" {
		pos = append(pos[:1], p) // host:port form; a second positional would conflict
		if len(pos) > 2 {
			fmt.Fprintf(e.stderr, "tracep ca: port given twice\n")
			return base.ExitUsage
		}
	}
	if len(pos) == 2 {
		n, err := strconv.Atoi(pos[1])
		if err != nil || n < 1 || n > 65535 {
			fmt.Fprintf(e.stderr, "invalid port: %s\n", pos[1])
			return base.ExitError
		}
		*port = n
	} else if *port < 1 || *port > 65535 {
		fmt.Fprintf(e.stderr, "invalid port: %d\n", *port)
		return base.ExitError
	}

	// With -o - the PEM owns stdout, so the report goes to stderr and the
	// output stays pipeable; -j likewise keeps stdout to the JSON line.
	report := e.stdout
	if *out == "-" || *asJSON {
		report = e.stderr
	}
	quiet := *asJSON
	if !quiet {
		fmt.Fprintf(report, "→ Connecting to %s …\n\n", net.JoinHostPort(host, strconv.Itoa(*port)))
	}
	res, err := cafetch.Fetch(e.ctx, cafetch.Config{
		Host: host, Port: *port, Timeout: timeout, Insecure: *insecure, FetchRoot: *fetchRoot,
	})
	if err != nil {
		fmt.Fprintf(e.stderr, "error: %s\n", describeFetchError(err, host, *port, timeout))
		return base.ExitError
	}
	if res.AIAError != nil {
		fmt.Fprintf(e.stderr, "warning: %s\n", tracep.Escape(res.AIAError.Error()))
	}
	if !quiet {
		printChain(report, res)
	}

	var save []*x509.Certificate
	for i, c := range res.Certs {
		if *all || i > 0 || c.IsCA {
			save = append(save, c)
		}
	}
	if *asJSON {
		ev := tracep.Event{Kind: tracep.KindCA, Time: time.Now(), CA: res.Chain}
		if err := tracep.NewEncoder(e.stdout).Encode(ev); err != nil {
			fmt.Fprintf(e.stderr, "error: %v\n", err)
			return base.ExitError
		}
		if *out == "" {
			return base.ExitOK
		}
	}
	if len(save) == 0 {
		fmt.Fprintf(e.stderr, "\nwarning: no CA certificates found in chain\n")
		if aia := res.Certs[0].IssuingCertificateURL; len(aia) > 0 {
			fmt.Fprintf(e.stderr, "  Try -fetch-root. AIA URL: %s\n", tracep.Escape(aia[0]))
		}
		return base.ExitError
	}
	var buf bytes.Buffer
	for _, c := range save {
		_ = pem.Encode(&buf, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	}
	if *out == "-" {
		if _, err := e.stdout.Write(buf.Bytes()); err != nil {
			fmt.Fprintf(e.stderr, "error writing PEM: %v\n", err)
			return base.ExitError
		}
		return base.ExitOK
	}
	path := *out
	if path == "" {
		path = sanitizeFileName(host) + "-ca.pem"
	}
	if err := base.WriteFile(path, buf.Bytes()); err != nil {
		fmt.Fprintf(e.stderr, "error writing PEM: %v\n", err)
		return base.ExitError
	}
	n, err := countPEM(path)
	if errors.Is(err, errNotRegular) {
		return base.ExitOK // a device such as /dev/null cannot be read back
	}
	if err != nil || n != len(save) {
		fmt.Fprintf(e.stderr, "error: %s: wrote %d certificate(s) but read back %d: %v\n", path, len(save), n, err)
		return base.ExitError
	}
	if !quiet {
		fmt.Fprintf(report, "\n✓ Saved %d CA certificate(s) → %s\n", len(save), path)
		fmt.Fprintf(report, "  Verified: %d PEM block(s) readable in output file\n", n)
	}
	return base.ExitOK
}

// splitHostPort accepts "host", "host:port", "[v6]:port" and a bare IPv6
// literal. The port, if any, is returned unparsed.
func splitHostPort(s string) (host, port string, err error) {
	switch {
	case strings.HasPrefix(s, "["):
		if !strings.Contains(s, "]:") {
			return strings.Trim(s, "[]"), "", nil
		}
		host, port, err = net.SplitHostPort(s)
	case strings.Count(s, ":") == 1:
		host, port, err = net.SplitHostPort(s)
	default:
		host = s
	}
	if err != nil {
		return "", "", fmt.Errorf("bad address %q: %v", s, err)
	}
	if host == "" {
		return "", "", fmt.Errorf("bad address %q: empty host", s)
	}
	return host, port, nil
}

func printChain(w io.Writer, res *cafetch.Result) {
	rule := strings.Repeat("─", 70)
	sent := len(res.Chain.Certs)
	for _, c := range res.Chain.Certs {
		if c.Fetched {
			sent--
		}
	}
	fmt.Fprintf(w, "Chain received: %d certificate(s)\n%s\n", sent, rule)
	for i, c := range res.Certs[:sent] {
		printCert(w, i, c, res.Chain.Certs[i].Role)
	}
	fmt.Fprintln(w, rule)
	if res.Chain.Verified {
		fmt.Fprintf(w, "Chain verifies for %s against the system roots\n", tracep.Escape(res.Chain.Host))
	} else {
		fmt.Fprintf(w, "Chain does NOT verify against the system roots: %s\n", tracep.Escape(res.Chain.VerifyError))
	}
	for i, c := range res.Certs[sent:] {
		fmt.Fprintf(w, "\nFetched root CA via AIA: %s\n", tracep.Escape(res.Certs[sent-1+i].IssuingCertificateURL[0]))
		fmt.Fprintf(w, "  Root: CN=%s  Expires: %s\n", tracep.Escape(c.Subject.CommonName), c.NotAfter.Format("2006-01-02"))
	}
}

func printCert(w io.Writer, i int, c *x509.Certificate, role string) {
	cn := tracep.Escape(c.Subject.CommonName)
	if len(cn) > 38 {
		cn = cn[:35] + "..."
	}
	fmt.Fprintf(w, "  [%d] %-16s CN=%-40s IsCA=%t\n", i, role, cn, c.IsCA)
	fmt.Fprintf(w, "       Issuer : %s\n", tracep.Escape(c.Issuer.CommonName))
	fmt.Fprintf(w, "       Expires: %s\n", c.NotAfter.Format("2006-01-02"))
	if len(c.IssuingCertificateURL) > 0 {
		fmt.Fprintf(w, "       AIA    : %s\n", tracep.Escape(c.IssuingCertificateURL[0]))
	}
	fmt.Fprintln(w)
}

// describeFetchError turns a fetch error into one line that says what
// failed and, where it helps, what to do.
func describeFetchError(err error, host string, port int, timeout time.Duration) string {
	addr := net.JoinHostPort(host, strconv.Itoa(port))
	var dnsErr *net.DNSError
	switch {
	case errors.As(err, &dnsErr) && dnsErr.IsNotFound:
		return fmt.Sprintf("unknown host %s: no such host", tracep.Escape(host))
	case errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Sprintf("connect %s: connection refused (is anything listening on port %d?)", addr, port)
	case errors.Is(err, cafetch.ErrVerify):
		return tracep.Escape(err.Error()) + " (use -insecure to fetch the chain anyway)"
	case isTimeout(err):
		return fmt.Sprintf("%s: timed out after %v", addr, timeout)
	}
	return tracep.Escape(strings.ReplaceAll(err.Error(), "\n", " "))
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout() || errors.Is(err, os.ErrDeadlineExceeded)
}

var errNotRegular = errors.New("not a regular file")

// countPEM reads path back and counts the certificates it holds.
func countPEM(path string) (int, error) {
	if st, err := os.Stat(path); err == nil && !st.Mode().IsRegular() {
		return 0, errNotRegular
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	n := 0
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			return n, nil
		}
		if _, err := x509.ParseCertificate(blk.Bytes); err != nil {
			return n, err
		}
		n++
	}
}

// newFlagSet returns a standard FlagSet (for ca) that reports errors
// instead of exiting, so Run keeps control of the exit status.
func newFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// parseCommandLine parses args with fs. On -h it prints the usage to stdout
// and returns exitOK; on a bad flag, flag's own message and the usage go to
// stderr and it returns exitUsage. ok is true when the command should run.
func parseCommandLine(fs *flag.FlagSet, args []string, e *env, usageLine string) (pos []string, code int, ok bool) {
	fs.Usage = func() {} // printed below, to the right stream
	pos, err := parseInterspersed(fs, args)
	if err == nil {
		return pos, 0, true
	}
	w, code := e.stderr, base.ExitUsage
	if errors.Is(err, flag.ErrHelp) {
		w, code = e.stdout, base.ExitOK
	}
	fmt.Fprintf(w, "Usage of %s:\n  %s\n\n", fs.Name(), strings.TrimPrefix(usageLine, "usage: "))
	printDefaults(fs, w)
	return nil, code, false
}

// parseInterspersed parses flags that may come before, between or after the
// positional arguments (`ca host -o -` and `ca -o - host` are the same), as
// the reference tool does. "--" ends flag parsing; everything after it is
// positional.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		// flag stops at "--" and drops it; keep what follows as positional.
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			return append(pos, rest...), nil
		}
		if len(rest) == 0 {
			return pos, nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// printDefaults writes fs's flags as flag.PrintDefaults does.
func printDefaults(fs *flag.FlagSet, w io.Writer) {
	old := fs.Output()
	fs.SetOutput(w)
	fs.PrintDefaults()
	fs.SetOutput(old)
}

// sanitizeFileName keeps a host name usable as part of a file name.
func sanitizeFileName(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '-', r == '_':
			return r
		}
		return '_'
	}, s)
}
