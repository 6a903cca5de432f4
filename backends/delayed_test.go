package backends

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Calls made while a release is pending share it; one made after it ran
// arms another.
func TestDelayedOnceForMany(t *testing.T) {
	fired := make(chan struct{}, 2)
	d := &delayed{delay: time.Millisecond, f: func() { fired <- struct{}{} }}
	require.True(t, d.schedule())
	require.False(t, d.schedule(), "a second call while one is pending")
	<-fired
	require.True(t, d.schedule(), "a call after the release ran")
	<-fired
	require.Empty(t, fired)
}
