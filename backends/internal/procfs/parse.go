package procfs

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strconv"
)

// ErrMalformed is matched by the errors of ParsePPID.
var ErrMalformed = errors.New("malformed /proc stat")

// ParsePPID returns the parent pid from the contents of /proc/PID/stat
// ("pid (comm) state ppid ..."). The fields are counted after the last ')',
// since the comm may itself hold spaces and parentheses.
func ParsePPID(stat []byte) (int, error) {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, fmt.Errorf("%w: no comm", ErrMalformed)
	}
	f := bytes.Fields(stat[i+1:])
	if len(f) < 2 {
		return 0, fmt.Errorf("%w: no ppid", ErrMalformed)
	}
	ppid, err := strconv.Atoi(string(f[1]))
	if err != nil || ppid < 0 {
		return 0, fmt.Errorf("%w: ppid %q", ErrMalformed, f[1])
	}
	return ppid, nil
}

// walk returns roots and everything below them in children, breadth first,
// each once.
func walk(roots []int, children map[int][]int) []int {
	seen := map[int]bool{}
	var out []int
	queue := slices.Clone(roots)
	for len(queue) > 0 {
		pid := queue[0]
		queue = queue[1:]
		if seen[pid] {
			continue
		}
		seen[pid] = true
		out = append(out, pid)
		queue = append(queue, children[pid]...)
	}
	return out
}
