package exectrace

import "strconv"

// The kernel reports Linux signal numbers whatever GOOS decodes them, so
// the names come from this table rather than from the host's syscall
// package. It equals golang.org/x/sys/unix's SignalName on Linux (checked
// by TestNameTablesMatchUnix); errno names come from bpfcore.ErrnoName.

// signalName returns the symbolic name of Linux signal n, e.g. "SIGKILL".
func signalName(n int) string {
	if n > 0 && n < len(linuxSignal) && linuxSignal[n] != "" {
		return linuxSignal[n]
	}
	return "SIG" + strconv.Itoa(n)
}

var linuxSignal = [...]string{
	1:  "SIGHUP",
	2:  "SIGINT",
	3:  "SIGQUIT",
	4:  "SIGILL",
	5:  "SIGTRAP",
	6:  "SIGABRT",
	7:  "SIGBUS",
	8:  "SIGFPE",
	9:  "SIGKILL",
	10: "SIGUSR1",
	11: "SIGSEGV",
	12: "SIGUSR2",
	13: "SIGPIPE",
	14: "SIGALRM",
	15: "SIGTERM",
	16: "SIGSTKFLT",
	17: "SIGCHLD",
	18: "SIGCONT",
	19: "SIGSTOP",
	20: "SIGTSTP",
	21: "SIGTTIN",
	22: "SIGTTOU",
	23: "SIGURG",
	24: "SIGXCPU",
	25: "SIGXFSZ",
	26: "SIGVTALRM",
	27: "SIGPROF",
	28: "SIGWINCH",
	29: "SIGIO",
	30: "SIGPWR",
	31: "SIGSYS",
}
