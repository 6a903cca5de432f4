package testnet

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/net/dns/dnsmessage"
	"golang.org/x/sys/unix"

	"github.com/tracep/tracep/tracep"
	"github.com/tracep/tracep/tracep/tracetest"
)

// newNet starts a Net for t and closes it when t ends.
func newNet(t *testing.T, cfg *Config) *Net {
	t.Helper()
	start := time.Now()
	n, err := New(cfg)
	require.NoError(t, err)
	t.Logf("New took %v", time.Since(start))
	t.Cleanup(func() { require.NoError(t, n.Close()) })
	return n
}

// output runs a command inside and returns its combined output.
func output(t *testing.T, n *Net, name string, args ...string) (string, error) {
	t.Helper()
	out, err := n.CombinedOutput(n.CommandContext(t.Context(), name, args...))
	return string(out), err
}

func needTool(t *testing.T, name string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		t.Skipf("%s is not installed", name)
	}
}

func exitCode(err error) int {
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return exit.ExitCode()
	}
	return -1
}

func TestIntegrationNet(t *testing.T) {
	tracetest.SkipUnlessRoot(t, "a network namespace")
	hostResolv, err := os.ReadFile("/etc/resolv.conf")
	require.NoError(t, err)
	n := newNet(t, nil)

	t.Run("getent", func(t *testing.T) {
		out, err := output(t, n, "getent", "hosts", "example.test")
		require.NoError(t, err, out)
		require.Regexp(t, `^(2001:db8::10|192\.0\.2\.10)\s+example\.test\n$`, out)
		out, err = output(t, n, "getent", "ahostsv4", "cname.test")
		require.NoError(t, err, out)
		require.Contains(t, out, "192.0.2.10")
		_, err = output(t, n, "getent", "hosts", "nxdomain.test")
		require.Equal(t, 2, exitCode(err), "not found")
		require.Positive(t, n.DNS().Count("nxdomain.test", 0, "udp"))
	})

	t.Run("curl", func(t *testing.T) {
		needTool(t, "curl")
		before := n.DNS().Count("example.test", 0, "")
		out, err := output(t, n, "curl", "-sS", "https://example.test/")
		require.NoError(t, err, out)
		require.Equal(t, "hello from example.test\n", out)
		require.Greater(t, n.DNS().Count("example.test", 0, ""), before, "curl asked the fake DNS")

		for _, family := range []string{"-4", "-6"} {
			out, err = output(t, n, "curl", "-sS", family, "https://www.example.test/echo", "--data-binary", "ping")
			require.NoError(t, err, out)
			require.Equal(t, "ping", out)
		}

		out, err = output(t, n, "curl", "-sS", "http://pki.test/intermediate.crt")
		require.NoError(t, err)
		require.Equal(t, string(n.PKI().Intermediate().Raw), out)
	})

	t.Run("curl-verify-fails", func(t *testing.T) {
		needTool(t, "curl")
		for _, host := range []string{"self-signed.test", "aia.test"} {
			out, err := output(t, n, "curl", "-sS", "https://"+host+"/")
			require.Equal(t, 60, exitCode(err), "CURLE_PEER_FAILED_VERIFICATION for %s: %s", host, out)
		}
		out, err := output(t, n, "curl", "-sS", "-k", "https://self-signed.test/")
		require.NoError(t, err, out)
		require.Equal(t, "hello from self-signed.test\n", out)
	})

	t.Run("system-bundle", func(t *testing.T) {
		// SSL_CERT_FILE names the system path: only the mount makes it work.
		needTool(t, "curl")
		cmd := n.CommandContext(t.Context(), "curl", "-sS", "https://example.test/")
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"}
		out, err := n.CombinedOutput(cmd)
		require.NoError(t, err, string(out))
		require.Equal(t, "hello from example.test\n", string(out))
	})

	t.Run("python", func(t *testing.T) {
		needTool(t, "python3")
		out, err := output(t, n, "python3", "-c",
			"import sys, urllib.request; sys.stdout.write(urllib.request.urlopen(sys.argv[1]).read().decode())",
			"https://www.example.test/")
		require.NoError(t, err, out)
		require.Equal(t, "hello from www.example.test\n", out)
	})

	t.Run("gnutls-cli", func(t *testing.T) {
		needTool(t, "gnutls-cli")
		out, err := output(t, n, "gnutls-cli", "--port=443", "example.test")
		require.NoError(t, err, out)
		require.Contains(t, out, "The certificate is trusted")
		out, err = output(t, n, "gnutls-cli", "--port=443", "self-signed.test")
		require.Error(t, err, out)
		require.Contains(t, out, "NOT trusted")
	})

	t.Run("openssl", func(t *testing.T) {
		needTool(t, "openssl")
		out, err := output(t, n, "openssl", "s_client", "-connect", "example.test:443",
			"-servername", "example.test", "-verify_hostname", "example.test", "-verify_return_error")
		require.NoError(t, err, out)
		require.Contains(t, out, "Verify return code: 0 (ok)")
	})

	t.Run("dig-tc", func(t *testing.T) {
		needTool(t, "dig")
		udp := n.DNS().Count("tc.test", dnsmessage.TypeA, "udp")
		tcp := n.DNS().Count("tc.test", dnsmessage.TypeA, "tcp")
		out, err := output(t, n, "dig", "@127.0.0.1", "tc.test", "A")
		require.NoError(t, err, out)
		require.Contains(t, out, "Truncated, retrying in TCP mode")
		require.Regexp(t, `tc\.test\.\s+60\s+IN\s+A\s+192\.0\.2\.50`, out)
		require.Equal(t, udp+1, n.DNS().Count("tc.test", dnsmessage.TypeA, "udp"))
		require.Equal(t, tcp+1, n.DNS().Count("tc.test", dnsmessage.TypeA, "tcp"))

		out, err = output(t, n, "dig", "+short", "@::1", "AAAA", "example.test")
		require.NoError(t, err, out)
		require.Equal(t, "2001:db8::10\n", out)
		out, err = output(t, n, "dig", "+short", "@192.0.2.10", "TXT", "example.test")
		require.NoError(t, err, out)
		require.Equal(t, "\"v=testnet1 hello from example.test\"\n", out)
	})

	t.Run("go-client", func(t *testing.T) {
		client := n.HTTPClient()
		defer client.CloseIdleConnections()
		for _, url := range []string{"https://example.test", "http://v4.test", "http://v6.test"} {
			resp, err := client.Get(url + "/bytes?n=1048576")
			require.NoError(t, err)
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			require.NoError(t, err)
			require.Equal(t, http.StatusOK, resp.StatusCode)
			require.Equal(t, Bytes(1<<20), body, url)
		}
		_, err := client.Get("https://self-signed.test/")
		var unknown x509.UnknownAuthorityError
		require.ErrorAs(t, err, &unknown)
	})

	t.Run("go-do", func(t *testing.T) {
		// A socket created on the namespace thread is inside, wherever
		// it is used afterwards.
		var raw net.Conn
		require.NoError(t, n.Do(func() error {
			var err error
			raw, err = net.Dial("tcp", "[2001:db8::10]:443")
			return err
		}))
		c := tls.Client(raw, &tls.Config{ServerName: "example.test", RootCAs: n.PKI().RootPool()})
		defer c.Close()
		_, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: example.test\r\nConnection: close\r\n\r\n")
		require.NoError(t, err)
		resp, err := io.ReadAll(c)
		require.NoError(t, err)
		require.True(t, strings.HasSuffix(string(resp), "\r\n\r\nhello from example.test\n"), string(resp))
	})

	t.Run("go-resolver", func(t *testing.T) {
		hosts, err := n.Resolver().LookupHost(t.Context(), "cname.test.")
		require.NoError(t, err)
		slices.Sort(hosts)
		require.Equal(t, []string{"192.0.2.10", "2001:db8::10"}, hosts)
	})

	t.Run("environment", func(t *testing.T) {
		out, err := output(t, n, "sh", "-c", `echo "$SSL_CERT_FILE"; cat /etc/resolv.conf /etc/hosts /etc/nsswitch.conf`)
		require.NoError(t, err, out)
		require.True(t, strings.HasPrefix(out, n.CAFile()+"\n"), out)
		require.Contains(t, out, "nameserver 127.0.0.1\n")
		require.Contains(t, out, "127.0.0.1\tlocalhost\n")
		require.Contains(t, out, "hosts:     files dns\n")
		out, err = output(t, n, "cat", "/etc/ssl/certs/ca-certificates.crt")
		require.NoError(t, err)
		require.Equal(t, string(n.PKI().RootPEM()), out)
	})

	t.Run("isolation", func(t *testing.T) {
		// The host sees none of it.
		after, err := os.ReadFile("/etc/resolv.conf")
		require.NoError(t, err)
		require.Equal(t, string(hostResolv), string(after))
		hostAddrs, err := net.InterfaceAddrs()
		require.NoError(t, err)
		for _, a := range hostAddrs {
			p, err := netip.ParsePrefix(a.String())
			require.NoError(t, err)
			require.NotContains(t, DefaultZone().addrs(), p.Addr())
		}

		// Inside there is only lo: check that before trying anything else.
		var names []string
		require.NoError(t, n.Do(func() error {
			ifaces, err := net.Interfaces()
			for _, i := range ifaces {
				names = append(names, i.Name)
			}
			return err
		}))
		require.Equal(t, []string{"lo"}, names)

		for _, addr := range []string{"198.51.100.1:80", "[2001:db8::99]:80", "192.0.2.99:80"} {
			err := n.Do(func() error {
				c, err := net.Dial("tcp", addr)
				if err == nil {
					c.Close()
				}
				return err
			})
			require.ErrorIs(t, err, syscall.ENETUNREACH, addr)
		}
	})

	t.Run("sysprocattr", func(t *testing.T) {
		cmd := n.Command("sleep", "10")
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		require.NoError(t, n.Start(cmd))
		defer cmd.Wait()
		defer cmd.Process.Kill()
		pgid, err := unix.Getpgid(cmd.Process.Pid)
		require.NoError(t, err)
		require.Equal(t, cmd.Process.Pid, pgid, "Setpgid kept")
		require.True(t, cmd.SysProcAttr.Setpgid)
	})

	t.Run("cgroup", func(t *testing.T) {
		root := cgroup2Root(t)
		dir, err := os.MkdirTemp(root, fmt.Sprintf("%s%d-", dirPrefix, os.Getpid()))
		require.NoError(t, err)
		defer os.Remove(dir)
		fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		require.NoError(t, err)
		defer unix.Close(fd)

		cmd := n.Command("sh", "-c", "cat /proc/self/cgroup; getent hosts v4.test")
		cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: fd}
		out, err := n.CombinedOutput(cmd)
		require.NoError(t, err, string(out))
		require.Contains(t, string(out), "0::/"+filepath.Base(dir)+"\n")
		require.Contains(t, string(out), "192.0.2.60")
	})
}

// cgroup2Root returns where cgroup v2 is mounted, or skips.
func cgroup2Root(t *testing.T) string {
	for _, dir := range []string{"/sys/fs/cgroup", "/sys/fs/cgroup/unified"} {
		var st unix.Statfs_t
		if unix.Statfs(dir, &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC {
			return dir
		}
	}
	t.Skip("no cgroup v2 mount")
	return ""
}

func TestIntegrationConfig(t *testing.T) {
	tracetest.SkipUnlessRoot(t, "a network namespace")
	zone := Zone{
		"api.test":   {Addrs: []netip.Addr{netip.MustParseAddr("203.0.113.7")}},
		"alias.test": {CNAME: "api.test"},
	}
	n := newNet(t, &Config{
		Zone:       zone,
		Sites:      []Site{{Name: "api.test", Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "api "+r.URL.Path) })}},
		Nameserver: netip.IPv6Loopback(),
		Addrs:      []netip.Addr{netip.MustParseAddr("192.0.2.99")},
	})

	out, err := output(t, n, "sh", "-c", "cat /etc/resolv.conf; getent hosts alias.test")
	require.NoError(t, err, out)
	require.Contains(t, out, "nameserver ::1\n")
	require.Contains(t, out, "203.0.113.7     api.test alias.test\n")
	require.Positive(t, n.DNS().Count("alias.test", 0, ""))

	client := n.HTTPClient()
	defer client.CloseIdleConnections()
	_, err = client.Get("https://alias.test/v1")
	require.Error(t, err, "the certificate is for api.test only")
	resp, err := client.Get("https://api.test/v1")
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, "api /v1", string(body))

	// The extra address is on lo; the default names are gone.
	resp, err = client.Get("http://192.0.2.99/")
	require.NoError(t, err)
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, "hello from 192.0.2.99\n", string(body))
	_, err = client.Get("https://example.test/")
	var dnsErr *net.DNSError
	require.ErrorAs(t, err, &dnsErr)
	require.True(t, dnsErr.IsNotFound)
}

func TestIntegrationDo(t *testing.T) {
	tracetest.SkipUnlessRoot(t, "a network namespace")
	n := newNet(t, nil)

	sentinel := errors.New("sentinel")
	require.ErrorIs(t, n.Do(func() error { return sentinel }), sentinel)

	// A panic comes back to the caller, and the namespace survives it.
	func() {
		defer func() {
			v := recover()
			require.NotNil(t, v)
			require.Contains(t, fmt.Sprint(v), "boom")
		}()
		n.Do(func() error { panic("boom") })
	}()
	// Calls from inside f run directly instead of deadlocking.
	require.NoError(t, n.Do(func() error {
		c, err := n.DialContext(t.Context(), "tcp", "example.test:80")
		if err != nil {
			return err
		}
		c.Close()
		return n.Do(func() error { return nil })
	}))

	var inside, outside string
	require.NoError(t, n.Do(func() error {
		var err error
		inside, err = os.Readlink("/proc/thread-self/ns/net")
		return err
	}))
	outside, err := os.Readlink("/proc/self/ns/net")
	require.NoError(t, err)
	require.NotEqual(t, outside, inside)

	// runtime.Goexit (t.FailNow) ends the namespace thread: later calls
	// fail instead of hanging, and Close still works.
	require.ErrorIs(t, n.Do(func() error { runtime.Goexit(); return nil }), errGone)
	require.ErrorIs(t, n.Do(func() error { return nil }), tracep.ErrClosed)
	require.ErrorIs(t, n.Start(n.Command("true")), tracep.ErrClosed)
}

// threadsIn counts the process's threads in the given network namespace.
func threadsIn(t *testing.T, netns string) int {
	t.Helper()
	tasks, err := os.ReadDir("/proc/self/task")
	require.NoError(t, err)
	count := 0
	for _, task := range tasks {
		// An exiting thread has dropped its namespaces: Readlink fails.
		if link, err := os.Readlink("/proc/self/task/" + task.Name() + "/ns/net"); err == nil && link == netns {
			count++
		}
	}
	return count
}

func TestIntegrationClose(t *testing.T) {
	tracetest.SkipUnlessRoot(t, "a network namespace")
	n, err := New(nil)
	require.NoError(t, err)

	// Leave connections open on every server: an idle keep-alive HTTPS
	// connection and a DNS-over-TCP connection in the middle of a query.
	client := n.HTTPClient()
	defer client.CloseIdleConnections()
	resp, err := client.Get("https://example.test/")
	require.NoError(t, err)
	io.ReadAll(resp.Body)
	resp.Body.Close()
	dnsConn, err := n.DialContext(t.Context(), "tcp", "127.0.0.1:53")
	require.NoError(t, err)
	defer dnsConn.Close()
	_, err = dnsConn.Write([]byte{0})
	require.NoError(t, err)
	if _, err := exec.LookPath("curl"); err == nil {
		out, err := output(t, n, "curl", "-sS", "http://example.test/")
		require.NoError(t, err, out)
	}

	var netns string
	require.NoError(t, n.Do(func() error {
		netns, err = os.Readlink("/proc/thread-self/ns/net")
		return err
	}))
	require.Equal(t, 1, threadsIn(t, netns), "one thread holds the namespace")
	require.NotEmpty(t, blockedServers(), "the check sees running servers")
	dir := n.ns.dir
	require.DirExists(t, dir)
	require.True(t, strings.HasPrefix(filepath.Base(dir), fmt.Sprintf("%s%d-", dirPrefix, os.Getpid())))

	start := time.Now()
	require.NoError(t, n.Close())
	t.Logf("Close took %v", time.Since(start))

	require.Empty(t, blockedServers())
	require.Zero(t, threadsIn(t, netns), "the namespace thread has exited")
	require.NoDirExists(t, dir)
	require.ErrorIs(t, n.Do(func() error { return nil }), tracep.ErrClosed)
	require.NoError(t, n.Close(), "idempotent")
}

func TestIntegrationParallel(t *testing.T) {
	tracetest.SkipUnlessRoot(t, "a network namespace")
	nets := make([]*Net, 2)
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for i := range nets {
		wg.Go(func() { nets[i], errs[i] = New(nil) })
	}
	wg.Wait()
	for i, n := range nets {
		require.NoError(t, errs[i])
		t.Cleanup(func() { require.NoError(t, n.Close()) })
	}

	inodes := make([]string, 2)
	bodies := make([]string, 2)
	for i, n := range nets {
		wg.Go(func() {
			errs[i] = n.Do(func() error {
				var err error
				inodes[i], err = os.Readlink("/proc/thread-self/ns/net")
				return err
			})
			if errs[i] != nil {
				return
			}
			client := n.HTTPClient()
			defer client.CloseIdleConnections()
			resp, err := client.Get("https://example.test/")
			if err != nil {
				errs[i] = err
				return
			}
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			bodies[i], errs[i] = string(b), err
		})
	}
	wg.Wait()
	for i, n := range nets {
		require.NoError(t, errs[i])
		require.Equal(t, "hello from example.test\n", bodies[i])
		require.Positive(t, n.DNS().Count("example.test", 0, ""))
	}
	require.NotEqual(t, inodes[0], inodes[1])
}

func TestIntegrationLeftovers(t *testing.T) {
	tracetest.SkipUnlessRoot(t, "a network namespace")
	// A waited-for child's pid belongs to no process any more.
	child := exec.Command("true")
	require.NoError(t, child.Run())
	stale := filepath.Join(os.TempDir(), fmt.Sprintf("%s%d-stale", dirPrefix, child.Process.Pid))
	require.NoError(t, os.MkdirAll(filepath.Join(stale, "sub"), 0o755))
	live := filepath.Join(os.TempDir(), fmt.Sprintf("%s%d-live", dirPrefix, os.Getppid()))
	require.NoError(t, os.Mkdir(live, 0o755))
	t.Cleanup(func() { os.RemoveAll(stale); os.Remove(live) })

	newNet(t, nil)
	require.NoDirExists(t, stale)
	require.DirExists(t, live, "its process still runs")
}

// TestNewNeedsPrivilege runs New without CAP_SYS_ADMIN: directly when not
// root, else by running itself again as nobody.
func TestNewNeedsPrivilege(t *testing.T) {
	if os.Geteuid() != 0 {
		n, err := New(nil)
		require.Nil(t, n)
		var perm *tracep.PermissionError
		require.ErrorAs(t, err, &perm)
		require.Equal(t, "CAP_SYS_ADMIN", perm.Capability)
		require.ErrorIs(t, err, os.ErrPermission)
		leftovers, _ := filepath.Glob(filepath.Join(os.TempDir(), fmt.Sprintf("%s%d-*", dirPrefix, os.Getpid())))
		require.Empty(t, leftovers)

		// NewT skips, or fails under TRACEP_REQUIRE_PRIVILEGED=1.
		require.Equal(t, "skip", tracetest.Outcome(func(t testing.TB) { NewT(t, nil) }))
		t.Setenv(tracetest.RequirePrivilegedEnv, "1")
		require.Equal(t, "fail", tracetest.Outcome(func(t testing.TB) { NewT(t, nil) }))
		return
	}
	cmd := tracetest.UnprivilegedCommand(t, "-test.run=^TestNewNeedsPrivilege$", "-test.v")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "TMPDIR=" + os.TempDir()}
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, string(out))
	require.Contains(t, string(out), "--- PASS: TestNewNeedsPrivilege")
}
