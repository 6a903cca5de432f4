package cgroup

import (
	"bufio"
	"bytes"
	"fmt"
	"strconv"
	"strings"

	"github.com/tracep/tracep/tracep"
)

// parseMountinfo returns the mount point of the first cgroup2 file system
// in b, the contents of /proc/self/mountinfo.
func parseMountinfo(b []byte) (string, error) {
	s := bufio.NewScanner(bytes.NewReader(b))
	for s.Scan() {
		// 41 31 0:38 / /sys/fs/cgroup/unified rw,relatime shared:10 - cgroup2 cgroup2 rw
		pre, post, ok := strings.Cut(s.Text(), " - ")
		if !ok {
			continue
		}
		fields, fstype := strings.Fields(pre), strings.Fields(post)
		if len(fields) >= 5 && len(fstype) >= 1 && fstype[0] == "cgroup2" {
			return unescapeMount(fields[4]), nil
		}
	}
	return "", fmt.Errorf("no cgroup2 mount: %w", tracep.ErrNotSupported)
}

// unescapeMount undoes the octal escapes (\040 for a space) of mountinfo.
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
