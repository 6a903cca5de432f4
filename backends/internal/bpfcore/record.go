package bpfcore

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"maps"
	"reflect"
	"strings"

	"github.com/tracep/tracep/tracep"
)

// CommLen is the size of a task's comm, TASK_COMM_LEN.
const CommLen = 16

// CString returns b up to its first NUL: the string of a fixed-size C
// field.
func CString(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}

// ProcFields says where a record keeps the process that caused it: the
// byte offset of each field. The integers are little-endian (the programs
// are built for x86), PID to UID 32 bits, CgroupID 64, and Comm is CommLen
// bytes.
type ProcFields struct {
	PID, TID, PPID, UID, CgroupID, Comm int
}

// OwnerAt returns the fields of a struct tp_owner-like block at off, as
// the net and dns records lay out a socket's owner: the cgroup id, the
// four ids, then the comm.
func OwnerAt(off int) ProcFields {
	return ProcFields{CgroupID: off, PID: off + 8, TID: off + 12, PPID: off + 16, UID: off + 20, Comm: off + 24}
}

// End returns the offset just past the last field: Proc needs a record at
// least this long.
func (f ProcFields) End() int {
	return max(f.PID+4, f.TID+4, f.PPID+4, f.UID+4, f.CgroupID+8, f.Comm+CommLen)
}

// Proc decodes the process fields of rec, which must be at least End()
// bytes long (decoders check a record's header size first).
func (f ProcFields) Proc(rec []byte) tracep.Proc {
	le := binary.LittleEndian
	return tracep.Proc{
		PID:      int32(le.Uint32(rec[f.PID:])),
		TID:      int32(le.Uint32(rec[f.TID:])),
		PPID:     int32(le.Uint32(rec[f.PPID:])),
		UID:      le.Uint32(rec[f.UID:]),
		CgroupID: le.Uint64(rec[f.CgroupID:]),
		Comm:     CString(rec[f.Comm : f.Comm+CommLen]),
	}
}

// Put lays p out in rec at f, as the BPF programs do: Proc's inverse, for
// tests that build records. A comm longer than CommLen is cut.
func (f ProcFields) Put(rec []byte, p tracep.Proc) {
	le := binary.LittleEndian
	le.PutUint32(rec[f.PID:], uint32(p.PID))
	le.PutUint32(rec[f.TID:], uint32(p.TID))
	le.PutUint32(rec[f.PPID:], uint32(p.PPID))
	le.PutUint32(rec[f.UID:], p.UID)
	le.PutUint64(rec[f.CgroupID:], p.CgroupID)
	clear(rec[f.Comm : f.Comm+CommLen])
	copy(rec[f.Comm:f.Comm+CommLen], p.Comm)
}

// CheckLayout returns an error unless the struct rec, which bpf2go
// generated from a C record, is size bytes long with its fields at offsets
// (see FieldOffsets): a decoder's hand-written offsets checked against the
// C layout.
func CheckLayout(rec any, size int, offsets map[string]int) error {
	got := FieldOffsets(rec)
	if n := int(reflect.TypeOf(rec).Size()); n != size || !maps.Equal(got, offsets) {
		return fmt.Errorf("%T: %d bytes, fields at %v; the decoder says %d bytes, fields at %v", rec, n, got, size, offsets)
	}
	return nil
}

// FieldOffsets returns the byte offset of every field of the struct v,
// those of nested structs named Outer.Inner, leaving out blank and Pad*
// fields.
func FieldOffsets(v any) map[string]int {
	out := map[string]int{}
	var walk func(t reflect.Type, prefix string, base uintptr)
	walk = func(t reflect.Type, prefix string, base uintptr) {
		for f := range t.Fields() {
			switch {
			case f.Name == "_" || strings.HasPrefix(f.Name, "Pad"):
			case f.Type.Kind() == reflect.Struct:
				walk(f.Type, prefix+f.Name+".", base+f.Offset)
			default:
				out[prefix+f.Name] = int(base + f.Offset)
			}
		}
	}
	walk(reflect.TypeOf(v), "", 0)
	return out
}
