package tlstrace

import (
	"bufio"
	"bytes"
	"strconv"
	"strings"
)

// mapping is one executable file mapping of a process.
type mapping struct {
	start, end uint64
	// dev is the device as /proc prints it ("08:01"), major and minor.
	major, minor uint32
	inode        uint64
	path         string
}

// parseMaps returns the executable file mappings of a /proc/PID/maps
// listing, each file once (its first executable mapping).
func parseMaps(b []byte) []mapping {
	var out []mapping
	seen := map[[3]uint64]bool{}
	s := bufio.NewScanner(bytes.NewReader(b))
	s.Buffer(make([]byte, 0, 4096), 1<<20)
	for s.Scan() {
		// start-end perms offset major:minor inode [path]
		f := strings.Fields(s.Text())
		if len(f) < 6 || len(f[1]) < 3 || f[1][2] != 'x' {
			continue
		}
		lo, hi, ok := strings.Cut(f[0], "-")
		if !ok {
			continue
		}
		start, err1 := strconv.ParseUint(lo, 16, 64)
		end, err2 := strconv.ParseUint(hi, 16, 64)
		ma, mi, ok := strings.Cut(f[3], ":")
		major, err3 := strconv.ParseUint(ma, 16, 32)
		minor, err4 := strconv.ParseUint(mi, 16, 32)
		inode, err5 := strconv.ParseUint(f[4], 10, 64)
		if !ok || err1 != nil || err2 != nil || err3 != nil || err4 != nil || err5 != nil || inode == 0 {
			continue
		}
		key := [3]uint64{major, minor, inode}
		if seen[key] {
			continue
		}
		seen[key] = true
		out = append(out, mapping{start: start, end: end, major: uint32(major), minor: uint32(minor),
			inode: inode, path: strings.Join(f[5:], " ")})
	}
	return out
}
