package tlstrace

import (
	"errors"
	"fmt"
)

// A uprobe must sit on the first byte of an instruction: one placed inside
// an instruction corrupts it in every process that maps the file. Go
// functions are probed at their RET instructions, so their code is walked
// instruction by instruction from the entry with the length decoder below,
// which knows the x86-64 encodings (legacy, REX, VEX, EVEX and XOP
// prefixes, the one-, two- and three-byte opcode maps, ModRM, SIB,
// displacement and immediate sizes) but not what instructions mean. A walk
// that does not end exactly at the function's end is refused.

// errInsn is returned for bytes that are not a valid 64-bit instruction.
var errInsn = errors.New("undecodable x86-64 instruction")

// maxInsnLen is the architectural limit on an instruction's length.
const maxInsnLen = 15

// insn is one decoded instruction.
type insn struct {
	len int
	// ret is set for a near return (C3, or C2 with a 16-bit immediate).
	ret bool
}

// Operand classes of the one-byte and two-byte opcode maps:
//
//	.  no operand bytes
//	m  ModRM
//	b  8-bit immediate or relative offset
//	w  16-bit immediate
//	z  16- or 32-bit immediate (32 unless the 66 prefix is present)
//	d  32-bit relative offset, whatever the prefixes (near branches)
//	v  16-, 32- or 64-bit immediate (mov r, imm: 64 with REX.W)
//	o  memory offset of the address size (8 bytes, 4 with the 67 prefix)
//	e  16-bit and 8-bit immediates (enter)
//	M  ModRM and an 8-bit immediate
//	Z  ModRM and a z immediate
//	F  ModRM, with an 8-bit immediate for /0 and /1 (test)
//	G  ModRM, with a z immediate for /0 and /1 (test)
//	p  a prefix (handled before the table is consulted)
//	x  an escape to another map (handled before the table is consulted)
//	X  invalid in 64-bit mode
var oneByteMap = [256]byte{}
var twoByteMap = [256]byte{}

func init() {
	rows := []string{
		// 0123456789ABCDEF
		"mmmmbzXXmmmmbzXx", // 0x
		"mmmmbzXXmmmmbzXX", // 1x
		"mmmmbzpXmmmmbzpX", // 2x
		"mmmmbzpXmmmmbzpX", // 3x
		"pppppppppppppppp", // 4x REX
		"................", // 5x
		"XXxmppppzZbM....", // 6x (62: EVEX)
		"bbbbbbbbbbbbbbbb", // 7x
		"MZXMmmmmmmmmmmmm", // 8x (8F: pop or XOP, see decodeInsn)
		"..........X.....", // 9x
		"oooo....bz......", // Ax
		"bbbbbbbbvvvvvvvv", // Bx
		"MMw.xxMZe.w..bX.", // Cx (C4, C5: VEX)
		"mmmmXXX.mmmmmmmm", // Dx
		"bbbbbbbbddXb....", // Ex
		"p.pp..FG......mm", // Fx
	}
	fill(&oneByteMap, rows)
	rows = []string{
		// 0123456789ABCDEF
		"mmmmX.....X.Xm.M", // 0x (0F 0F: 3DNow!, ModRM and an 8-bit suffix)
		"mmmmmmmmmmmmmmmm", // 1x
		"mmmmXXXXmmmmmmmm", // 2x
		"......X.xXxXXXXX", // 3x (38, 3A: three-byte maps)
		"mmmmmmmmmmmmmmmm", // 4x
		"mmmmmmmmmmmmmmmm", // 5x
		"mmmmmmmmmmmmmmmm", // 6x
		"MMMMmmm.mmXXmmmm", // 7x
		"dddddddddddddddd", // 8x
		"mmmmmmmmmmmmmmmm", // 9x
		"...mMmXX...mMmmm", // Ax
		"mmmmmmmmmmMmmmmm", // Bx
		"mmMmMMMm........", // Cx
		"mmmmmmmmmmmmmmmm", // Dx
		"mmmmmmmmmmmmmmmm", // Ex
		"mmmmmmmmmmmmmmmm", // Fx
	}
	fill(&twoByteMap, rows)
}

func fill(m *[256]byte, rows []string) {
	for r, row := range rows {
		if len(row) != 16 {
			panic(fmt.Sprintf("opcode map row %x has %d entries", r, len(row)))
		}
		for c := 0; c < 16; c++ {
			m[r*16+c] = row[c]
		}
	}
}

// vexImm8 reports whether a VEX, EVEX or XOP encoded instruction of opcode
// map mmap (1: 0F, 2: 0F38, 3: 0F3A, ...) takes an 8-bit immediate.
func vexImm8(mmap int, op byte) bool {
	switch mmap {
	case 1:
		switch op {
		case 0x70, 0x71, 0x72, 0x73, 0xC2, 0xC4, 0xC5, 0xC6:
			return true
		}
	case 3, 8: // 0F3A, XOP map 8
		return true
	}
	return false
}

// decodeInsn decodes the length of the instruction at the start of b.
func decodeInsn(b []byte) (insn, error) {
	i := 0
	var opsize16, addr32 bool
	var rex byte
	// Legacy prefixes and REX, in any order; a REX prefix counts only
	// when it comes last, right before the opcode.
prefixes:
	for ; i < len(b); i++ {
		switch c := b[i]; {
		case c == 0x66:
			opsize16, rex = true, 0
		case c == 0x67:
			addr32, rex = true, 0
		case c == 0xF0 || c == 0xF2 || c == 0xF3 || c == 0x2E || c == 0x36 || c == 0x3E || c == 0x26 || c == 0x64 || c == 0x65:
			rex = 0
		case c&0xF0 == 0x40:
			rex = c
		default:
			break prefixes
		}
		if i >= maxInsnLen {
			return insn{}, fmt.Errorf("%w: too many prefixes", errInsn)
		}
	}
	if i >= len(b) {
		return insn{}, fmt.Errorf("%w: cut short", errInsn)
	}
	rexW := rex&0x08 != 0
	op := b[i]
	i++

	var class byte
	switch {
	case op == 0x0F:
		if i >= len(b) {
			return insn{}, fmt.Errorf("%w: cut short", errInsn)
		}
		op2 := b[i]
		i++
		switch op2 {
		case 0x38:
			class = 'm'
			i++ // third opcode byte
		case 0x3A:
			class = 'M'
			i++
		default:
			class = twoByteMap[op2]
		}
	case op == 0xC4 || op == 0xC5 || op == 0x62 || (op == 0x8F && i < len(b) && b[i]&0x1F >= 8):
		return decodeVEX(b, i-1, rex != 0 || opsize16)
	default:
		class = oneByteMap[op]
	}

	n, err := operands(b, i, class, opsize16, addr32, rexW)
	if err != nil {
		return insn{}, err
	}
	return insn{len: n, ret: op == 0xC3 || op == 0xC2}, nil
}

// operands returns the length of an instruction whose operand bytes,
// described by class, start at b[i].
func operands(b []byte, i int, class byte, opsize16, addr32, rexW bool) (int, error) {
	immz := 4
	if opsize16 {
		immz = 2
	}
	imm := 0
	modrm := false
	switch class {
	case '.':
	case 'm':
		modrm = true
	case 'b':
		imm = 1
	case 'w':
		imm = 2
	case 'z':
		imm = immz
	case 'd':
		imm = 4
	case 'v':
		imm = immz
		if rexW {
			imm = 8
		}
	case 'o':
		imm = 8
		if addr32 {
			imm = 4
		}
	case 'e':
		imm = 3
	case 'M':
		modrm, imm = true, 1
	case 'Z':
		modrm, imm = true, immz
	case 'F', 'G':
		modrm = true
		if i >= len(b) {
			return 0, fmt.Errorf("%w: cut short", errInsn)
		}
		if reg := b[i] >> 3 & 7; reg == 0 || reg == 1 {
			imm = 1
			if class == 'G' {
				imm = immz
			}
		}
	default:
		return 0, fmt.Errorf("%w: invalid opcode", errInsn)
	}
	if modrm {
		var err error
		if i, err = modRM(b, i); err != nil {
			return 0, err
		}
	}
	i += imm
	if i > maxInsnLen {
		return 0, fmt.Errorf("%w: longer than %d bytes", errInsn, maxInsnLen)
	}
	if i > len(b) {
		return 0, fmt.Errorf("%w: cut short", errInsn)
	}
	return i, nil
}

// modRM skips the ModRM byte at b[i] and the SIB byte and displacement it
// calls for, returning the index after them.
func modRM(b []byte, i int) (int, error) {
	if i >= len(b) {
		return 0, fmt.Errorf("%w: cut short", errInsn)
	}
	m := b[i]
	i++
	mod, rm := m>>6, m&7
	if mod == 3 {
		return i, nil
	}
	if rm == 4 { // SIB
		if i >= len(b) {
			return 0, fmt.Errorf("%w: cut short", errInsn)
		}
		base := b[i] & 7
		i++
		if mod == 0 && base == 5 {
			i += 4
		}
	} else if mod == 0 && rm == 5 { // RIP-relative
		i += 4
	}
	switch mod {
	case 1:
		i++
	case 2:
		i += 4
	}
	return i, nil
}

// decodeVEX decodes a VEX (C4, C5), EVEX (62) or XOP (8F) encoded
// instruction starting at b[start]. Legacy 66, F2, F3 and REX prefixes may
// not precede one; lock and segment prefixes, odd as they are, are allowed.
func decodeVEX(b []byte, start int, badPrefix bool) (insn, error) {
	if badPrefix {
		return insn{}, fmt.Errorf("%w: prefix before VEX", errInsn)
	}
	i := start
	var mmap int
	switch b[i] {
	case 0xC5:
		i += 2
		mmap = 1
	case 0xC4, 0x8F:
		if i+1 >= len(b) {
			return insn{}, fmt.Errorf("%w: cut short", errInsn)
		}
		mmap = int(b[i+1] & 0x1F)
		i += 3
	case 0x62:
		if i+1 >= len(b) {
			return insn{}, fmt.Errorf("%w: cut short", errInsn)
		}
		mmap = int(b[i+1] & 0x07)
		i += 4
	}
	if i >= len(b) {
		return insn{}, fmt.Errorf("%w: cut short", errInsn)
	}
	op := b[i]
	i++
	if mmap == 1 && op == 0x77 && b[start] != 0x62 { // vzeroupper, vzeroall
		return insn{len: i - start}, nil
	}
	var err error
	if i, err = modRM(b, i); err != nil {
		return insn{}, err
	}
	switch {
	case b[start] == 0x8F && mmap == 0x0A:
		i += 4 // XOP map 0A: 32-bit immediate
	case vexImm8(mmap, op):
		i++
	}
	if i-start > maxInsnLen {
		return insn{}, fmt.Errorf("%w: longer than %d bytes", errInsn, maxInsnLen)
	}
	if i > len(b) {
		return insn{}, fmt.Errorf("%w: cut short", errInsn)
	}
	return insn{len: i - start}, nil
}

// returnOffsets walks code, the whole body of one function, and returns the
// offsets of its return instructions. It fails unless the walk ends exactly
// at the end of code, the sign that every instruction was decoded right.
func returnOffsets(code []byte) ([]uint64, error) {
	var rets []uint64
	for off := 0; off < len(code); {
		in, err := decodeInsn(code[off:min(len(code), off+maxInsnLen)])
		if err != nil {
			return nil, fmt.Errorf("offset %#x: %w", off, err)
		}
		if in.ret {
			rets = append(rets, uint64(off))
		}
		off += in.len
	}
	return rets, nil
}
