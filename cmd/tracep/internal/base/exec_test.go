package base

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tracep/tracep/tracep"
)

func execEv(pid, ppid int32, comm string, x tracep.Exec) tracep.Event {
	return tracep.Event{Kind: tracep.KindExec, Proc: tracep.Proc{PID: pid, PPID: ppid, Comm: comm}, Exec: &x}
}

// The lines of tracep exec: the reference's layout, colours and quoting.
func TestExecFormat(t *testing.T) {
	evs := []tracep.Event{
		execEv(100, 1, "sh", tracep.Exec{Op: tracep.ExecOpExec, Filename: "/bin/sh", Argv: []string{"sh", "-c", "echo 'hi' there"}}),
		execEv(101, 100, "ls", tracep.Exec{Op: tracep.ExecOpExec, Filename: "/bin/ls", Argv: []string{"ls", "a\x1bb", ""}, ArgvTruncated: true}),
		execEv(102, 100, "x", tracep.Exec{Op: tracep.ExecOpExec, Filename: "/bin/x"}),
		execEv(101, 100, "ls", tracep.Exec{Op: tracep.ExecOpFail, Filename: "/no such", Errno: "ENOENT"}),
		execEv(101, 100, "ls", tracep.Exec{Op: tracep.ExecOpExit, ExitCode: 2, Duration: 1500 * time.Millisecond}),
		execEv(102, 100, "x", tracep.Exec{Op: tracep.ExecOpExit, ExitCode: -1, Signal: "SIGKILL", Duration: time.Millisecond}),
		execEv(100, 1, "sh", tracep.Exec{Op: tracep.ExecOpExit}),
	}
	for _, tt := range []struct {
		name  string
		color bool
		flags []string
		want  string
	}{
		{"plain", false, nil, "" +
			"100 sh -c 'echo '\\''hi'\\'' there'\n" +
			"  101 ls $'a\\x1bb' '' …[argv truncated]\n" +
			"  102 [x]\n"},
		{"exits, flat", false, []string{"-t", "-f"}, "" +
			"100+ sh -c 'echo '\\''hi'\\'' there'\n" +
			"101+ ls $'a\\x1bb' '' …[argv truncated]\n" +
			"102+ [x]\n" +
			"101! '/no such' ENOENT\n" +
			"101- ls exited status=2 time=1.500s\n" +
			"102- x exited signal=SIGKILL time=0.001s\n" +
			"100- sh exited status=0 time=0.000s\n"},
		{"colour, argv[0] only", true, []string{"-t", "-q"}, "" +
			"\x1b[33m100\x1b[0m\x1b[32m+\x1b[0m \x1b[96msh\x1b[0m\n" +
			"  \x1b[33m101\x1b[0m\x1b[32m+\x1b[0m \x1b[96mls\x1b[0m\x1b[31m …[argv truncated]\x1b[0m\n" +
			"  \x1b[33m102\x1b[0m\x1b[32m+\x1b[0m \x1b[2m[x]\x1b[0m\n" +
			"  \x1b[33m101\x1b[0m\x1b[31m!\x1b[0m '/no such' \x1b[31mENOENT\x1b[0m\n" +
			"  \x1b[33m101\x1b[0m\x1b[31m-\x1b[0m \x1b[2mls\x1b[0m exited \x1b[31mstatus=2\x1b[0m time=1.500s\n" +
			"  \x1b[33m102\x1b[0m\x1b[31m-\x1b[0m \x1b[2mx\x1b[0m exited \x1b[91msignal=SIGKILL\x1b[0m time=0.001s\n" +
			"\x1b[33m100\x1b[0m\x1b[31m-\x1b[0m \x1b[2msh\x1b[0m exited \x1b[32mstatus=0\x1b[0m time=0.000s\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, printed(t, &execCmd{}, "exec", tt.color, tt.flags, evs...))
		})
	}
}
