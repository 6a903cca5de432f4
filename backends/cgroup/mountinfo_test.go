package cgroup

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tracep/tracep/tracep"
)

func TestParseMountinfo(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
	}{
		{"hybrid", "31 1 0:26 / /sys/fs/cgroup ro - tmpfs tmpfs ro\n41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n", "/sys/fs/cgroup/unified"},
		{"optional fields", "22 27 0:21 / /sys rw shared:7 - sysfs sysfs rw\n31 30 0:27 / /sys/fs/cgroup/unified rw,nosuid shared:10 master:1 - cgroup2 cgroup2 rw\n", "/sys/fs/cgroup/unified"},
		{"pure v2", "30 23 0:26 / /sys/fs/cgroup rw,nosuid shared:4 - cgroup2 cgroup2 rw,nsdelegate\n", "/sys/fs/cgroup"},
		{"escaped", "41 31 0:38 / /mnt/my\\040cg rw - cgroup2 none rw\n", "/mnt/my cg"},
		{"v1 only", "35 31 0:30 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n", ""},
		{"read-only last", "30 23 0:26 / /sys/fs/cgroup ro,nosuid - cgroup2 cgroup2 rw\n31 23 0:26 / /mnt/cg rw - cgroup2 cgroup2 rw\n", "/mnt/cg"},
		{"super block read-only", "30 23 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 ro\n31 23 0:26 /x /mnt/x ro - cgroup2 cgroup2 rw\n", "/sys/fs/cgroup"},
		{"subtree after root", "31 23 0:26 /docker/abc /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n32 23 0:26 / /mnt/cg rw - cgroup2 cgroup2 rw\n", "/mnt/cg"},
		{"subtree alone", "31 23 0:26 /docker/abc /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n", "/sys/fs/cgroup"},
		{"garbage", "nonsense\n\n - \n", ""},
		{"empty", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseMountinfo([]byte(tc.in))
			if tc.want == "" {
				require.ErrorIs(t, err, tracep.ErrNotSupported)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}

// Every cgroup2 mount is listed, with the directory it shows and whether
// it is read-only (the mount's or the super block's flags).
func TestParseMounts(t *testing.T) {
	in := "30 23 0:26 / /sys/fs/cgroup ro,nosuid - cgroup2 cgroup2 rw\n" +
		"31 23 0:26 /a\\040b /mnt/sub rw - cgroup2 cgroup2 rw,nsdelegate\n" +
		"32 23 0:27 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n" +
		"33 23 0:26 / /mnt/cg rw,relatime shared:4 - cgroup2 none rw\n"
	require.Equal(t, []mountEntry{
		{point: "/mnt/cg", root: "/"},
		{point: "/mnt/sub", root: "/a b"},
		{point: "/sys/fs/cgroup", root: "/", readOnly: true},
	}, parseMounts([]byte(in)))
}

func TestUnescapeMount(t *testing.T) {
	for in, want := range map[string]string{
		`/plain`:          `/plain`,
		`/a\040b\134x`:    `/a b\x`,
		`/bad\09`:         `/bad\09`,
		`/end\04`:         `/end\04`,
		`/toolarge\400`:   `/toolarge\400`,
		`/sign\+12`:       `/sign\+12`,
		`\011tab\012nl`:   "\ttab\nnl",
		`/trailing\\`:     `/trailing\\`,
		`/double\134\134`: `/double\\`,
	} {
		require.Equal(t, want, unescapeMount(in), "%q", in)
	}
}
