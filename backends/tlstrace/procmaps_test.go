package tlstrace

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseMaps(t *testing.T) {
	maps := `55d4c5a00000-55d4c5a28000 r--p 00000000 08:01 1835014                    /usr/bin/curl
55d4c5a28000-55d4c5a8c000 r-xp 00028000 08:01 1835014                    /usr/bin/curl
7f1c3f5e4000-7f1c3f600000 r--p 00000000 08:01 1837001                    /usr/lib/x86_64-linux-gnu/libssl.so.3
7f1c3f600000-7f1c3f660000 r-xp 0001c000 08:01 1837001                    /usr/lib/x86_64-linux-gnu/libssl.so.3
7f1c3f700000-7f1c3f710000 r-xp 0001c000 08:01 1837001                    /usr/lib/x86_64-linux-gnu/libssl.so.3
7f1c3f800000-7f1c3f810000 r-xp 00000000 00:1f 42                         /tmp/dir with space/lib.so (deleted)
7f1c3f900000-7f1c3f910000 rwxp 00000000 00:00 0 
7ffd1b5fe000-7ffd1b600000 r-xp 00000000 00:00 0                          [vdso]
garbage line
`
	got := parseMaps([]byte(maps))
	require.Equal(t, []mapping{
		{start: 0x55d4c5a28000, end: 0x55d4c5a8c000, major: 8, minor: 1, inode: 1835014, path: "/usr/bin/curl"},
		{start: 0x7f1c3f600000, end: 0x7f1c3f660000, major: 8, minor: 1, inode: 1837001, path: "/usr/lib/x86_64-linux-gnu/libssl.so.3"},
		{start: 0x7f1c3f800000, end: 0x7f1c3f810000, major: 0, minor: 0x1f, inode: 42, path: "/tmp/dir with space/lib.so (deleted)"},
	}, got)
}
