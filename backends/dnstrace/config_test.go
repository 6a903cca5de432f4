package dnstrace

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tracep/tracep/tracep"
)

func TestConfigNormalize(t *testing.T) {
	c, err := Config{Ports: []uint16{5353, 53, 5353}}.normalize()
	require.NoError(t, err)
	require.Equal(t, Config{Ports: []uint16{53, 5353}, SnapLen: MaxSnapLen, Timeout: DefaultTimeout, RingBytes: DefaultRingBytes}, c)
	for _, bad := range []Config{
		{Ports: []uint16{0, 53}},
		{SnapLen: -1},
		{SnapLen: 5},
		{SnapLen: MaxSnapLen + 1},
		{Timeout: -1},
		{MaxPending: -1},
		{RingBytes: 128 << 10},
	} {
		_, err := bad.normalize()
		require.ErrorIs(t, err, tracep.ErrInvalid, "%+v", bad)
	}
}
