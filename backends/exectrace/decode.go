package exectrace

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/tracep/tracep/backends/internal/bpfcore"
	"github.com/tracep/tracep/tracep"
)

// Layout of struct exec_rec in bpf/exec.bpf.c, little-endian (the programs
// are built for x86). A record is the header followed by filename_len bytes
// of filename and argv_len bytes of argv.
const (
	offKtime       = 0
	offType        = 8
	offPID         = 12
	offTID         = 16
	offPPID        = 20
	offUID         = 24
	offFlags       = 28
	offCgroupID    = 32
	offComm        = 40
	offFilenameLen = 56
	offArgvLen     = 60
	offArgvSize    = 64
	offStatus      = 68
	offRuntime     = 72
	recHeaderSize  = 80
)

// procFields is where a record keeps the process that caused it.
var procFields = bpfcore.ProcFields{PID: offPID, TID: offTID, PPID: offPPID, UID: offUID, CgroupID: offCgroupID, Comm: offComm}

// Record types (TPX_REC_*).
const (
	recExec = 1
	recFail = 2
	recExit = 3
)

// Record flags (TPX_F_*).
const (
	flagArgvTrunc     = 1 << 0
	flagArgvFault     = 1 << 1
	flagFilenameFault = 1 << 2
)

// ErrMalformed is returned by Decode for a record it cannot parse.
var ErrMalformed = errors.New("malformed exec record")

var le = binary.LittleEndian

// Decode turns one raw record written by the exec BPF programs into an
// event. It sets KTime but not Time (the caller knows the clock) nor Seq.
// It never panics, whatever rec holds.
func Decode(rec []byte) (tracep.Event, error) {
	if len(rec) < recHeaderSize {
		return tracep.Event{}, fmt.Errorf("%w: %d bytes, header needs %d", ErrMalformed, len(rec), recHeaderSize)
	}
	typ := le.Uint32(rec[offType:])
	flags := le.Uint32(rec[offFlags:])
	fnLen := uint64(le.Uint32(rec[offFilenameLen:]))
	argvLen := uint64(le.Uint32(rec[offArgvLen:]))
	argvSize := uint64(le.Uint32(rec[offArgvSize:]))
	status := int32(le.Uint32(rec[offStatus:]))
	if want := recHeaderSize + fnLen + argvLen; uint64(len(rec)) != want {
		return tracep.Event{}, fmt.Errorf("%w: %d bytes, header says %d", ErrMalformed, len(rec), want)
	}

	ev := tracep.Event{
		Kind:  tracep.KindExec,
		KTime: le.Uint64(rec[offKtime:]),
		Proc:  procFields.Proc(rec),
	}
	filename := string(rec[recHeaderSize : recHeaderSize+fnLen])
	argv := rec[recHeaderSize+fnLen:]

	switch typ {
	case recExec:
		if argvLen > argvSize {
			return tracep.Event{}, fmt.Errorf("%w: argv of %d bytes exceeds its size %d", ErrMalformed, argvLen, argvSize)
		}
		ev.Exec = &tracep.Exec{
			Op:            tracep.ExecOpExec,
			Filename:      filename,
			Argv:          splitArgv(argv),
			ArgvTruncated: flags&(flagArgvTrunc|flagArgvFault) != 0 || argvLen < argvSize,
		}
	case recFail:
		if argvLen != 0 {
			return tracep.Event{}, fmt.Errorf("%w: failed exec with argv", ErrMalformed)
		}
		ev.Exec = &tracep.Exec{
			Op:       tracep.ExecOpFail,
			Filename: filename,
			Errno:    bpfcore.ErrnoName(int(status)),
		}
	case recExit:
		if fnLen != 0 || argvLen != 0 {
			return tracep.Event{}, fmt.Errorf("%w: exit with filename or argv", ErrMalformed)
		}
		ev.Exec = exitPayload(status, le.Uint64(rec[offRuntime:]))
	default:
		return tracep.Event{}, fmt.Errorf("%w: type %d", ErrMalformed, typ)
	}
	return ev, nil
}

// exitPayload decodes a wait status as the kernel keeps it in
// task->exit_code: the exit code in bits 8-15, or the signal in bits 0-6
// with bit 7 set when core was dumped.
func exitPayload(status int32, runtime uint64) *tracep.Exec {
	e := &tracep.Exec{Op: tracep.ExecOpExit}
	if runtime <= 1<<63-1 {
		e.Duration = time.Duration(runtime)
	}
	if sig := int(status & 0x7f); sig != 0 {
		e.ExitCode = -1
		e.Signal = bpfcore.SignalName(sig)
		e.CoreDumped = status&0x80 != 0
		return e
	}
	e.ExitCode = int(status>>8) & 0xff
	return e
}

// splitArgv splits NUL-separated arguments. A final argument without its
// NUL is a truncated one and is kept as the prefix that was captured.
func splitArgv(b []byte) []string {
	if len(b) == 0 {
		return nil
	}
	if b[len(b)-1] == 0 {
		b = b[:len(b)-1]
	}
	return strings.Split(string(b), "\x00")
}
