// Command fetcher fetches an HTTPS URL and reports the response: it
// resolves the host, connects to its addresses in turn, speaks TLS, sends
// a GET and pipes the body through a helper program (sha256sum by
// default), then prints one line:
//
//	HOST STATUS SIZE bytes DIGEST
//
// It is the program under test of this module's examples: its tests
// trace it with tracep to assert which names it resolves, where it
// connects, which server names it asks for and which programs it runs.
//
//	usage: fetcher [-helper PROG] [-connect ADDR] [-timeout D] https://HOST[:PORT]/PATH
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"time"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("fetcher", flag.ContinueOnError)
	fs.SetOutput(stderr)
	helper := fs.String("helper", "sha256sum", "program the body is piped through; the first word it prints is the digest")
	connect := fs.String("connect", "", "connect to this address instead of the host's (a hard-coded address)")
	timeout := fs.Duration("timeout", 10*time.Second, "give up after this long")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 1 {
		fmt.Fprintln(stderr, "usage: fetcher [-helper PROG] [-connect ADDR] [-timeout D] https://HOST[:PORT]/PATH")
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	line, err := fetch(ctx, fs.Arg(0), *connect, *helper)
	if err != nil {
		fmt.Fprintf(stderr, "fetcher: %v\n", err)
		return 1
	}
	fmt.Fprintln(stdout, line)
	return 0
}

func fetch(ctx context.Context, rawURL, connect, helper string) (string, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", err
	}
	if u.Scheme != "https" || u.Hostname() == "" {
		return "", fmt.Errorf("%s: not an https URL", rawURL)
	}
	host, port := u.Hostname(), u.Port()
	if port == "" {
		port = "443"
	}

	conn, err := dial(ctx, host, port, connect)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	tc := tls.Client(conn, &tls.Config{ServerName: host})
	if err := tc.HandshakeContext(ctx); err != nil {
		return "", err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("User-Agent", "fetcher/1")
	req.Close = true
	if err := req.Write(tc); err != nil {
		return "", err
	}
	resp, err := http.ReadResponse(bufio.NewReader(tc), req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}

	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, helper)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = bytes.NewReader(body), &out, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%s: %w", helper, err)
	}
	digest, _, _ := strings.Cut(strings.TrimSpace(out.String()), " ")
	return fmt.Sprintf("%s %d %d bytes %s", host, resp.StatusCode, len(body), digest), nil
}

// dial resolves host and connects to its addresses in turn, or to connect
// when it is given.
func dial(ctx context.Context, host, port, connect string) (net.Conn, error) {
	var d net.Dialer
	if connect != "" {
		return d.DialContext(ctx, "tcp", connect)
	}
	addrs, err := net.DefaultResolver.LookupHost(ctx, host)
	if err != nil {
		return nil, err
	}
	var errs []error
	for _, a := range addrs {
		c, err := d.DialContext(ctx, "tcp", net.JoinHostPort(a, port))
		if err == nil {
			return c, nil
		}
		errs = append(errs, err)
	}
	return nil, errors.Join(errs...)
}
