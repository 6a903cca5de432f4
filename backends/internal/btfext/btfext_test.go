package btfext

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var le = binary.LittleEndian

// section is one program section's records in a func or line info
// subsection: the section's name offset and the records' instruction
// offsets (a line record's other fields are derived from it).
type section struct {
	name  uint32
	insns []uint32
}

// buildExt lays out a .BTF.ext section with the given func and line info
// and a CO-RE relocation subsection after them, as clang writes it.
func buildExt(funcs, lines []section) []byte {
	sub := func(size uint32, secs []section, rec func(insn uint32) []byte) []byte {
		b := le.AppendUint32(nil, size)
		for _, s := range secs {
			b = le.AppendUint32(b, s.name)
			b = le.AppendUint32(b, uint32(len(s.insns)))
			for _, insn := range s.insns {
				b = append(b, rec(insn)...)
			}
		}
		return b
	}
	fi := sub(8, funcs, func(insn uint32) []byte { return le.AppendUint32(le.AppendUint32(nil, insn), 7) })
	li := sub(16, lines, func(insn uint32) []byte {
		r := le.AppendUint32(nil, insn)
		r = le.AppendUint32(r, 1)      // file
		r = le.AppendUint32(r, insn+2) // line text
		return le.AppendUint32(r, insn<<10|3)
	})
	core := []byte{16, 0, 0, 0}
	const hdrLen = 32
	ext := make([]byte, hdrLen)
	le.PutUint16(ext, extMagic)
	ext[2] = 1
	le.PutUint32(ext[4:], hdrLen)
	le.PutUint32(ext[8:], 0)
	le.PutUint32(ext[12:], uint32(len(fi)))
	le.PutUint32(ext[16:], uint32(len(fi)))
	le.PutUint32(ext[20:], uint32(len(li)))
	le.PutUint32(ext[24:], uint32(len(fi)+len(li)))
	le.PutUint32(ext[28:], uint32(len(core)))
	ext = append(ext, fi...)
	ext = append(ext, li...)
	return append(ext, core...)
}

func TestTrimLines(t *testing.T) {
	for _, tc := range []struct {
		name          string
		funcs, lines  []section
		want          []section // the line info after trimming
		kept, dropped int
	}{{
		name:  "one function",
		funcs: []section{{10, []uint32{0}}},
		lines: []section{{10, []uint32{0, 8, 16, 40}}},
		want:  []section{{10, []uint32{0}}},
		kept:  1, dropped: 3,
	}, {
		name:  "functions in two sections, same offsets",
		funcs: []section{{10, []uint32{0, 64}}, {20, []uint32{0}}},
		lines: []section{{10, []uint32{0, 8, 64, 72}}, {20, []uint32{0, 8, 64}}},
		want:  []section{{10, []uint32{0, 64}}, {20, []uint32{0}}},
		kept:  3, dropped: 4,
	}, {
		name:  "a section without a function start keeps its header",
		funcs: []section{{10, []uint32{0}}},
		lines: []section{{10, []uint32{8}}, {20, []uint32{0, 8}}},
		want:  []section{{10, nil}, {20, nil}},
		kept:  0, dropped: 3,
	}, {
		name:  "already trimmed",
		funcs: []section{{10, []uint32{0, 64}}},
		lines: []section{{10, []uint32{0, 64}}},
		want:  []section{{10, []uint32{0, 64}}},
		kept:  2, dropped: 0,
	}, {
		name:  "no line info",
		funcs: []section{{10, []uint32{0}}},
		want:  nil,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			ext := buildExt(tc.funcs, tc.lines)
			wantExt := buildExt(tc.funcs, tc.want)
			kept, dropped, err := TrimLines(ext, le)
			require.NoError(t, err)
			assert.Equal(t, tc.kept, kept, "kept")
			assert.Equal(t, tc.dropped, dropped, "dropped")
			require.Len(t, ext, len(buildExt(tc.funcs, tc.lines)), "the section keeps its size")

			// The header and the subsections match a section built with
			// the trimmed lines; the CO-RE relocations stay where they
			// were, and what the line info freed is zero.
			liLen := le.Uint32(wantExt[20:])
			assert.Equal(t, wantExt[:24], ext[:24], "header up to the line info's length")
			assert.Equal(t, le.Uint32(buildExt(tc.funcs, tc.lines)[24:]), le.Uint32(ext[24:]), "CO-RE offset unchanged")
			liStart := 32 + le.Uint32(ext[16:])
			assert.Equal(t, wantExt[liStart:liStart+liLen], ext[liStart:liStart+liLen], "line info")
			coreStart := 32 + le.Uint32(ext[24:])
			assert.Equal(t, make([]byte, int(coreStart-liStart-liLen)), ext[liStart+liLen:coreStart], "freed bytes")
			assert.Equal(t, []byte{16, 0, 0, 0}, ext[coreStart:], "CO-RE relocations")

			// Trimming again changes nothing.
			again := append([]byte(nil), ext...)
			_, dropped, err = TrimLines(again, le)
			require.NoError(t, err)
			assert.Zero(t, dropped)
			assert.Equal(t, ext, again)
		})
	}
}

func TestTrimLinesMalformed(t *testing.T) {
	good := buildExt([]section{{10, []uint32{0}}}, []section{{10, []uint32{0, 8}}})
	for _, tc := range []struct {
		name string
		edit func(b []byte) []byte
	}{
		{"empty", func([]byte) []byte { return nil }},
		{"bad magic", func(b []byte) []byte { b[0] = 0; return b }},
		{"header longer than the section", func(b []byte) []byte { le.PutUint32(b[4:], 1<<20); return b }},
		{"line info past the end", func(b []byte) []byte { le.PutUint32(b[20:], 1<<31); return b }},
		{"offset overflows", func(b []byte) []byte { le.PutUint32(b[16:], 0xffffffff); return b }},
		{"record size too small", func(b []byte) []byte { le.PutUint32(b[lineInfo(b):], 8); return b }},
		{"record count too large", func(b []byte) []byte { le.PutUint32(b[lineInfo(b)+8:], 0x40000000); return b }},
		{"func record count too large", func(b []byte) []byte { le.PutUint32(b[32+8:], 3); return b }},
		{"line info over the func info", func(b []byte) []byte { le.PutUint32(b[16:], 4); return b }},
		{"line info over the CO-RE relocations", func(b []byte) []byte { le.PutUint32(b[24:], le.Uint32(b[16:])+8); return b }},
		{"truncated section header", func(b []byte) []byte { le.PutUint32(b[20:], le.Uint32(b[20:])+4); return b }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := tc.edit(append([]byte(nil), good...))
			before := append([]byte(nil), b...)
			_, _, err := TrimLines(b, le)
			require.ErrorIs(t, err, ErrMalformed)
			assert.Equal(t, before, b, "a malformed section is left as it was")
		})
	}
}

// lineInfo returns the offset of ext's line info.
func lineInfo(ext []byte) int { return int(le.Uint32(ext[4:]) + le.Uint32(ext[16:])) }

// TestCommittedObjectsTrimmed fails when `make generate` wrote an object
// without trimming it: every line left is at a function's start, and every
// function has one, which the kernel requires.
func TestCommittedObjectsTrimmed(t *testing.T) {
	objs, err := filepath.Glob("../../*/*_bpfel.o")
	require.NoError(t, err)
	core, err := filepath.Glob("../bpfcore/*_bpfel.o")
	require.NoError(t, err)
	objs = append(objs, core...)
	require.Len(t, objs, 5)
	for _, path := range objs {
		obj, err := os.ReadFile(path)
		require.NoError(t, err)
		kept, dropped, err := TrimObject(obj)
		require.NoError(t, err, path)
		assert.Zero(t, dropped, "%s has lines not at a function's start: run make generate", path)
		assert.Equal(t, functions(t, obj), kept, "%s: a line at every function's start", path)
	}
}

// functions counts the func info records of obj.
func functions(t *testing.T, obj []byte) int {
	t.Helper()
	n := 0
	f, err := elf.NewFile(bytes.NewReader(obj))
	require.NoError(t, err)
	s := f.Section(".BTF.ext")
	require.NotNil(t, s)
	ext := obj[s.Offset : s.Offset+s.Size]
	fi, err := subsection(ext, uint64(le.Uint32(ext[4:])), le.Uint32(ext[8:]), le.Uint32(ext[12:]))
	require.NoError(t, err)
	require.NoError(t, records(fi, le, minFuncRecord, func(uint32, []byte) { n++ }))
	return n
}

func TestTrimObjectNotELF(t *testing.T) {
	_, _, err := TrimObject([]byte("not an object"))
	assert.True(t, errors.Is(err, ErrMalformed))
}

func FuzzTrimLines(f *testing.F) {
	f.Add(buildExt([]section{{10, []uint32{0, 64}}, {20, []uint32{0}}},
		[]section{{10, []uint32{0, 8, 64, 72}}, {20, []uint32{0, 8, 64}}}))
	f.Add(buildExt(nil, []section{{10, []uint32{0}}}))
	f.Fuzz(func(t *testing.T, ext []byte) {
		n := len(ext)
		kept, dropped, err := TrimLines(ext, le)
		if len(ext) != n {
			t.Fatal("length changed")
		}
		if err != nil {
			return
		}
		// Whatever was accepted is trimmed for good.
		kept2, dropped2, err := TrimLines(ext, le)
		if err != nil || dropped2 != 0 || kept2 != kept {
			t.Fatalf("second trim: kept %d (first %d, dropped %d), dropped %d, %v", kept2, kept, dropped, dropped2, err)
		}
	})
}
