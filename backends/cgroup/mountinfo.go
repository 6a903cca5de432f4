package cgroup

import (
	"bufio"
	"bytes"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/tracep/tracep/tracep"
)

// mountEntry is a cgroup2 mount of /proc/self/mountinfo.
type mountEntry struct {
	point    string // the mount point
	root     string // the directory of the hierarchy it shows: "/" for the namespace's root
	readOnly bool
}

// parseMounts returns the cgroup2 file systems of b, the contents of
// /proc/self/mountinfo, best first: read-write before read-only, then
// those showing the root of the hierarchy (of this cgroup namespace) before
// a subtree, then in mount order.
func parseMounts(b []byte) []mountEntry {
	var out []mountEntry
	s := bufio.NewScanner(bytes.NewReader(b))
	for s.Scan() {
		// 41 31 0:38 / /sys/fs/cgroup/unified rw,relatime shared:10 - cgroup2 cgroup2 rw
		pre, post, ok := strings.Cut(s.Text(), " - ")
		if !ok {
			continue
		}
		fields, fstype := strings.Fields(pre), strings.Fields(post)
		if len(fields) < 6 || len(fstype) < 1 || fstype[0] != "cgroup2" {
			continue
		}
		ro := slices.Contains(strings.Split(fields[5], ","), "ro")
		if len(fstype) >= 3 && slices.Contains(strings.Split(fstype[2], ","), "ro") {
			ro = true
		}
		out = append(out, mountEntry{point: unescapeMount(fields[4]), root: unescapeMount(fields[3]), readOnly: ro})
	}
	rank := func(m mountEntry) int {
		r := 0
		if m.readOnly {
			r += 2
		}
		if m.root != "/" {
			r++
		}
		return r
	}
	slices.SortStableFunc(out, func(a, b mountEntry) int { return rank(a) - rank(b) })
	return out
}

// parseMountinfo returns the mount point of the best cgroup2 file system
// in b (see parseMounts), or an error wrapping tracep.ErrNotSupported when
// there is none.
func parseMountinfo(b []byte) (string, error) {
	ms := parseMounts(b)
	if len(ms) == 0 {
		return "", fmt.Errorf("no cgroup2 mount: %w", tracep.ErrNotSupported)
	}
	return ms[0].point, nil
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
