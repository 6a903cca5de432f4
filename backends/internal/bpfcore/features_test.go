package bpfcore

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tracep/tracep/tracep"
)

// A missing feature is one line naming it and the Linux version that
// brought it, and matches tracep.ErrNotSupported.
func TestMissingFeatureError(t *testing.T) {
	f := FeatureNamed("bpf_loop")
	require.NotNil(t, f)
	err := &MissingFeatureError{Feature: f}
	require.Equal(t, "needs the bpf_loop helper (Linux 5.17), which this kernel lacks", err.Error())
	require.ErrorIs(t, err, tracep.ErrNotSupported)
	disabled := &MissingFeatureError{Feature: f, Disabled: true}
	require.Equal(t, "needs the bpf_loop helper (Linux 5.17), disabled by TRACEP_DISABLE", disabled.Error())
}

func TestFeatureTable(t *testing.T) {
	seen := map[string]bool{}
	for _, f := range Features {
		require.False(t, seen[f.Name], "%s twice", f.Name)
		seen[f.Name] = true
		require.NotEmpty(t, f.What, f.Name)
		require.Regexp(t, `^[0-9]+\.[0-9]+$`, f.Since, f.Name)
		for _, k := range f.Kinds {
			_, err := kindIndex(k)
			require.NoError(t, err, f.Name)
		}
	}
	for _, f := range Features {
		if f.Unless != "" {
			require.True(t, seen[f.Unless], "%s: unless %s", f.Name, f.Unless)
			require.NotEmpty(t, FeatureNamed(f.Unless).Fallback, "%s stands in for a feature with a fallback", f.Name)
		}
	}
	require.True(t, FeatureNamed("btf").Needed(tracep.KindExec))
	require.False(t, FeatureNamed("cgroup_skb").Needed(tracep.KindExec))
	require.True(t, FeatureNamed("cgroup_skb").Needed(tracep.KindDNS))
}

func TestDisabled(t *testing.T) {
	t.Setenv(DisableEnv, "uprobe_multi,tp_btf")
	require.True(t, Disabled("uprobe_multi"))
	require.True(t, Disabled("tp_btf"))
	require.False(t, Disabled("btf"))
	t.Setenv(DisableEnv, "")
	require.False(t, Disabled("uprobe_multi"))
}

// errors.As finds the feature through the wrapping Need adds.
func TestMissingFeatureAs(t *testing.T) {
	err := error(&MissingFeatureError{Feature: FeatureNamed("ringbuf")})
	var mf *MissingFeatureError
	require.True(t, errors.As(errors.Join(errors.New("x"), err), &mf))
	require.Equal(t, "ringbuf", mf.Feature.Name)
}
