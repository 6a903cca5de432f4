package bpfcore

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestCapsMissing(t *testing.T) {
	net := TracingCaps | CapNetAdmin
	tls := TracingCaps | CapKill | CapSysPtrace | CapCheckpointRestore
	for _, tc := range []struct {
		name       string
		need, held Caps
		want       string
	}{
		{"all held", net, net, ""},
		{"sys admin stands for all", net, CapSysAdmin, ""},
		{"none held", TracingCaps, 0, "CAP_BPF and CAP_PERFMON (or CAP_SYS_ADMIN)"},
		{"one missing", net, TracingCaps, "CAP_NET_ADMIN (or CAP_SYS_ADMIN)"},
		{"three missing", net, 0, "CAP_BPF, CAP_PERFMON and CAP_NET_ADMIN (or CAP_SYS_ADMIN)"},
		{"unrelated held", TracingCaps, CapNetAdmin | CapBPF, "CAP_PERFMON (or CAP_SYS_ADMIN)"},
		{"sys admin is not kill", tls, CapSysAdmin, "CAP_KILL and CAP_SYS_PTRACE"},
		{"tls none held", tls, 0, "CAP_BPF, CAP_PERFMON, CAP_CHECKPOINT_RESTORE, CAP_KILL and CAP_SYS_PTRACE (or CAP_SYS_ADMIN for CAP_BPF, CAP_PERFMON and CAP_CHECKPOINT_RESTORE)"},
		{"tls all held", tls, tls, ""},
		{"sys admin needed", CapSysAdmin | CapBPF | CapKill, CapKill, "CAP_SYS_ADMIN"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := tc.need.missing(tc.held)
			if tc.want == "" {
				require.Zero(t, m)
				return
			}
			require.Equal(t, tc.want, m.String())
		})
	}
}
