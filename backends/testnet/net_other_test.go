//go:build !linux

package testnet

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tracep/tracep/tracep"
)

func TestNewNotSupported(t *testing.T) {
	_, err := New(nil)
	require.ErrorIs(t, err, tracep.ErrNotSupported)
}
