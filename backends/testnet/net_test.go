package testnet

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tracep/tracep/tracep"
)

// TestNewInvalidConfig needs no privileges: New checks its Config first.
func TestNewInvalidConfig(t *testing.T) {
	t.Parallel()
	for name, cfg := range map[string]*Config{
		"unspecified nameserver": {Nameserver: netip.IPv4Unspecified()},
		"zoned nameserver":       {Nameserver: netip.MustParseAddr("fe80::1%lo")},
		"invalid addr":           {Addrs: []netip.Addr{{}}},
		"bad zone":               {Zone: Zone{"": {}}},
		"bad site":               {Sites: []Site{{Name: ""}}},
	} {
		t.Run(name, func(t *testing.T) {
			n, err := New(cfg)
			require.ErrorIs(t, err, tracep.ErrInvalid)
			require.Nil(t, n)
		})
	}
}
