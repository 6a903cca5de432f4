package tracep

import (
	"fmt"
	"path"
	"time"
)

// Exec operations.
const (
	ExecOpExec = "exec" // a successful execve/execveat
	ExecOpFail = "fail" // an execve that returned an error (Errno says which)
	ExecOpExit = "exit" // the process (thread group) exited
)

// Exec is the payload of a KindExec event.
type Exec struct {
	Op string `json:"op"`
	// Filename is the path passed to execve (for a failed exec, the one that failed).
	Filename string `json:"filename,omitempty"`
	// Argv is read from the new process image, so it is what the program really got.
	Argv []string `json:"argv,omitempty"`
	// ArgvTruncated is set when argv was not captured whole: cut at a
	// configured limit, or a piece of it lost.
	ArgvTruncated bool `json:"argv_truncated,omitempty"`
	// ArgvSize is the size in bytes of the process's whole argv (NUL
	// separators included) when ArgvTruncated is set and it is known.
	ArgvSize int `json:"argv_size,omitempty"`
	// Errno is the symbolic error of a failed exec, e.g. "ENOENT".
	Errno string `json:"errno,omitempty"`
	// ExitCode is the exit status of an exited process, or -1 when a signal ended it.
	ExitCode int `json:"exit_code,omitempty"`
	// Signal names the signal that ended the process, e.g. "SIGKILL".
	Signal string `json:"signal,omitempty"`
	// CoreDumped is set when the process dumped core.
	CoreDumped bool `json:"core_dumped,omitempty"`
	// Duration is how long the process ran (exit events only).
	Duration time.Duration `json:"duration_ns,omitempty"`
}

// Kind is KindExec.
func (x *Exec) Kind() Kind { return KindExec }

// Text: "exec /usr/bin/id: id -u", "exec /x failed: ENOENT",
// "exit status 1", "exit signal SIGSEGV (core dumped)".
func (x *Exec) Text() string { return x.text() }

// Stable is Text: nothing in an exec event differs between runs.
func (x *Exec) Stable() string { return x.text() }

func (x *Exec) text() string {
	switch x.Op {
	case ExecOpExec:
		s := fmt.Sprintf("exec %s: %s", Escape(x.Filename), ShellJoin(x.Argv))
		if x.ArgvTruncated {
			s += " …(" + x.argvCut() + ")"
		}
		return s
	case ExecOpFail:
		return fmt.Sprintf("exec %s failed: %s", Escape(x.Filename), x.Errno)
	case ExecOpExit:
		s := fmt.Sprintf("exit status %d", x.ExitCode)
		if x.Signal != "" {
			s = "exit signal " + x.Signal
		}
		if x.CoreDumped {
			s += " (core dumped)"
		}
		return s
	}
	return "exec " + Escape(x.Op)
}

// IsAction: a program was run (successfully).
func (x *Exec) IsAction() bool { return x.Op == ExecOpExec }

// DerivedKeys: "prog", the base name of the executed file, and "args",
// the argv shell-quoted and joined by spaces.
func (x *Exec) DerivedKeys(add func(key, value string)) {
	if x.Filename != "" {
		add("prog", path.Base(x.Filename))
	}
	add("args", ShellJoin(x.Argv))
}

// Incomplete: an argv not captured whole.
func (x *Exec) Incomplete() string {
	if x.ArgvTruncated {
		return x.argvCut()
	}
	return ""
}

// argvCut says how an argv was cut: "argv truncated", "argv truncated, 40960
// bytes in all".
func (x *Exec) argvCut() string {
	if x.ArgvSize > 0 {
		return fmt.Sprintf("argv truncated, %d bytes in all", x.ArgvSize)
	}
	return "argv truncated"
}

// AuditKeys: the program's path.
func (x *Exec) AuditKeys() []string { return []string{"filename"} }

// CutKeys: the argv.
func (x *Exec) CutKeys() []string { return []string{"argv", "args"} }

// Place heads a segment with a program, folds failed attempts and puts the
// exit last.
func (x *Exec) Place() (Place, string) {
	switch x.Op {
	case ExecOpExec:
		return PlaceProgram, ""
	case ExecOpExit:
		return PlaceExit, ""
	default:
		return PlaceAttempt, ""
	}
}
