package procfs

import (
	"fmt"
	"os"
	"strconv"
)

// PPID returns the parent pid of process pid.
func PPID(pid int) (int, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	return ParsePPID(b)
}

// AllPIDs lists the processes of the system.
func AllPIDs() ([]int, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, fmt.Errorf("list processes: %w", err)
	}
	var out []int
	for _, e := range entries {
		if pid, err := strconv.Atoi(e.Name()); err == nil && pid > 0 {
			out = append(out, pid)
		}
	}
	return out, nil
}

// Descendants returns pids, each once and in order, followed by every
// process now below them, parents before their children. A listed pid is
// returned whether it exists or not.
func Descendants(pids []int) ([]int, error) {
	all, err := AllPIDs()
	if err != nil {
		return nil, err
	}
	children := map[int][]int{}
	for _, pid := range all {
		if ppid, err := PPID(pid); err == nil { // else it has exited
			children[ppid] = append(children[ppid], pid)
		}
	}
	return walk(pids, children), nil
}
