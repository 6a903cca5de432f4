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
// of filename and argv_len bytes of argv, the part of argv at argv_off.
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
	offArgvOff     = 80
	recHeaderSize  = 88
)

// procFields is where a record keeps the process that caused it.
var procFields = bpfcore.ProcFields{PID: offPID, TID: offTID, PPID: offPPID, UID: offUID, CgroupID: offCgroupID, Comm: offComm}

// Record types (TPX_REC_*).
const (
	recExec = 1
	recFail = 2
	recExit = 3
	recArgv = 4 // a later piece of the argv of the exec before it
)

// Record flags (TPX_F_*).
const (
	flagArgvTrunc     = 1 << 0
	flagArgvFault     = 1 << 1
	flagFilenameFault = 1 << 2
	flagMore          = 1 << 3 // more pieces of this argv follow
)

// ErrMalformed is returned by Decode for a record it cannot parse.
var ErrMalformed = errors.New("malformed exec record")

var le = binary.LittleEndian

// record is one raw record, parsed.
type record struct {
	typ      uint32
	flags    uint32
	ktime    uint64
	proc     tracep.Proc
	filename []byte
	argv     []byte // aliases the raw record
	argvOff  uint32
	argvSize uint32
	status   int32
	runtime  uint64
}

// parse checks and parses one raw record written by the exec BPF programs.
// It never panics, whatever rec holds.
func parse(rec []byte) (record, error) {
	if len(rec) < recHeaderSize {
		return record{}, fmt.Errorf("%w: %d bytes, header needs %d", ErrMalformed, len(rec), recHeaderSize)
	}
	fnLen := uint64(le.Uint32(rec[offFilenameLen:]))
	argvLen := uint64(le.Uint32(rec[offArgvLen:]))
	if want := recHeaderSize + fnLen + argvLen; uint64(len(rec)) != want {
		return record{}, fmt.Errorf("%w: %d bytes, header says %d", ErrMalformed, len(rec), want)
	}
	r := record{
		typ:      le.Uint32(rec[offType:]),
		flags:    le.Uint32(rec[offFlags:]),
		ktime:    le.Uint64(rec[offKtime:]),
		proc:     procFields.Proc(rec),
		filename: rec[recHeaderSize : recHeaderSize+fnLen],
		argv:     rec[recHeaderSize+fnLen:],
		argvOff:  le.Uint32(rec[offArgvOff:]),
		argvSize: le.Uint32(rec[offArgvSize:]),
		status:   int32(le.Uint32(rec[offStatus:])),
		runtime:  le.Uint64(rec[offRuntime:]),
	}
	switch r.typ {
	case recExec, recArgv:
		if r.typ == recExec && r.argvOff != 0 {
			return record{}, fmt.Errorf("%w: exec whose argv starts at %d", ErrMalformed, r.argvOff)
		}
		if r.typ == recArgv && (fnLen != 0 || r.argvOff == 0) {
			return record{}, fmt.Errorf("%w: argv piece at %d with a filename of %d bytes", ErrMalformed, r.argvOff, fnLen)
		}
		if uint64(r.argvOff)+argvLen > uint64(r.argvSize) {
			return record{}, fmt.Errorf("%w: argv bytes %d-%d beyond its size %d", ErrMalformed, r.argvOff, uint64(r.argvOff)+argvLen, r.argvSize)
		}
	case recFail:
		if argvLen != 0 {
			return record{}, fmt.Errorf("%w: failed exec with argv", ErrMalformed)
		}
	case recExit:
		if fnLen != 0 || argvLen != 0 {
			return record{}, fmt.Errorf("%w: exit with filename or argv", ErrMalformed)
		}
	default:
		return record{}, fmt.Errorf("%w: type %d", ErrMalformed, r.typ)
	}
	return r, nil
}

// maxJoining bounds the execs whose argv a Decoder is joining at once: as
// many as CPUs can run exec programs concurrently, with room to spare.
const maxJoining = 256

// Decoder turns the raw records of one session into events. An argv longer
// than one record holds comes in pieces (an exec record and argv records,
// each with its offset, all but the last marked as followed by more); the
// Decoder joins them and reports the exec once it has the last. A piece
// the kernel lost (a full ring, which the session reports as lost records)
// leaves a gap: the exec is then reported with the argv before the gap,
// ArgvTruncated set, as soon as the gap is known (a later piece, a later
// record of the same process, which the kernel writes after all the pieces
// of its exec, Flush, or more than maxJoining execs in progress).
//
// It sets KTime but not Time (the caller knows the clock) nor Seq. It does
// no I/O, never panics whatever the records hold, and is not safe for
// concurrent use. The zero value is ready to use.
type Decoder struct {
	joining []*joined // oldest first
}

// joined is an exec whose argv is being joined.
type joined struct {
	ev   tracep.Event
	argv []byte
	size uint32 // the process's argv size
	cut  bool   // the argv is known to be incomplete
}

// Decode takes one raw record and calls emit with the events it completes:
// none while an argv is incomplete, otherwise one, preceded by any exec of
// the same process it shows to have lost a piece.
func (d *Decoder) Decode(rec []byte, emit func(tracep.Event)) error {
	r, err := parse(rec)
	if err != nil {
		return err
	}
	if r.typ == recArgv {
		i := d.find(r.proc.TID, r.ktime)
		if i < 0 {
			return nil // its exec record was lost
		}
		j := d.joining[i]
		gap := uint64(r.argvOff) != uint64(len(j.argv)) // a piece before it was lost
		if !gap {
			j.argv = append(j.argv, r.argv...)
		}
		j.cut = j.cut || gap || r.flags&(flagArgvTrunc|flagArgvFault) != 0
		if r.flags&flagMore == 0 || gap {
			d.remove(i)
			emit(j.event())
		}
		return nil
	}
	// The kernel writes every piece of an exec before any later record of
	// the process: what is still being joined for it lost its last piece.
	for i := 0; i < len(d.joining); {
		if j := d.joining[i]; j.ev.Proc.PID == r.proc.PID {
			j.cut = true
			d.remove(i)
			emit(j.event())
			continue
		}
		i++
	}
	ev := tracep.Event{Kind: tracep.KindExec, KTime: r.ktime, Proc: r.proc}
	switch r.typ {
	case recExec:
		cut := r.flags&(flagArgvTrunc|flagArgvFault) != 0
		ev.Exec = &tracep.Exec{Op: tracep.ExecOpExec, Filename: string(r.filename)}
		if r.flags&flagMore == 0 {
			// Whole in one record, the common case: no joining, and no
			// copy of argv but its strings.
			ev.Exec.Argv = splitArgv(r.argv)
			setArgvCut(ev.Exec, cut, len(r.argv), r.argvSize)
			emit(ev)
			return nil
		}
		j := &joined{ev: ev, argv: append([]byte(nil), r.argv...), size: r.argvSize, cut: cut}
		if len(d.joining) >= maxJoining {
			old := d.joining[0]
			old.cut = true
			d.remove(0)
			emit(old.event())
		}
		d.joining = append(d.joining, j)
		return nil
	case recFail:
		ev.Exec = &tracep.Exec{Op: tracep.ExecOpFail, Filename: string(r.filename), Errno: bpfcore.ErrnoName(int(r.status))}
	case recExit:
		ev.Exec = exitPayload(r.status, r.runtime)
	}
	emit(ev)
	return nil
}

// Flush reports the execs still being joined, as truncated: their last
// pieces were lost. A session calls it when it closes.
func (d *Decoder) Flush(emit func(tracep.Event)) {
	for _, j := range d.joining {
		j.cut = true
		emit(j.event())
	}
	d.joining = nil
}

func (d *Decoder) find(tid int32, ktime uint64) int {
	for i, j := range d.joining {
		if j.ev.Proc.TID == tid && j.ev.KTime == ktime {
			return i
		}
	}
	return -1
}

func (d *Decoder) remove(i int) {
	d.joining = append(d.joining[:i], d.joining[i+1:]...)
}

// event is the exec event of j: ArgvTruncated when argv is not whole, with
// ArgvSize then the real size.
func (j *joined) event() tracep.Event {
	ev := j.ev
	x := *ev.Exec
	x.Argv = splitArgv(j.argv)
	setArgvCut(&x, j.cut, len(j.argv), j.size)
	ev.Exec = &x
	return ev
}

// setArgvCut marks x's argv truncated, with the real size, when it is
// known to be cut or is shorter than the process's argv (size).
func setArgvCut(x *tracep.Exec, cut bool, have int, size uint32) {
	if cut || uint64(have) < uint64(size) {
		x.ArgvTruncated = true
		x.ArgvSize = int(size)
	}
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
