// Package cgroup finds cgroup v2 directories by id, for the BPF backends'
// cgroup scopes, and makes the throwaway ones that scope a traced workload.
//
// A workload started inside its own cgroup ([Cgroup.Command], or
// [Cgroup.Enroll]: clone3 with CLONE_INTO_CGROUP) is in it from its first
// instruction, and so is everything it forks, including daemonised
// grandchildren that outlive their parents. The cgroup's id is what the
// BPF backends filter on, which makes traces exact and parallel-safe.
//
// The hierarchy is found once per process ([Find]): the best cgroup2 mount
// of /proc/self/mountinfo (read-write and showing the root; hybrid hosts
// mount it at /sys/fs/cgroup/unified, pure v2 hosts at /sys/fs/cgroup, some
// elsewhere), or, when none is visible or all are read-only (under `ip
// netns exec`, which remounts /sys; in a container), a private mount: an
// fsopen/fsmount mount attached nowhere, reached through its descriptor
// (/proc/self/fd/N), seen by no other process and gone when the process
// exits. [System] is the root of the whole system's hierarchy, where the
// net and dns hooks attach: in a cgroup namespace rooted below the top,
// through the initial cgroup namespace when it can be entered.
//
// Directories are named tracep.<pid>.<n> (tracep.<pid>-<pidns>.<n> in a pid
// namespace other than the initial one); New removes the ones left by a
// process of its pid namespace that no longer exists (a SIGKILLed test
// binary), and never touches others. Without the right to write at the
// root (CAP_DAC_OVERRIDE), New makes its cgroup below the process's own,
// when that subtree is delegated to its user.
package cgroup
