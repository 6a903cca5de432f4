// Package cgroup finds cgroup v2 directories by id, for the BPF backends'
// cgroup scopes, and makes the throwaway ones that scope a traced workload.
//
// A workload started inside its own cgroup ([Cgroup.Command], or
// [Cgroup.Enroll]: clone3 with CLONE_INTO_CGROUP) is in it from its first
// instruction, and so is everything it forks, including daemonised
// grandchildren that outlive their parents. The cgroup's id is what the
// BPF backends filter on, which makes traces exact and parallel-safe.
//
// The cgroup2 mount is found in /proc/self/mountinfo (hybrid hosts mount it
// at /sys/fs/cgroup/unified, pure v2 hosts at /sys/fs/cgroup). Directories
// are named tracep.<pid>.<n>; New removes the ones left by a process that no
// longer exists (a SIGKILLed test binary), and never touches others.
package cgroup
