package exectrace

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tracep/tracep/tracep"
)

// rec describes a raw record for tests; build lays it out as the BPF
// programs do.
type rec struct {
	ktime    uint64
	typ      uint32
	proc     tracep.Proc
	flags    uint32
	filename string
	argv     []byte
	argvSize uint32 // 0: len(argv)
	status   int32
	runtime  uint64
	// fnLen and argvLen override the length fields when non-zero, to
	// build inconsistent records.
	fnLen, argvLen uint32
}

func (r rec) build() []byte {
	b := make([]byte, recHeaderSize, recHeaderSize+len(r.filename)+len(r.argv))
	le := binary.LittleEndian
	le.PutUint64(b[offKtime:], r.ktime)
	le.PutUint32(b[offType:], r.typ)
	procFields.Put(b, r.proc)
	le.PutUint32(b[offFlags:], r.flags)
	fnLen, argvLen, argvSize := uint32(len(r.filename)), uint32(len(r.argv)), r.argvSize
	if r.fnLen != 0 {
		fnLen = r.fnLen
	}
	if r.argvLen != 0 {
		argvLen = r.argvLen
	}
	if argvSize == 0 {
		argvSize = uint32(len(r.argv))
	}
	le.PutUint32(b[offFilenameLen:], fnLen)
	le.PutUint32(b[offArgvLen:], argvLen)
	le.PutUint32(b[offArgvSize:], argvSize)
	le.PutUint32(b[offStatus:], uint32(r.status))
	le.PutUint64(b[offRuntime:], r.runtime)
	b = append(b, r.filename...)
	return append(b, r.argv...)
}

func argvBytes(args ...string) []byte {
	var b bytes.Buffer
	for _, a := range args {
		b.WriteString(a)
		b.WriteByte(0)
	}
	return b.Bytes()
}

func TestDecode(t *testing.T) {
	proc := tracep.Proc{PID: 100, TID: 100, PPID: 7, UID: 1000, Comm: "true", CgroupID: 44}
	base := rec{ktime: 123456789, proc: proc}
	with := func(f func(*rec)) rec {
		r := base
		f(&r)
		return r
	}
	// cut is an exec of /bin/echo whose argv was cut to argv.
	cut := func(argv string) func(*rec) {
		return func(r *rec) {
			r.typ, r.filename, r.argv, r.argvSize, r.flags = recExec, "/bin/echo", []byte(argv), 20, flagArgvTrunc
		}
	}
	tests := []struct {
		name string
		rec  rec
		want *tracep.Exec
		proc *tracep.Proc // default proc
	}{
		{
			name: "exec",
			rec: with(func(r *rec) {
				r.typ, r.filename, r.argv = recExec, "/bin/true", argvBytes("/bin/true", "a b", "")
			}),
			want: &tracep.Exec{Op: tracep.ExecOpExec, Filename: "/bin/true", Argv: []string{"/bin/true", "a b", ""}},
		},
		{
			name: "exec cut inside an argument",
			rec:  with(cut("/bin/echo\x00hel")),
			want: &tracep.Exec{Op: tracep.ExecOpExec, Filename: "/bin/echo", Argv: []string{"/bin/echo", "hel"}, ArgvTruncated: true},
		},
		{
			name: "exec cut after a separator",
			rec:  with(cut("/bin/echo\x00")),
			want: &tracep.Exec{Op: tracep.ExecOpExec, Filename: "/bin/echo", Argv: []string{"/bin/echo"}, ArgvTruncated: true},
		},
		{
			name: "exec shorter than its size is truncated without the flag",
			rec: with(func(r *rec) {
				r.typ, r.filename = recExec, "/x"
				r.argv = []byte("/x\x00")
				r.argvSize = 9
			}),
			want: &tracep.Exec{Op: tracep.ExecOpExec, Filename: "/x", Argv: []string{"/x"}, ArgvTruncated: true},
		},
		{
			name: "exec whose argv faulted",
			rec: with(func(r *rec) {
				r.typ, r.filename, r.flags, r.argvSize = recExec, "/x", flagArgvFault, 10
			}),
			want: &tracep.Exec{Op: tracep.ExecOpExec, Filename: "/x", ArgvTruncated: true},
		},
		{
			name: "exec with argc 0",
			rec:  with(func(r *rec) { r.typ, r.filename, r.argv = recExec, "/x", []byte{0} }),
			want: &tracep.Exec{Op: tracep.ExecOpExec, Filename: "/x", Argv: []string{""}},
		},
		{
			name: "exec with empty argv",
			rec:  with(func(r *rec) { r.typ, r.filename = recExec, "/x" }),
			want: &tracep.Exec{Op: tracep.ExecOpExec, Filename: "/x"},
		},
		{
			name: "exec with a full comm and invalid UTF-8",
			rec: with(func(r *rec) {
				r.typ, r.proc.Comm, r.filename, r.argv = recExec, "0123456789abcdef", "/\xff", argvBytes("\xff")
			}),
			want: &tracep.Exec{Op: tracep.ExecOpExec, Filename: "/\xff", Argv: []string{"\xff"}},
			proc: &tracep.Proc{PID: 100, TID: 100, PPID: 7, UID: 1000, Comm: "0123456789abcdef", CgroupID: 44},
		},
		{
			name: "failed exec",
			rec:  with(func(r *rec) { r.typ, r.filename, r.status = recFail, "/nonexistent", 2 }),
			want: &tracep.Exec{Op: tracep.ExecOpFail, Filename: "/nonexistent", Errno: "ENOENT"},
		},
		{
			name: "failed exec EACCES",
			rec:  with(func(r *rec) { r.typ, r.filename, r.status = recFail, "/etc/passwd", 13 }),
			want: &tracep.Exec{Op: tracep.ExecOpFail, Filename: "/etc/passwd", Errno: "EACCES"},
		},
		{
			name: "failed exec unknown errno",
			rec:  with(func(r *rec) { r.typ, r.filename, r.status = recFail, "/x", 999 }),
			want: &tracep.Exec{Op: tracep.ExecOpFail, Filename: "/x", Errno: "errno 999"},
		},
		{
			name: "exit code",
			rec:  with(func(r *rec) { r.typ, r.status, r.runtime = recExit, 3<<8, 1500 }),
			want: &tracep.Exec{Op: tracep.ExecOpExit, ExitCode: 3, Duration: 1500 * time.Nanosecond},
		},
		{
			name: "exit 0",
			rec:  with(func(r *rec) { r.typ = recExit }),
			want: &tracep.Exec{Op: tracep.ExecOpExit},
		},
		{
			name: "killed",
			rec:  with(func(r *rec) { r.typ, r.status = recExit, 9 }),
			want: &tracep.Exec{Op: tracep.ExecOpExit, ExitCode: -1, Signal: "SIGKILL"},
		},
		{
			name: "core dumped",
			rec:  with(func(r *rec) { r.typ, r.status = recExit, 0x80|11 }),
			want: &tracep.Exec{Op: tracep.ExecOpExit, ExitCode: -1, Signal: "SIGSEGV", CoreDumped: true},
		},
		{
			name: "realtime signal",
			rec:  with(func(r *rec) { r.typ, r.status = recExit, 40 }),
			want: &tracep.Exec{Op: tracep.ExecOpExit, ExitCode: -1, Signal: "SIG40"},
		},
		{
			name: "absurd run time",
			rec:  with(func(r *rec) { r.typ, r.runtime = recExit, ^uint64(0) }),
			want: &tracep.Exec{Op: tracep.ExecOpExit},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, err := Decode(tt.rec.build())
			require.NoError(t, err)
			want := proc
			if tt.proc != nil {
				want = *tt.proc
			}
			require.Equal(t, tracep.Event{
				Kind:  tracep.KindExec,
				KTime: 123456789,
				Proc:  want,
				Exec:  tt.want,
			}, ev)
		})
	}
}

func TestDecodeMalformed(t *testing.T) {
	valid := rec{typ: recExec, filename: "/x", argv: argvBytes("/x")}.build()
	tests := []struct {
		name string
		raw  []byte
	}{
		{"empty", nil},
		{"short header", valid[:recHeaderSize-1]},
		{"missing data", valid[:len(valid)-1]},
		{"extra data", append(append([]byte{}, valid...), 0)},
		{"unknown type", rec{typ: 9}.build()},
		{"type zero", rec{}.build()},
		{"argv beyond its size", rec{typ: recExec, argv: []byte("abcd"), argvSize: 2}.build()},
		{"failed exec with argv", rec{typ: recFail, argv: []byte("a")}.build()},
		{"exit with filename", rec{typ: recExit, filename: "/x"}.build()},
		{"huge lengths", rec{typ: recExec, fnLen: 0xffffffff, argvLen: 0xffffffff}.build()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Decode(tt.raw)
			require.Error(t, err)
			require.True(t, errors.Is(err, ErrMalformed), "%v", err)
		})
	}
}

func TestConfigNormalize(t *testing.T) {
	c, err := Config{}.normalize()
	require.NoError(t, err)
	require.Equal(t, DefaultArgvLimit, c.ArgvLimit)
	require.Equal(t, DefaultRingBytes, c.RingBytes)

	c, err = Config{ArgvLimit: MaxArgvLimit, RingBytes: 3 << 20}.normalize()
	require.NoError(t, err)
	require.Equal(t, 4<<20, c.RingBytes)

	for _, bad := range []Config{
		{ArgvLimit: -1},
		{ArgvLimit: MaxArgvLimit + 1},
		{RingBytes: -1},
		{RingBytes: 64 << 10},
		{RingBytes: 2 << 30},
	} {
		_, err := bad.normalize()
		require.ErrorIs(t, err, tracep.ErrInvalid, "%+v", bad)
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(rec{typ: recExec, filename: "/bin/true", argv: argvBytes("/bin/true", "x")}.build())
	f.Add(rec{typ: recExec, filename: "/bin/echo", argv: []byte("/bin/echo\x00he"), argvSize: 30, flags: flagArgvTrunc}.build())
	f.Add(rec{typ: recFail, filename: "/nope", status: 2}.build())
	f.Add(rec{typ: recExit, status: 0x8b, runtime: 5}.build())
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, raw []byte) {
		ev, err := Decode(raw)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not match ErrMalformed", err)
			}
			return
		}
		if ev.Kind != tracep.KindExec || ev.Exec == nil {
			t.Fatalf("decoded %+v without an exec payload", ev)
		}
		switch ev.Exec.Op {
		case tracep.ExecOpExec, tracep.ExecOpFail, tracep.ExecOpExit:
		default:
			t.Fatalf("op %q", ev.Exec.Op)
		}
		// Nothing decoded can be longer than the record.
		n := len(ev.Exec.Filename)
		for _, a := range ev.Exec.Argv {
			n += len(a)
		}
		if n > len(raw) {
			t.Fatalf("decoded %d bytes from a %d-byte record", n, len(raw))
		}
		if ev.Exec.Duration < 0 {
			t.Fatalf("negative duration %v", ev.Exec.Duration)
		}
	})
}

// layout names the decoder's offsets after the fields of the C record,
// as bpf2go names them (see TestRecordLayoutMatchesBPF).
var layout = map[string]int{
	"Ktime": offKtime, "Type": offType, "Pid": offPID, "Tid": offTID,
	"Ppid": offPPID, "Uid": offUID, "Flags": offFlags, "CgroupId": offCgroupID,
	"Comm": offComm, "FilenameLen": offFilenameLen, "ArgvLen": offArgvLen,
	"ArgvSize": offArgvSize, "Status": offStatus, "RuntimeNs": offRuntime,
}
