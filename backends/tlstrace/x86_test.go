package tlstrace

import (
	"bufio"
	"bytes"
	"debug/elf"
	"debug/gosym"
	"encoding/hex"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestDecodeInsn(t *testing.T) {
	tests := []struct {
		hex string
		len int
		ret bool
	}{
		{"c3", 1, true},
		{"c2 08 00", 3, true},
		{"f3 c3", 2, true}, // rep ret
		{"cc", 1, false},
		{"55", 1, false},
		{"48 89 e5", 3, false},
		{"48 83 ec 10", 4, false},
		{"49 3b 66 10", 4, false},                    // cmp 0x10(%r14),%rsp (Go's stack check)
		{"e8 00 00 00 00", 5, false},                 // call rel32
		{"66 e8 00 00 00 00", 6, false},              // a 66 prefix leaves a near branch rel32 in 64-bit mode
		{"0f 84 00 00 00 00", 6, false},              // jcc rel32
		{"75 f0", 2, false},                          // jcc rel8
		{"48 b8 01 02 03 04 05 06 07 08", 10, false}, // movabs
		{"b8 78 56 34 12", 5, false},
		{"66 b8 34 12", 4, false},
		{"48 8d 05 00 00 00 00", 7, false},       // lea rip-relative
		{"8b 04 24", 3, false},                   // SIB
		{"8b 04 25 00 00 00 00", 7, false},       // SIB without base: disp32
		{"8b 44 24 08", 4, false},                // SIB + disp8
		{"8b 84 24 00 01 00 00", 7, false},       // SIB + disp32
		{"c7 44 24 08 01 00 00 00", 8, false},    // mov imm32 to memory
		{"66 c7 44 24 08 01 00", 7, false},       // mov imm16 to memory
		{"f6 c1 01", 3, false},                   // test cl, imm8
		{"f6 d1", 2, false},                      // not cl
		{"f7 c1 01 00 00 00", 6, false},          // test ecx, imm32
		{"66 f7 c1 01 00", 5, false},             // test cx, imm16
		{"f7 d9", 2, false},                      // neg ecx
		{"c8 10 00 00", 4, false},                // enter
		{"a1 01 02 03 04 05 06 07 08", 9, false}, // mov moffs64
		{"67 a1 01 02 03 04", 6, false},          // mov moffs32
		{"0f 0b", 2, false},                      // ud2
		{"0f 05", 2, false},                      // syscall
		{"f3 0f 1e fa", 4, false},                // endbr64
		{"0f 1f 44 00 00", 5, false},             // nopl
		{"66 2e 0f 1f 84 00 00 00 00 00", 10, false},
		{"f0 48 0f b1 0e", 5, false},          // lock cmpxchg
		{"66 0f 38 00 c1", 5, false},          // pshufb
		{"66 0f 3a 0f c1 08", 6, false},       // palignr
		{"0f ba e0 05", 4, false},             // bt imm8
		{"66 0f 70 c1 1b", 5, false},          // pshufd imm8
		{"0f 10 06", 3, false},                // movups
		{"44 0f 11 7c 24 10", 6, false},       // movups %xmm15 (Go zeroing)
		{"c5 f8 77", 3, false},                // vzeroupper
		{"c5 fd 6f 06", 4, false},             // vmovdqa (VEX2)
		{"c4 e3 7d 18 c1 01", 6, false},       // vinsertf128 (VEX3, map 0F3A, imm8)
		{"c4 e2 7d 00 c1", 5, false},          // vpshufb (VEX3, map 0F38)
		{"c5 f9 70 c1 1b", 5, false},          // vpshufd (VEX2 with imm8)
		{"62 f1 7c 48 10 06", 6, false},       // vmovups zmm (EVEX)
		{"62 f1 fd 48 6f 44 24 01", 8, false}, // EVEX with compressed disp8
		{"62 f3 7d 48 3b c1 01", 7, false},    // vextracti32x8 (EVEX map 0F3A, imm8)
		{"8f c0", 2, false},                   // pop rax through 8F /0
		{"8f e9 78 c1 c0", 5, false},          // XOP map 9
		{"8f e8 78 c0 c0 05", 6, false},       // XOP map 8, imm8
	}
	for _, tt := range tests {
		b, err := hex.DecodeString(strings.ReplaceAll(tt.hex, " ", ""))
		require.NoError(t, err)
		in, err := decodeInsn(append(b, 0x90, 0x90)) // bytes after it must not count
		require.NoError(t, err, tt.hex)
		require.Equal(t, tt.len, in.len, tt.hex)
		require.Equal(t, tt.ret, in.ret, tt.hex)
	}
}

func TestDecodeInsnInvalid(t *testing.T) {
	for _, h := range []string{
		"", "0f", "48", "66", "06", "27", "ce", "d4 0a", "ea 00 00 00 00 00 00",
		"e8 00 00",    // cut immediate
		"8b 84 24 00", // cut displacement
		"c5",          // cut VEX
		"66 c5 f8 77", // legacy prefix before VEX
		strings.Repeat("66 ", 15) + "90",
	} {
		b, err := hex.DecodeString(strings.ReplaceAll(h, " ", ""))
		require.NoError(t, err)
		_, err = decodeInsn(b)
		require.ErrorIs(t, err, errInsn, "%q", h)
	}
}

func TestReturnOffsets(t *testing.T) {
	// push rbp; mov rbp,rsp; jne +1; ret; pop rbp; ret
	code, _ := hex.DecodeString("554889e57501c35dc3")
	rets, err := returnOffsets(code)
	require.NoError(t, err)
	require.Equal(t, []uint64{6, 8}, rets)
	// A C3 byte inside an instruction is not a return.
	code, _ = hex.DecodeString("b8c3c3c3c3c3")
	rets, err = returnOffsets(code)
	require.NoError(t, err)
	require.Equal(t, []uint64{5}, rets)
	// Code that does not end on an instruction boundary is refused.
	_, err = returnOffsets(code[:4])
	require.ErrorIs(t, err, errInsn)
}

// goFuncs returns the functions of a Go program, by address: from its
// symbol table, or from its pclntab when it has none (go test links test
// binaries without one).
func goFuncs(t *testing.T, f *elf.File) map[uint64]elf.Symbol {
	t.Helper()
	out := map[uint64]elf.Symbol{}
	if syms, err := f.Symbols(); err == nil {
		for _, s := range syms {
			if elf.ST_TYPE(s.Info) == elf.STT_FUNC && s.Size > 0 && s.Section != elf.SHN_UNDEF {
				out[s.Value] = s
			}
		}
		return out
	}
	pcln, err := f.Section(".gopclntab").Data()
	require.NoError(t, err)
	tab, err := gosym.NewTable(nil, gosym.NewLineTable(pcln, f.Section(".text").Addr))
	require.NoError(t, err)
	for _, fn := range tab.Funcs {
		if fn.End > fn.Entry {
			out[fn.Entry] = elf.Symbol{Name: fn.Name, Value: fn.Entry, Size: fn.End - fn.Entry}
		}
	}
	return out
}

// Every function of this test binary (a Go program) decodes from its entry
// to exactly its end: a length decoder that got any instruction wrong
// would drift off the boundaries.
func TestDecodeWholeGoBinary(t *testing.T) {
	self, err := os.Executable()
	require.NoError(t, err)
	f, err := elf.Open(self)
	require.NoError(t, err)
	defer f.Close()
	text := f.Section(".text")
	code, err := text.Data()
	require.NoError(t, err)
	var n, bad int
	var failures []string
	for _, s := range goFuncs(t, f) {
		if s.Value < text.Addr || s.Value+s.Size > text.Addr+uint64(len(code)) {
			continue
		}
		n++
		if _, err := returnOffsets(code[s.Value-text.Addr : s.Value-text.Addr+s.Size]); err != nil {
			bad++
			failures = append(failures, s.Name+": "+err.Error())
		}
	}
	require.Greater(t, n, 1000)
	require.Zero(t, bad, "%d of %d functions: %s", bad, n, strings.Join(failures[:min(len(failures), 10)], "\n"))
}

// objdumpInsns returns the instruction addresses objdump finds in a
// function, and those of its returns.
func objdumpInsns(t *testing.T, path string, start, end uint64) (insns, rets []uint64) {
	t.Helper()
	out, err := exec.Command("objdump", "-d", "--no-show-raw-insn",
		"--start-address=0x"+strconv.FormatUint(start, 16), "--stop-address=0x"+strconv.FormatUint(end, 16), path).Output()
	require.NoError(t, err)
	s := bufio.NewScanner(bytes.NewReader(out))
	for s.Scan() {
		line := s.Text()
		addr, rest, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok || !strings.HasPrefix(line, "  ") {
			continue
		}
		a, err := strconv.ParseUint(addr, 16, 64)
		if err != nil {
			continue
		}
		insns = append(insns, a)
		if f := strings.Fields(rest); len(f) > 0 && strings.HasPrefix(f[0], "ret") {
			rets = append(rets, a)
		}
	}
	return insns, rets
}

// The decoder agrees with objdump, instruction by instruction, on the Go
// functions probed and on C code full of SSE, AVX and AVX-512 (libc).
func TestDecodeMatchesObjdump(t *testing.T) {
	if _, err := exec.LookPath("objdump"); err != nil {
		t.Skip("objdump not installed")
	}
	self, err := os.Executable()
	require.NoError(t, err)
	paths := []string{self}
	for _, p := range []string{"/lib/x86_64-linux-gnu/libc.so.6", "/usr/lib64/libc.so.6"} {
		if _, err := os.Stat(p); err == nil {
			paths = append(paths, p)
			break
		}
	}
	for _, path := range paths {
		f, err := elf.Open(path)
		require.NoError(t, err)
		text := f.Section(".text")
		code, err := text.Data()
		require.NoError(t, err)
		var syms map[uint64]elf.Symbol
		if path == self {
			syms = goFuncs(t, f)
		} else {
			dyn, err := f.DynamicSymbols()
			require.NoError(t, err)
			syms = map[uint64]elf.Symbol{}
			for _, s := range dyn {
				if elf.ST_TYPE(s.Info) == elf.STT_FUNC && s.Size > 0 && s.Value >= text.Addr {
					syms[s.Value] = s
				}
			}
		}
		f.Close()
		// objdump per function is slow: check the probed ones and a
		// sample of the others, together in one objdump call per range.
		checked := 0
		for _, s := range syms {
			probed := s.Name == goWriteSym || s.Name == goReadSym
			if !probed && (checked > 150 || s.Value%7 != 0) {
				continue
			}
			if s.Value+s.Size > text.Addr+uint64(len(code)) {
				continue
			}
			checked++
			body := code[s.Value-text.Addr : s.Value-text.Addr+s.Size]
			want, wantRets := objdumpInsns(t, path, s.Value, s.Value+s.Size)
			var got, gotRets []uint64
			for off := 0; off < len(body); {
				in, err := decodeInsn(body[off:min(len(body), off+maxInsnLen)])
				require.NoError(t, err, "%s %s+%#x", path, s.Name, off)
				got = append(got, s.Value+uint64(off))
				if in.ret {
					gotRets = append(gotRets, s.Value+uint64(off))
				}
				off += in.len
			}
			require.Equal(t, want, got, "%s %s", path, s.Name)
			require.Equal(t, wantRets, gotRets, "%s %s", path, s.Name)
		}
		t.Logf("%s: %d functions match objdump", path, checked)
	}
}

func FuzzDecodeInsn(f *testing.F) {
	for _, h := range []string{"c3", "48b80102030405060708", "62f17c481006", "c4e37d18c101", "8b842400010000", "f30f1efa"} {
		b, _ := hex.DecodeString(h)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		in, err := decodeInsn(b)
		if err != nil {
			return
		}
		if in.len < 1 || in.len > maxInsnLen || in.len > len(b) {
			t.Fatalf("length %d for % x", in.len, b)
		}
		if _, err := returnOffsets(b); err != nil && in.len == len(b) {
			t.Fatalf("one whole instruction refused: %v", err)
		}
	})
}
