// Package testnet is a hermetic fake internet for live tests: DNS, HTTP
// and HTTPS servers inside a throwaway network namespace, with a generated
// PKI that clients inside trust.
//
// # Using it
//
// New (as root) starts one; Close tears it down. In a test, NewT does both
// and skips the test without root (fails it under
// TRACEP_REQUIRE_PRIVILEGED=1), as harness.Trace does. Net.Command makes
// an exec.Cmd that runs inside however it is started (cmd.Run,
// cmd.Output, harness.Trace); run Go code inside with Net.Do, and connect
// from Go with Net.DialContext, Net.Resolver or Net.HTTPClient:
//
//	n := testnet.NewT(t, nil)
//	out, err := n.Command("curl", "-sS", "https://example.test/").Output()
//
// curl, python3, gnutls-cli, dig, glibc's getaddrinfo and Go clients
// started inside resolve through the fake DNS and verify the fake
// certificates with no extra flags.
//
// # How it works
//
// New locks a goroutine to a new thread that calls unshare(CLONE_NEWNET |
// CLONE_NEWNS) and never unlocks it, so the thread dies with the
// namespaces when Close ends the goroutine. On that thread it makes every
// mount private, brings lo up, adds the zone's addresses to lo (each as a
// /32 or /128, with RTM_NEWADDR), and bind-mounts generated files over
// /etc/resolv.conf (nameserver 127.0.0.1, or Config.Nameserver),
// /etc/hosts (localhost only), /etc/nsswitch.conf (hosts: files dns) and
// the system CA bundles (only the fake root). Files that do not exist on
// the host are left alone, since creating them would change the host.
//
// The listening sockets are created on the namespace thread, since a
// socket belongs to the network namespace it was created in, and are then
// served by ordinary goroutines: DNS on port 53 over UDP and TCP, HTTP on
// 80 and HTTPS on 443, on the IPv4 and IPv6 wildcard addresses, so on every
// address of lo. Processes started by Net.Start fork from the namespace
// thread and inherit both namespaces. A command made by Net.Command and
// started by itself runs nsenter (util-linux) first, which joins the
// namespace thread's namespaces (/proc/PID/task/TID/ns/net and ns/mnt)
// and executes the program in the same process, so its pid, cgroup and
// parent are those its starter gave it; Net.Start takes that step out
// again.
//
// # Defaults
//
// A nil Config serves DefaultZone and DefaultSites:
//
//	example.test       192.0.2.10, 2001:db8::10; TXT; MX 10 mail.example.test
//	www.example.test   CNAME example.test
//	cname.test         CNAME www.example.test (a chain of two)
//	mail.example.test  192.0.2.11
//	pki.test           192.0.2.20, 2001:db8::20; serves /root.crt and /intermediate.crt
//	self-signed.test   192.0.2.30, 2001:db8::30; presents a self-signed certificate
//	aia.test           192.0.2.40, 2001:db8::40; sends its leaf without the intermediate
//	tc.test            192.0.2.50, 2001:db8::50; UDP answers truncated (TC), TCP answers
//	v4.test            192.0.2.60 only
//	v6.test            2001:db8::60 only
//	nxdomain.test      NXDOMAIN (as is every name not in the zone)
//	servfail.test      SERVFAIL
//
// A zone's Record can also make the server misbehave, for tests of what
// clients and tracers make of it: Mangle rewrites its answers (malformed
// messages), CutTCP closes a TCP answer short, HoldUDP sends UDP answers
// only once the client retried over TCP, HoldTCP answers a TCP query only
// after the client closed its end.
//
// HTTP and HTTPS serve example.test, www.example.test, pki.test,
// self-signed.test and aia.test with DefaultHandler ("hello from <host>",
// /echo, /bytes?n=N, /root.crt, /intermediate.crt). Certificates come from
// DefaultPKI: root CA, intermediate CA, then one ECDSA P-256 leaf per site,
// generated once per process. Leaves point at IntermediateURL and the
// intermediate at RootURL through AIA caIssuers.
//
// # Guarantees
//
// No traffic leaves lo: the network namespace has only lo and no routes,
// so a connection to anything not on lo fails with ENETUNREACH. The
// namespaces are anonymous (never bound to /var/run/netns), so a killed
// test leaves no kernel state behind; its temporary directory,
// /tmp/tracep-testnet-<pid>-*, is removed by the next New. Nothing changes
// for processes outside: the host's /etc files and network are untouched.
//
// DNSServer and PKI need no privileges and work on plain loopback, for
// unit tests. Off Linux, New fails with an error wrapping
// tracep.ErrNotSupported.
package testnet
