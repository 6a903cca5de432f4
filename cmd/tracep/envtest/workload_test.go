package envtest_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	mrand "math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tracep/tracep/harness"
	"github.com/tracep/tracep/tracep"
)

// workloadPy does, in one process, one of each thing the tracers see, in
// an order that does not depend on scheduling: a TCP connection to a
// listener of its own, a DNS query over UDP answered by a responder of its
// own, and a TLS session through OpenSSL between a client and a server of
// its own. Every port is fixed (WL_* variables), so that the normalized
// traces of two runs are equal.
const workloadPy = `import os, socket, ssl, struct, threading
d = os.path.dirname(os.path.abspath(__file__))
port = lambda n: int(os.environ[n])

def tcp_listener(p):
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", p)); s.listen(); return s

ls = tcp_listener(port("WL_TCP_PORT"))
c = socket.create_connection(ls.getsockname()); a, _ = ls.accept(); c.close(); a.close(); ls.close()

def udp(p):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", p)); return s

srv = udp(port("WL_DNS_PORT"))
def answer():
    q, peer = srv.recvfrom(512)
    rr = b"\xc0\x0c" + struct.pack(">HHIH", 1, 1, 60, 4) + bytes([192, 0, 2, 1])
    srv.sendto(q[:2] + b"\x81\x80" + struct.pack(">HHHH", 1, 1, 0, 0) + q[12:] + rr, peer)
t = threading.Thread(target=answer); t.start()
cl = udp(port("WL_DNS_CLIENT_PORT")); cl.connect(("127.0.0.1", port("WL_DNS_PORT")))
name = b"".join(bytes([len(p)]) + p for p in b"wl.example.test".split(b".")) + b"\x00"
cl.send(b"\x12\x34\x01\x00" + struct.pack(">HHHH", 1, 0, 0, 0) + name + struct.pack(">HH", 1, 1))
cl.recv(512); t.join(); cl.close(); srv.close()

sctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
sctx.load_cert_chain(os.path.join(d, "cert.pem"), os.path.join(d, "key.pem"))
cctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT); cctx.check_hostname = False; cctx.verify_mode = ssl.CERT_NONE
tl = tcp_listener(port("WL_TLS_PORT"))
def serve():
    s, _ = tl.accept()
    ss = sctx.wrap_socket(s, server_side=True)
    ss.sendall(ss.recv(100).upper())
    while ss.recv(100):
        pass
    ss.close()
t = threading.Thread(target=serve); t.start()
cs = cctx.wrap_socket(socket.create_connection(tl.getsockname()), server_hostname="wl.test")
cs.sendall(b"ping from the workload"); cs.recv(100); cs.close()
t.join(); tl.close()
`

// ports are the fixed ports of one run of the workload.
type ports struct{ tcp, tls, dns, dnsClient int }

// freePorts returns ports no socket uses now, each free for TCP and UDP,
// below the kernel's ephemeral range (32768 and up by default), so that
// the sockets of tests running meanwhile do not take them.
func freePorts() (ports, error) {
	var ps [4]int
	for i := range ps {
		for try := 0; ; try++ {
			if try == 1000 {
				return ports{}, fmt.Errorf("no free port")
			}
			p := 20000 + mrand.IntN(12000)
			if slices.Contains(ps[:i], p) {
				continue
			}
			l, err := net.Listen("tcp4", "127.0.0.1:"+strconv.Itoa(p))
			if err != nil {
				continue
			}
			u, err := net.ListenPacket("udp4", "127.0.0.1:"+strconv.Itoa(p))
			l.Close()
			if err == nil {
				u.Close()
				ps[i] = p
				break
			}
		}
	}
	return ports{ps[0], ps[1], ps[2], ps[3]}, nil
}

// env returns the workload's environment variables.
func (p ports) env() []string {
	return []string{
		"WL_TCP_PORT=" + strconv.Itoa(p.tcp), "WL_TLS_PORT=" + strconv.Itoa(p.tls),
		"WL_DNS_PORT=" + strconv.Itoa(p.dns), "WL_DNS_CLIENT_PORT=" + strconv.Itoa(p.dnsClient),
	}
}

// portsFromEnv reads what env wrote.
func portsFromEnv() (ports, error) {
	var p ports
	for _, f := range []struct {
		name string
		v    *int
	}{{"WL_TCP_PORT", &p.tcp}, {"WL_TLS_PORT", &p.tls}, {"WL_DNS_PORT", &p.dns}, {"WL_DNS_CLIENT_PORT", &p.dnsClient}} {
		n, err := strconv.Atoi(os.Getenv(f.name))
		if err != nil {
			return p, fmt.Errorf("%s: %w", f.name, err)
		}
		*f.v = n
	}
	return p, nil
}

// normalize renders the events of kind k in the golden form, in kernel
// time order (the CLI writes them as they come), with the ports named, so
// that runs with different ports compare equal.
func normalize(evs []tracep.Event, k tracep.Kind, p ports) string {
	var mine []tracep.Event
	for _, ev := range evs {
		if ev.Kind == k {
			mine = append(mine, ev)
		}
	}
	harness.SortEvents(mine)
	return harness.Normalize(mine,
		":"+strconv.Itoa(p.tcp), ":TCP", ":"+strconv.Itoa(p.tls), ":TLS",
		":"+strconv.Itoa(p.dnsClient), ":DNSCLIENT", ":"+strconv.Itoa(p.dns), ":DNS")
}

// workloadArgv is the traced command: a shell that runs uname, then the
// workload.
func workloadArgv(dir string) []string {
	return []string{"/bin/sh", "-c", "uname >/dev/null; exec /usr/bin/python3 " + filepath.Join(dir, "workload.py")}
}

// writeWorkload writes the workload and its certificate into dir.
func writeWorkload(dir string) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "wl.test"}, DNSNames: []string{"wl.test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return err
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	files := map[string]string{
		"workload.py": workloadPy,
		"cert.pem":    string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		"key.pem":     string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})),
	}
	for name, data := range files {
		// Readable by the unprivileged user of the least-privilege runs.
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// lines trims s for a failure message.
func lines(s string) string { return strings.TrimSpace(s) }
