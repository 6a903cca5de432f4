package harness

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tracep/tracep/tracep"
)

func TestLinks(t *testing.T) {
	tlsEv := tracep.Event{Kind: tracep.KindTLS, Proc: tracep.Proc{PID: 11}, TLS: &tracep.TLS{Op: tracep.TLSOpWrite, SNI: "Example.test"}}
	c := &Capture{Events: numbered(
		execEvent(10, 1, "/bin/sh", "sh", "-c", "curl"),
		execEvent(11, 10, "/usr/bin/curl", "curl"),
		dnsEvent(12, "example.test", "192.0.2.10"), // another process resolved it first
		dnsEvent(11, "example.test", "192.0.2.10"),
		dnsEvent(11, "other.test", "198.51.100.1"),
		connEvent(11, "192.0.2.10:443"),
		tlsEv,
		connEvent(11, "203.0.113.9:443"),
	)}
	roots := c.Processes()
	require.Len(t, roots, 2, "sh and the unrelated pid 12")
	sh := roots[0]
	require.Equal(t, int32(10), sh.PID)
	require.Len(t, sh.Children, 1)
	curl := sh.Children[0]
	require.Equal(t, []string{"curl"}, curl.Argv)
	require.Same(t, sh, curl.Parent)
	require.Len(t, curl.Events, 6)

	ans, ok := c.AnswerFor(c.Events[5])
	require.True(t, ok)
	require.Equal(t, int32(11), ans.Proc.PID, "the same process's lookup is preferred")
	require.Equal(t, uint64(4), ans.Seq)
	_, ok = c.AnswerFor(c.Events[7])
	require.False(t, ok, "a hard-coded address has no answer")

	conn, ok := c.ConnectionFor(c.Events[6])
	require.True(t, ok)
	require.Equal(t, netip.MustParseAddrPort("192.0.2.10:443"), conn.Net.Dst)

	require.Equal(t, []string{"example.test"}, c.SNIs())
	require.Equal(t, []string{"example.test", "other.test"}, c.Names())
}
