package kernelbtf

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Version changes whenever Reduce's output for the same input does, so
// that a reduction saved by an older tracep is not taken for a current one
// (TestReduceVersion pins the output of a sample).
const Version = 2

// ErrMalformed is returned for BTF Reduce cannot read: truncated, a bad
// header, a reference out of range, or a kind it does not know.
var ErrMalformed = errors.New("malformed btf")

// Keep says which types Reduce keeps.
type Keep struct {
	// Types names the structs, unions and enums to keep, as CO-RE
	// relocations name them (a "___flavour" suffix is ignored on both
	// sides). Each is kept whole, with every type its layout needs: the
	// types of its members, recursively, except that a struct or union
	// reached only through a pointer becomes a forward declaration.
	// A typedef it names is kept as TypedefPrefix keeps them.
	Types []string
	// TypedefPrefix selects typedefs kept with their kernel type IDs
	// (IDTag), and what they refer to: "btf_trace_" keeps the types a
	// tp_btf program's attach_btf_id names. Empty keeps none but those
	// Types names.
	TypedefPrefix string
}

// IDTag prefixes the value of the decl tag each typedef kept carries: its
// type ID in the input, in decimal ("kernel_btf_id:38155"). A tp_btf
// program's attach_btf_id is the kernel's ID of its tracepoint's typedef.
// Keeping the typedefs at those IDs would need every ID below them filled
// (38,000 placeholders for the network tracepoints here, 0.46 MB of the
// 0.5 MB written and 0.3 MB more of a decoder's offsets); a tag costs a
// record and a string.
const IDTag = "kernel_btf_id:"

// KernelID returns the ID an IDTag among tags gives, and false if there is
// none.
func KernelID(tags []string) (uint32, bool) {
	for _, tag := range tags {
		if v, ok := strings.CutPrefix(tag, IDTag); ok {
			if id, err := strconv.ParseUint(v, 10, 32); err == nil && id > 0 {
				return uint32(id), true
			}
		}
	}
	return 0, false
}

// BTF kinds (include/uapi/linux/btf.h).
const (
	kindInt = iota + 1
	kindPtr
	kindArray
	kindStruct
	kindUnion
	kindEnum
	kindFwd
	kindTypedef
	kindVolatile
	kindConst
	kindRestrict
	kindFunc
	kindFuncProto
	kindVar
	kindDatasec
	kindFloat
	kindDeclTag
	kindTypeTag
	kindEnum64
)

const (
	headerLen     = 24
	typeHeaderLen = 12
	magic         = 0xeb9f
	// stride is the distance in type IDs between remembered record
	// offsets: a record is found by walking at most stride-1 others, and
	// 125,000 types need 32 KB of offsets rather than 500 KB.
	stride = 16
)

type byteOrder interface {
	binary.ByteOrder
	binary.AppendByteOrder
}

// blob is raw BTF split into its sections.
type blob struct {
	bo      byteOrder
	types   []byte
	strings []byte
}

func parseHeader(raw []byte) (blob, error) {
	if len(raw) < headerLen {
		return blob{}, fmt.Errorf("%w: %d bytes, short of a header", ErrMalformed, len(raw))
	}
	var bo byteOrder
	switch {
	case binary.LittleEndian.Uint16(raw) == magic:
		bo = binary.LittleEndian
	case binary.BigEndian.Uint16(raw) == magic:
		bo = binary.BigEndian
	default:
		return blob{}, fmt.Errorf("%w: bad magic %#04x", ErrMalformed, binary.LittleEndian.Uint16(raw))
	}
	if raw[2] != 1 {
		return blob{}, fmt.Errorf("%w: version %d", ErrMalformed, raw[2])
	}
	hdrLen := uint64(bo.Uint32(raw[4:]))
	section := func(name string, off, n uint32) ([]byte, error) {
		start, end := hdrLen+uint64(off), hdrLen+uint64(off)+uint64(n)
		if hdrLen < headerLen || end > uint64(len(raw)) {
			return nil, fmt.Errorf("%w: %s section [%d, %d) outside %d bytes", ErrMalformed, name, start, end, len(raw))
		}
		return raw[start:end], nil
	}
	types, err := section("type", bo.Uint32(raw[8:]), bo.Uint32(raw[12:]))
	if err != nil {
		return blob{}, err
	}
	strs, err := section("string", bo.Uint32(raw[16:]), bo.Uint32(raw[20:]))
	if err != nil {
		return blob{}, err
	}
	if len(strs) == 0 || strs[0] != 0 || strs[len(strs)-1] != 0 {
		return blob{}, fmt.Errorf("%w: string section not NUL-delimited", ErrMalformed)
	}
	return blob{bo: bo, types: types, strings: strs}, nil
}

// layout is, by kind, the bytes a type record has beyond its header: fixed
// plus perItem for each of its vlen items; 0, 0 for kinds without either,
// and known false for kinds Reduce does not know.
var layout = [32]struct {
	fixed, perItem uint8
	known          bool
}{
	kindInt: {4, 0, true}, kindPtr: {0, 0, true}, kindArray: {12, 0, true},
	kindStruct: {0, 12, true}, kindUnion: {0, 12, true}, kindEnum: {0, 8, true},
	kindFwd: {0, 0, true}, kindTypedef: {0, 0, true}, kindVolatile: {0, 0, true},
	kindConst: {0, 0, true}, kindRestrict: {0, 0, true}, kindFunc: {0, 0, true},
	kindFuncProto: {0, 8, true}, kindVar: {4, 0, true}, kindDatasec: {0, 12, true},
	kindFloat: {0, 0, true}, kindDeclTag: {4, 0, true}, kindTypeTag: {0, 0, true},
	kindEnum64: {0, 12, true},
}

// recordLen returns the length of the type record at off, which the
// caller checked holds a type header.
func (b *blob) recordLen(off int) (int, error) {
	info := b.bo.Uint32(b.types[off+4:])
	l := layout[kind(info)]
	if !l.known {
		return 0, fmt.Errorf("%w: unknown kind %d at offset %d", ErrMalformed, kind(info), off)
	}
	n := typeHeaderLen + int(l.fixed) + int(l.perItem)*int(info&0xffff)
	if off+n > len(b.types) {
		return 0, fmt.Errorf("%w: type at offset %d runs past the type section", ErrMalformed, off)
	}
	return n, nil
}

func kind(info uint32) uint32 { return info >> 24 & 0x1f }

// name returns the string at off.
func (b *blob) name(off uint32) ([]byte, error) {
	if int64(off) >= int64(len(b.strings)) {
		return nil, fmt.Errorf("%w: name offset %d outside the string section", ErrMalformed, off)
	}
	s := b.strings[off:]
	return s[:bytes.IndexByte(s, 0)], nil // the section ends in NUL
}

var flavour = []byte("___")

// Essential strips a CO-RE flavour from name, as cilium/ebpf and libbpf
// do: "task_struct___v2" is "task_struct".
func Essential(name string) string { return string(essential([]byte(name))) }

func essential(name []byte) []byte {
	if bytes.Index(name, flavour) < 0 { // Index is much the faster
		return name
	}
	if i := bytes.LastIndex(name, flavour); i > 0 {
		return name[:i]
	}
	return name
}

// index finds type records by ID.
type index struct {
	b     *blob
	n     int      // type IDs are 1..n-1
	marks []uint32 // offset of ID i*stride (of ID 1 for i == 0)
}

// record returns ID id's record, id in [1, n).
func (x *index) record(id int) []byte {
	i := id / stride
	at, off := max(1, i*stride), int(x.marks[i])
	for ; at < id; at++ {
		n, _ := x.b.recordLen(off) // checked by scan
		off += n
	}
	n, _ := x.b.recordLen(off)
	return x.b.types[off : off+n]
}

// Reduce returns raw BTF with the types of raw that keep selects and
// nothing else, in raw's byte order and in raw's order, with new IDs.
// Typedefs selected by keep.TypedefPrefix or named in keep.Types carry
// their IDs in raw, in a decl tag (IDTag) each.
func Reduce(raw []byte, keep Keep) ([]byte, error) {
	b, err := parseHeader(raw)
	if err != nil {
		return nil, err
	}
	want := make(map[string]bool, len(keep.Types))
	for _, name := range keep.Types {
		want[string(essential([]byte(name)))] = true
	}
	prefix := []byte(keep.TypedefPrefix)

	// Scan: find the records, the roots and the typedefs kept by ID.
	x := &index{b: &b, n: 1}
	var roots, typedefs []int
	for off := 0; off < len(b.types); x.n++ {
		if x.n%stride == 0 || x.n == 1 {
			x.marks = append(x.marks, uint32(off))
		}
		if off+typeHeaderLen > len(b.types) {
			return nil, fmt.Errorf("%w: type at offset %d runs past the type section", ErrMalformed, off)
		}
		n, err := b.recordLen(off)
		if err != nil {
			return nil, err
		}
		if nameOff := b.bo.Uint32(b.types[off:]); nameOff != 0 {
			switch kind(b.bo.Uint32(b.types[off+4:])) {
			case kindStruct, kindUnion, kindEnum, kindEnum64:
				name, err := b.name(nameOff)
				if err != nil {
					return nil, err
				}
				if want[string(essential(name))] {
					roots = append(roots, x.n)
				}
			case kindTypedef:
				name, err := b.name(nameOff)
				if err != nil {
					return nil, err
				}
				if len(prefix) > 0 && bytes.HasPrefix(name, prefix) || want[string(essential(name))] {
					typedefs = append(typedefs, x.n)
				}
			}
		}
		off += n
	}
	if uint64(x.n) > 1<<31 {
		return nil, fmt.Errorf("%w: %d types", ErrMalformed, x.n)
	}

	st, err := x.closure(roots, typedefs)
	if err != nil {
		return nil, err
	}
	return x.write(st, typedefs)
}

// What the closure keeps of a type.
const (
	dropped = iota
	// declared: reached only through pointers; a struct or union is then
	// a forward declaration, other kinds are kept.
	declared
	whole
)

// closure marks what the roots and typedefs need: the state of each ID.
func (x *index) closure(roots, typedefs []int) ([]uint8, error) {
	bo := x.b.bo
	st := make([]uint8, x.n)
	type visit struct {
		id         int
		viaPointer bool
	}
	todo := make([]visit, 0, 64)
	for _, id := range roots {
		todo = append(todo, visit{id, false})
	}
	for _, id := range typedefs {
		todo = append(todo, visit{id, false})
	}
	for len(todo) > 0 {
		v := todo[len(todo)-1]
		todo = todo[:len(todo)-1]
		if v.id < 0 || v.id >= x.n { // < 0: a uint32 past an int's range
			return nil, fmt.Errorf("%w: reference to type %d of %d", ErrMalformed, v.id, x.n-1)
		}
		// A type reached through a pointer is walked again when reached
		// by value: a typedef of a struct may be both.
		if v.id == 0 || st[v.id] == whole || v.viaPointer && st[v.id] != dropped {
			continue
		}
		r := x.record(v.id)
		info := bo.Uint32(r[4:])
		k, vlen, ref := kind(info), int(info&0xffff), int(bo.Uint32(r[8:]))
		if v.viaPointer {
			st[v.id] = declared
		} else {
			st[v.id] = whole
		}
		if (k == kindStruct || k == kindUnion) && v.viaPointer {
			continue
		}
		switch k {
		case kindPtr, kindFunc:
			todo = append(todo, visit{ref, true})
		case kindTypedef, kindVolatile, kindConst, kindRestrict, kindTypeTag:
			todo = append(todo, visit{ref, v.viaPointer})
		case kindArray:
			todo = append(todo, visit{int(bo.Uint32(r[12:])), v.viaPointer}, visit{int(bo.Uint32(r[16:])), false})
		case kindStruct, kindUnion:
			for i := range vlen {
				todo = append(todo, visit{int(bo.Uint32(r[typeHeaderLen+12*i+4:])), false})
			}
		case kindFuncProto:
			// Nothing reads a function's layout: what its parameters
			// point to can stay declared.
			todo = append(todo, visit{ref, true})
			for i := range vlen {
				todo = append(todo, visit{int(bo.Uint32(r[typeHeaderLen+8*i+4:])), true})
			}
		case kindVar, kindDeclTag:
			todo = append(todo, visit{ref, v.viaPointer})
		case kindDatasec:
			for i := range vlen {
				todo = append(todo, visit{int(bo.Uint32(r[typeHeaderLen+12*i:])), false})
			}
		}
	}
	return st, nil
}

// write writes the reduced BTF: every type kept, in ID order, then a decl
// tag for each typedef with its ID in raw.
func (x *index) write(st []uint8, typedefs []int) ([]byte, error) {
	bo := x.b.bo
	var kept []int // ascending: the new ID of kept[i] is i+1
	size := headerLen + (typeHeaderLen+int(layout[kindDeclTag].fixed))*len(typedefs)
	for id := 1; id < x.n; id++ {
		if st[id] != dropped {
			kept = append(kept, id)
			size += len(x.record(id))
		}
	}
	newID := func(id uint32) uint32 {
		if id == 0 {
			return 0
		}
		i, _ := slices.BinarySearch(kept, int(id))
		return uint32(1 + i)
	}

	strs := make([]byte, 1, 64<<10)
	names := make(map[uint32]uint32, 4096)
	name := func(off uint32) uint32 {
		if off == 0 {
			return 0
		}
		if n, ok := names[off]; ok {
			return n
		}
		s, _ := x.b.name(off) // checked by scan or below
		n := uint32(len(strs))
		strs = append(append(strs, s...), 0)
		names[off] = n
		return n
	}

	out := make([]byte, headerLen, size+cap(strs))
	put := func(v uint32) { out = bo.AppendUint32(out, v) }
	emit := func(id int) error {
		r := x.record(id)
		info := bo.Uint32(r[4:])
		k, vlen := kind(info), int(info&0xffff)
		// Check the names here: the scan read only those of the kinds
		// it matches.
		checkName := func(off uint32) (uint32, error) {
			if _, err := x.b.name(off); err != nil {
				return 0, err
			}
			return name(off), nil
		}
		nameOff, err := checkName(bo.Uint32(r))
		if err != nil {
			return err
		}
		if st[id] == declared && (k == kindStruct || k == kindUnion) {
			fwd := uint32(kindFwd << 24)
			if k == kindUnion {
				fwd |= 1 << 31
			}
			put(nameOff)
			put(fwd)
			put(0)
			return nil
		}
		put(nameOff)
		put(info)
		switch k {
		case kindPtr, kindFunc, kindTypedef, kindVolatile, kindConst, kindRestrict, kindTypeTag, kindFuncProto, kindVar, kindDeclTag:
			put(newID(bo.Uint32(r[8:])))
		default:
			put(bo.Uint32(r[8:]))
		}
		rest := r[typeHeaderLen:]
		switch k {
		case kindArray:
			put(newID(bo.Uint32(rest)))
			put(newID(bo.Uint32(rest[4:])))
			put(bo.Uint32(rest[8:]))
		case kindStruct, kindUnion, kindFuncProto:
			// Members (name, type, offset) or parameters (name, type).
			size := int(layout[k].perItem)
			for i := range vlen {
				m := rest[size*i:]
				n, err := checkName(bo.Uint32(m))
				if err != nil {
					return err
				}
				put(n)
				put(newID(bo.Uint32(m[4:])))
				out = append(out, m[8:size]...)
			}
		case kindEnum, kindEnum64:
			size := 8
			if k == kindEnum64 {
				size = 12
			}
			for i := range vlen {
				v := rest[size*i:]
				n, err := checkName(bo.Uint32(v))
				if err != nil {
					return err
				}
				put(n)
				out = append(out, v[4:size]...)
			}
		case kindDatasec:
			for i := range vlen {
				v := rest[12*i:]
				put(newID(bo.Uint32(v)))
				out = append(out, v[4:12]...)
			}
		default: // int, var, decl_tag: one u32 that is not a type
			out = append(out, rest...)
		}
		return nil
	}
	for _, id := range kept {
		if err := emit(id); err != nil {
			return nil, err
		}
	}
	for _, id := range typedefs {
		tag := uint32(len(strs))
		strs = append(strconv.AppendUint(append(strs, IDTag...), uint64(id), 10), 0)
		put(tag)
		put(kindDeclTag << 24)
		put(newID(uint32(id)))
		put(^uint32(0)) // component_idx -1: the typedef itself
	}

	typeLen := len(out) - headerLen
	out = append(out, strs...)
	bo.PutUint16(out, magic)
	out[2], out[3] = 1, 0
	bo.PutUint32(out[4:], headerLen)
	bo.PutUint32(out[8:], 0)
	bo.PutUint32(out[12:], uint32(typeLen))
	bo.PutUint32(out[16:], uint32(typeLen))
	bo.PutUint32(out[20:], uint32(len(strs)))
	return out, nil
}
