package tlstrace_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"crypto/tls"
	"os/exec"
	"syscall"
	"testing"

	"github.com/cilium/ebpf"

	"github.com/tracep/tracep/backends/tlstrace"
	"github.com/tracep/tracep/harness/cgroup"
	"github.com/tracep/tracep/tracep"
)

func dbgMap(t *testing.T) []uint64 {
	var id ebpf.MapID
	var best *ebpf.Map
	for {
		next, err := ebpf.MapGetNextID(id)
		if err != nil {
			break
		}
		id = next
		m, err := ebpf.NewMapFromID(id)
		if err != nil {
			continue
		}
		info, _ := m.Info()
		if info != nil && info.Name == "tlsx_dbg" {
			if best != nil {
				best.Close()
			}
			best = m
			continue
		}
		m.Close()
	}
	if best == nil {
		return nil
	}
	defer best.Close()
	var out []uint64
	for i := uint32(0); i < 8; i++ {
		var v uint64
		best.Lookup(i, &v)
		out = append(out, v)
	}
	return out
}

func TestDbgTmp(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hi\n") }))
	srv.TLS = &tls.Config{NextProtos: []string{"http/1.1"}}
	srv.StartTLS()
	defer srv.Close()
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	for i := 0; i < 40; i++ {
		cg, _ := cgroup.New()
		var c collector
		s, err := tlstrace.Start(context.Background(), tlstrace.Config{Scope: tracep.Scope{CgroupID: cg.ID()}}, c.emit)
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command("curl", "-sk", "-o", "/dev/null", "--resolve", "tls.test:"+port+":127.0.0.1", "https://tls.test:"+port+"/")
		cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: cg.FD()}
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatal(err, string(out))
		}
		cg.Kill(0)
		err = s.Close()
		cg.Close()
		hs := ops(c.all(), tracep.TLSOpHandshake, 0)
		t.Logf("round %d: hs=%d events=%d err=%v dbg=%v", i, len(hs), len(c.all()), err, dbgMap(t))
		if len(hs) == 0 {
			t.Fatalf("missing handshake: %s", describeAll(c.all()))
		}
	}
}
