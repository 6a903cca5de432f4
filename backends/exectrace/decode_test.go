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
	argvOff  uint32
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
		argvSize = r.argvOff + uint32(len(r.argv))
	}
	le.PutUint32(b[offFilenameLen:], fnLen)
	le.PutUint32(b[offArgvLen:], argvLen)
	le.PutUint32(b[offArgvSize:], argvSize)
	le.PutUint32(b[offStatus:], uint32(r.status))
	le.PutUint64(b[offRuntime:], r.runtime)
	le.PutUint32(b[offArgvOff:], r.argvOff)
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

// decodeAll feeds records to a new Decoder, flushes it and returns the
// events.
func decodeAll(t testing.TB, recs ...[]byte) []tracep.Event {
	var d Decoder
	var evs []tracep.Event
	emit := func(ev tracep.Event) { evs = append(evs, ev) }
	for _, r := range recs {
		require.NoError(t, d.Decode(r, emit))
	}
	d.Flush(emit)
	return evs
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
			want: &tracep.Exec{Op: tracep.ExecOpExec, Filename: "/bin/echo", Argv: []string{"/bin/echo", "hel"}, ArgvTruncated: true, ArgvSize: 20},
		},
		{
			name: "exec cut after a separator",
			rec:  with(cut("/bin/echo\x00")),
			want: &tracep.Exec{Op: tracep.ExecOpExec, Filename: "/bin/echo", Argv: []string{"/bin/echo"}, ArgvTruncated: true, ArgvSize: 20},
		},
		{
			name: "exec shorter than its size is truncated without the flag",
			rec: with(func(r *rec) {
				r.typ, r.filename = recExec, "/x"
				r.argv = []byte("/x\x00")
				r.argvSize = 9
			}),
			want: &tracep.Exec{Op: tracep.ExecOpExec, Filename: "/x", Argv: []string{"/x"}, ArgvTruncated: true, ArgvSize: 9},
		},
		{
			name: "exec whose argv faulted",
			rec: with(func(r *rec) {
				r.typ, r.filename, r.flags, r.argvSize = recExec, "/x", flagArgvFault, 10
			}),
			want: &tracep.Exec{Op: tracep.ExecOpExec, Filename: "/x", ArgvTruncated: true, ArgvSize: 10},
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
			evs := decodeAll(t, tt.rec.build())
			require.Len(t, evs, 1)
			ev := evs[0]
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

// An argv in pieces is joined into one event; a lost piece leaves it
// truncated at the gap, reported as soon as the gap is known.
func TestDecoderPieces(t *testing.T) {
	p5 := tracep.Proc{PID: 5, TID: 5, Comm: "x"}
	p6 := tracep.Proc{PID: 6, TID: 6, Comm: "y"}
	const size = 9 // "aa\0bb\0cc\0"
	first := func(p tracep.Proc, ktime uint64) rec {
		return rec{ktime: ktime, proc: p, typ: recExec, filename: "/x", argv: []byte("aa\x00"), argvSize: size, flags: flagMore}
	}
	piece := func(p tracep.Proc, ktime uint64, off uint32, data string, more bool) rec {
		r := rec{ktime: ktime, proc: p, typ: recArgv, argv: []byte(data), argvOff: off, argvSize: size}
		if more {
			r.flags = flagMore
		}
		return r
	}
	exit := rec{ktime: 9, proc: p5, typ: recExit}
	whole := func(p tracep.Proc, ktime uint64) tracep.Event {
		return tracep.Event{Kind: tracep.KindExec, KTime: ktime, Proc: p,
			Exec: &tracep.Exec{Op: tracep.ExecOpExec, Filename: "/x", Argv: []string{"aa", "bb", "cc"}}}
	}
	cut := func(p tracep.Proc, ktime uint64, argv ...string) tracep.Event {
		return tracep.Event{Kind: tracep.KindExec, KTime: ktime, Proc: p,
			Exec: &tracep.Exec{Op: tracep.ExecOpExec, Filename: "/x", Argv: argv, ArgvTruncated: true, ArgvSize: size}}
	}
	exitEv := tracep.Event{Kind: tracep.KindExec, KTime: 9, Proc: p5, Exec: &tracep.Exec{Op: tracep.ExecOpExit}}
	for _, tc := range []struct {
		name string
		recs []rec
		want []tracep.Event
	}{
		{"in order", []rec{first(p5, 1), piece(p5, 1, 3, "bb\x00", true), piece(p5, 1, 6, "cc\x00", false)},
			[]tracep.Event{whole(p5, 1)}},
		{"two execs interleaved", []rec{first(p5, 1), first(p6, 2), piece(p6, 2, 3, "bb\x00", true), piece(p5, 1, 3, "bb\x00", true),
			piece(p5, 1, 6, "cc\x00", false), piece(p6, 2, 6, "cc\x00", false)},
			[]tracep.Event{whole(p5, 1), whole(p6, 2)}},
		{"a piece lost in the middle", []rec{first(p5, 1), piece(p5, 1, 6, "cc\x00", false)},
			[]tracep.Event{cut(p5, 1, "aa")}},
		{"the last piece lost: a later record of the process tells", []rec{first(p5, 1), piece(p5, 1, 3, "bb\x00", true), first(p6, 2), exit},
			[]tracep.Event{cut(p5, 1, "aa", "bb"), exitEv, cut(p6, 2, "aa")}},
		{"the last piece lost: Flush tells", []rec{first(p5, 1)},
			[]tracep.Event{cut(p5, 1, "aa")}},
		{"the first piece lost", []rec{piece(p5, 1, 3, "bb\x00", true), piece(p5, 1, 6, "cc\x00", false), exit},
			[]tracep.Event{exitEv}},
		{"cut at the session's limit, every piece says so", []rec{
			func() rec { r := first(p5, 1); r.flags |= flagArgvTrunc; return r }(),
			func() rec { r := piece(p5, 1, 3, "b", false); r.flags = flagArgvTrunc; return r }()},
			[]tracep.Event{cut(p5, 1, "aa", "b")}},
		{"a piece that faulted ends it", []rec{first(p5, 1), func() rec { r := piece(p5, 1, 3, "", false); r.flags = flagArgvFault; return r }()},
			[]tracep.Event{cut(p5, 1, "aa")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var raws [][]byte
			for _, r := range tc.recs {
				raws = append(raws, r.build())
			}
			require.Equal(t, tc.want, decodeAll(t, raws...))
		})
	}
}

// A Decoder joins at most maxJoining execs at once: one more reports the
// oldest as truncated.
func TestDecoderBounded(t *testing.T) {
	var d Decoder
	var evs []tracep.Event
	emit := func(ev tracep.Event) { evs = append(evs, ev) }
	for i := range maxJoining + 1 {
		p := tracep.Proc{PID: int32(i + 1), TID: int32(i + 1)}
		require.NoError(t, d.Decode(rec{ktime: 1, proc: p, typ: recExec, filename: "/x", argv: []byte("a"), argvSize: 4, flags: flagMore}.build(), emit))
	}
	require.Len(t, evs, 1)
	require.Equal(t, int32(1), evs[0].Proc.PID)
	require.True(t, evs[0].Exec.ArgvTruncated)
	require.Len(t, d.joining, maxJoining)
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
		{"exec argv not at 0", rec{typ: recExec, argv: []byte("a"), argvOff: 4}.build()},
		{"argv piece at 0", rec{typ: recArgv, argv: []byte("a")}.build()},
		{"argv piece with a filename", rec{typ: recArgv, filename: "/x", argv: []byte("a"), argvOff: 4}.build()},
		{"argv piece beyond its size", rec{typ: recArgv, argv: []byte("abcd"), argvOff: 4, argvSize: 6}.build()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var d Decoder
			err := d.Decode(tt.raw, func(ev tracep.Event) { t.Fatalf("emitted %v", ev) })
			require.Error(t, err)
			require.True(t, errors.Is(err, ErrMalformed), "%v", err)
		})
	}
}

func TestConfigNormalize(t *testing.T) {
	c, err := Config{}.normalize()
	require.NoError(t, err)
	require.Zero(t, c.ArgvLimit, "whole")
	require.Equal(t, uint32(argvWhole), c.param())
	require.Equal(t, DefaultRingBytes, c.RingBytes)

	c, err = Config{ArgvLimit: 1024, RingBytes: 64 << 10}.normalize()
	require.NoError(t, err)
	require.Equal(t, uint32(1024), c.param())

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

// FuzzDecode feeds a Decoder a sequence of records, each preceded by its
// length in two bytes; whatever they hold, it never panics, reports only
// exec events with a known operation, and no more than it was given.
func FuzzDecode(f *testing.F) {
	seq := func(recs ...[]byte) []byte {
		var b []byte
		for _, r := range recs {
			b = binary.LittleEndian.AppendUint16(b, uint16(len(r)))
			b = append(b, r...)
		}
		return b
	}
	f.Add(seq(rec{typ: recExec, filename: "/bin/true", argv: argvBytes("/bin/true", "x")}.build()))
	f.Add(seq(rec{typ: recExec, filename: "/bin/echo", argv: []byte("/bin/echo\x00he"), argvSize: 30, flags: flagArgvTrunc}.build()))
	f.Add(seq(rec{typ: recFail, filename: "/nope", status: 2}.build()))
	f.Add(seq(rec{typ: recExit, status: 0x8b, runtime: 5}.build()))
	f.Add(seq(
		rec{ktime: 1, proc: tracep.Proc{PID: 5, TID: 5}, typ: recExec, filename: "/x", argv: []byte("ab"), argvSize: 6, flags: flagMore}.build(),
		rec{ktime: 1, proc: tracep.Proc{PID: 5, TID: 5}, typ: recArgv, argv: []byte("c\x00"), argvOff: 2, argvSize: 6, flags: flagMore}.build(),
		rec{ktime: 1, proc: tracep.Proc{PID: 5, TID: 5}, typ: recArgv, argv: []byte("d\x00"), argvOff: 4, argvSize: 6}.build()))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, raw []byte) {
		var d Decoder
		n := 0
		check := func(ev tracep.Event) {
			if ev.Kind != tracep.KindExec || ev.Exec == nil {
				t.Fatalf("decoded %+v without an exec payload", ev)
			}
			switch ev.Exec.Op {
			case tracep.ExecOpExec, tracep.ExecOpFail, tracep.ExecOpExit:
			default:
				t.Fatalf("op %q", ev.Exec.Op)
			}
			n += len(ev.Exec.Filename)
			for _, a := range ev.Exec.Argv {
				n += len(a)
			}
			if ev.Exec.Duration < 0 {
				t.Fatalf("negative duration %v", ev.Exec.Duration)
			}
		}
		for b := raw; len(b) >= 2; {
			l := int(binary.LittleEndian.Uint16(b))
			b = b[2:]
			if l > len(b) {
				l = len(b)
			}
			if err := d.Decode(b[:l], check); err != nil && !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not match ErrMalformed", err)
			}
			b = b[l:]
		}
		d.Flush(check)
		// Nothing decoded can be longer than the records.
		if n > len(raw) {
			t.Fatalf("decoded %d bytes from %d bytes of records", n, len(raw))
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
	"ArgvOff": offArgvOff,
}
