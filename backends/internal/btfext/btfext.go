package btfext

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
)

// ErrMalformed is a .BTF.ext section or object that cannot be read.
var ErrMalformed = errors.New("malformed BTF.ext")

const (
	extMagic = 0xeb9f
	// The header's fields up to the line info's length (struct btf_ext_header).
	extHeaderMin = 24
	// With the CO-RE relocations' offset and length.
	extHeaderCORE = 32
	// A func info record is insn_off and type_id; a line info record is
	// insn_off, file_name_off, line_off and line_col.
	minFuncRecord = 8
	minLineRecord = 16
	sectionHeader = 8 // sec_name_off, num_info
)

// funcStart is a function's first instruction: the section's name (an
// offset in the string table) and the instruction's byte offset in it.
type funcStart struct{ section, insn uint32 }

// TrimLines edits ext, the contents of a .BTF.ext section in byte order
// bo, in place: its line info keeps only the lines at the first
// instruction of a function. The bytes freed at the end of the line info
// are zeroed. It returns how many lines it kept and dropped.
func TrimLines(ext []byte, bo binary.ByteOrder) (kept, dropped int, err error) {
	if len(ext) < extHeaderMin || bo.Uint16(ext) != extMagic {
		return 0, 0, fmt.Errorf("%w: no header", ErrMalformed)
	}
	hdrLen := uint64(bo.Uint32(ext[4:]))
	if hdrLen < extHeaderMin || hdrLen > uint64(len(ext)) {
		return 0, 0, fmt.Errorf("%w: header length %d", ErrMalformed, hdrLen)
	}
	funcs, err := subsection(ext, hdrLen, bo.Uint32(ext[8:]), bo.Uint32(ext[12:]))
	if err != nil {
		return 0, 0, fmt.Errorf("func info: %w", err)
	}
	lines, err := subsection(ext, hdrLen, bo.Uint32(ext[16:]), bo.Uint32(ext[20:]))
	if err != nil {
		return 0, 0, fmt.Errorf("line info: %w", err)
	}
	if len(lines) == 0 {
		return 0, 0, nil
	}
	// Lines are rewritten in place: they must not share bytes with what
	// is kept, the func info or the CO-RE relocations after them.
	others := [][2]uint32{{bo.Uint32(ext[8:]), bo.Uint32(ext[12:])}}
	if hdrLen >= extHeaderCORE {
		others = append(others, [2]uint32{bo.Uint32(ext[24:]), bo.Uint32(ext[28:])})
	}
	liOff, liLen := uint64(bo.Uint32(ext[16:])), uint64(len(lines))
	for _, o := range others {
		if off, n := uint64(o[0]), uint64(o[1]); n > 0 && off < liOff+liLen && liOff < off+n {
			return 0, 0, fmt.Errorf("%w: line info overlaps another subsection", ErrMalformed)
		}
	}

	starts := make(map[funcStart]bool)
	if len(funcs) > 0 {
		err := records(funcs, bo, minFuncRecord, func(section uint32, rec []byte) {
			starts[funcStart{section, bo.Uint32(rec)}] = true
		})
		if err != nil {
			return 0, 0, fmt.Errorf("func info: %w", err)
		}
	}
	err = records(lines, bo, minLineRecord, func(section uint32, rec []byte) {
		if starts[funcStart{section, bo.Uint32(rec)}] {
			kept++
		} else {
			dropped++
		}
	})
	if err != nil {
		return 0, 0, fmt.Errorf("line info: %w", err)
	}
	if dropped > 0 {
		n := compact(lines, bo, starts)
		clear(lines[n:])
		bo.PutUint32(ext[20:], uint32(n))
	}
	return kept, dropped, nil
}

// subsection returns the off, length bytes after the header.
func subsection(ext []byte, hdrLen uint64, off, length uint32) ([]byte, error) {
	start := hdrLen + uint64(off)
	end := start + uint64(length)
	if end > uint64(len(ext)) {
		return nil, fmt.Errorf("%w: %d bytes at %d past the section's %d", ErrMalformed, length, off, len(ext))
	}
	return ext[start:end], nil
}

// records walks a func or line info subsection: a record size, then for
// each program section its name, a count and that many records. It calls
// f with every record, after checking the whole subsection.
func records(sub []byte, bo binary.ByteOrder, minSize uint32, f func(section uint32, rec []byte)) error {
	if len(sub) < 4 {
		return fmt.Errorf("%w: no record size", ErrMalformed)
	}
	size := bo.Uint32(sub)
	if size < minSize || size%4 != 0 {
		return fmt.Errorf("%w: record size %d", ErrMalformed, size)
	}
	rest := sub[4:]
	for len(rest) > 0 {
		if len(rest) < sectionHeader {
			return fmt.Errorf("%w: truncated section header", ErrMalformed)
		}
		n := uint64(bo.Uint32(rest[4:]))
		rest = rest[sectionHeader:]
		if n*uint64(size) > uint64(len(rest)) {
			return fmt.Errorf("%w: %d records of %d bytes in %d", ErrMalformed, n, size, len(rest))
		}
		rest = rest[n*uint64(size):]
	}
	for rest := sub[4:]; len(rest) > 0; {
		section, n := bo.Uint32(rest), bo.Uint32(rest[4:])
		rest = rest[sectionHeader:]
		for range n {
			f(section, rest[:size])
			rest = rest[size:]
		}
	}
	return nil
}

// compact rewrites a line info subsection already checked by records,
// keeping the records at a function's start, and returns its new length.
// The write position never passes the read position: a section's header
// is written where the kept records of the sections before it end.
func compact(sub []byte, bo binary.ByteOrder, starts map[funcStart]bool) int {
	size := int(bo.Uint32(sub))
	r, w := 4, 4
	for r < len(sub) {
		section, n := bo.Uint32(sub[r:]), int(bo.Uint32(sub[r+4:]))
		r += sectionHeader
		head := w
		w += sectionHeader
		var count uint32
		for range n {
			if starts[funcStart{section, bo.Uint32(sub[r:])}] {
				copy(sub[w:], sub[r:r+size])
				w += size
				count++
			}
			r += size
		}
		bo.PutUint32(sub[head:], section)
		bo.PutUint32(sub[head+4:], count)
	}
	return w
}

// TrimObject trims the line info of the .BTF.ext section of obj, a BPF ELF
// object, in place. An object without one is left as it is.
func TrimObject(obj []byte) (kept, dropped int, err error) {
	f, err := elf.NewFile(bytes.NewReader(obj))
	if err != nil {
		return 0, 0, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	defer f.Close()
	s := f.Section(".BTF.ext")
	if s == nil {
		return 0, 0, nil
	}
	if s.Type == elf.SHT_NOBITS || s.Offset > uint64(len(obj)) || s.Size > uint64(len(obj))-s.Offset {
		return 0, 0, fmt.Errorf("%w: .BTF.ext outside the object", ErrMalformed)
	}
	return TrimLines(obj[s.Offset:s.Offset+s.Size], f.ByteOrder)
}
