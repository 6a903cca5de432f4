package tlstrace

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tracep/tracep/tracep"
)

func TestConfigNormalize(t *testing.T) {
	c, err := Config{}.normalize()
	require.NoError(t, err)
	require.Equal(t, DefaultDataLimit, c.DataLimit)
	require.Equal(t, DefaultRingBytes, c.RingBytes)

	c, err = Config{DataLimit: MaxDataLimit, RingBytes: 3 << 20}.normalize()
	require.NoError(t, err)
	require.Equal(t, 4<<20, c.RingBytes)

	for _, bad := range []Config{
		{DataLimit: -1},
		{DataLimit: MaxDataLimit + 1},
		{RingBytes: -1},
		{DataLimit: MaxDataLimit, RingBytes: 1 << 20}, // fewer than eight records
	} {
		_, err := bad.normalize()
		require.ErrorIs(t, err, tracep.ErrInvalid, "%+v", bad)
	}
}

func TestConfigParam(t *testing.T) {
	scoped := tracep.Scope{CgroupID: 7}
	require.Equal(t, uint32(100)|1<<31, Config{Scope: scoped, DataLimit: 100}.param())
	require.Equal(t, uint32(100), Config{Scope: scoped, DataLimit: 100, NoHold: true}.param())
	// The whole system is never held.
	require.Equal(t, uint32(100), Config{DataLimit: 100}.param())
}
