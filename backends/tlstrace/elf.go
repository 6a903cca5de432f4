package tlstrace

import (
	"bytes"
	"debug/buildinfo"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// ErrNoTLS is returned by Inspect for a file with no TLS code it can probe.
var ErrNoTLS = errors.New("no TLS library code")

// File is a file whose TLS code a session probes.
type File struct {
	// Path is where the file was found (possibly through /proc).
	Path string
	// Libraries are the TLS libraries probed in it.
	Libraries []string
	// Probes counts its uprobes.
	Probes int
}

// Probe is one uprobe of a file.
type Probe struct {
	// Symbol is the probed function; Offset its file offset, or that of
	// the RET instruction probed (Go).
	Symbol string
	Offset uint64
	// Return is set for a return probe (C functions only).
	Return bool
	// Cookie is handed to the BPF program: the function id (fnID).
	Cookie uint64
}

// Target is what one file offers to probe.
type Target struct {
	// Libraries found in the file: LibOpenSSL, LibGnuTLS, LibGo.
	Libraries []string
	Probes    []Probe
	// GoVersion is the Go release that built a Go program.
	GoVersion string
	// Notes says what was found but could not be probed, and why.
	Notes []string
}

// Inspect reads an ELF file (a shared library or an executable) and returns
// the probes that trace its TLS code: OpenSSL's or GnuTLS's exported
// functions wherever they are defined (the libraries, or a program that
// links them statically and keeps its symbols), and the crypto/tls
// functions of a Go program, found in its symbol table or, when stripped,
// its pclntab. Offsets are file offsets, translated from virtual addresses
// through the program headers. It returns an error wrapping ErrNoTLS for a
// file without any.
func Inspect(r io.ReaderAt) (_ *Target, err error) {
	// debug/elf and debug/gosym are not hardened against hostile files,
	// and a traced user may execute any file it likes.
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: malformed ELF file: %v", ErrNoTLS, p)
		}
	}()
	f, err := elf.NewFile(r)
	if err != nil {
		return nil, fmt.Errorf("%w: not an ELF file: %w", ErrNoTLS, err)
	}
	if f.Machine != elf.EM_X86_64 || f.Class != elf.ELFCLASS64 {
		return nil, fmt.Errorf("%w: %s %s binaries are not supported", ErrNoTLS, f.Class, f.Machine)
	}
	if f.Type != elf.ET_EXEC && f.Type != elf.ET_DYN {
		return nil, fmt.Errorf("%w: ELF type %s", ErrNoTLS, f.Type)
	}

	want := map[string]bool{goWriteSym: true, goReadSym: true}
	for _, p := range opensslProbes {
		want[p.sym] = true
	}
	for _, p := range gnutlsProbes {
		want[p.sym] = true
	}
	syms, err := findSymbols(f, r, want)
	if err != nil {
		return nil, err
	}

	t := &Target{}
	for _, lib := range []struct {
		name   string
		probes []probeSpec
	}{{LibOpenSSL, opensslProbes}, {LibGnuTLS, gnutlsProbes}} {
		probes, err := cProbes(f, r, syms, lib.probes)
		if err != nil {
			t.Notes = append(t.Notes, fmt.Sprintf("%s: %v", lib.name, err))
			continue
		}
		if probes != nil {
			t.Libraries = append(t.Libraries, lib.name)
			t.Probes = append(t.Probes, probes...)
		}
	}
	if isGo(f) {
		probes, version, err := goProbes(f, r, syms)
		t.GoVersion = version
		switch {
		case err != nil:
			t.Notes = append(t.Notes, fmt.Sprintf("%s: %v", LibGo, err))
		case probes != nil:
			t.Libraries = append(t.Libraries, LibGo)
			t.Probes = append(t.Probes, probes...)
		}
	}
	if len(t.Probes) == 0 {
		if len(t.Notes) > 0 {
			return t, fmt.Errorf("%w: %s", ErrNoTLS, strings.Join(t.Notes, "; "))
		}
		return t, ErrNoTLS
	}
	return t, nil
}

// symbol is a defined function symbol: its virtual address and size.
type symbol struct {
	addr, size uint64
}

// wantedPrefixes begin every name Inspect looks for: OpenSSL's, GnuTLS's
// and crypto/tls's functions.
var wantedPrefixes = [][]byte{[]byte("SSL_"), []byte("gnutls_"), []byte("crypto/tls.")}

// chunkSize is the size of the pieces symbol and string tables are read
// in: a large program's tables (megabytes) are never read whole.
const chunkSize = 64 << 10

// findSymbols returns the defined symbols among want, from the dynamic
// symbol table and the full one. It reads the tables itself, a piece at a
// time, rather than through elf.File.Symbols, which builds every name of a
// large Go binary (tens of thousands) for the few wanted: first the string
// table, for the offsets of the wanted names, then, only if one is there,
// the symbols, for those naming them.
func findSymbols(f *elf.File, r io.ReaderAt, want map[string]bool) (map[string]symbol, error) {
	out := map[string]symbol{}
	for _, typ := range []elf.SectionType{elf.SHT_DYNSYM, elf.SHT_SYMTAB} {
		sec := f.SectionByType(typ)
		if sec == nil || sec.Link == 0 || int(sec.Link) >= len(f.Sections) {
			continue
		}
		strs := f.Sections[sec.Link]
		if strs.Type == elf.SHT_NOBITS || strs.Flags&elf.SHF_COMPRESSED != 0 || sec.Flags&elf.SHF_COMPRESSED != 0 {
			continue
		}
		names, err := findNames(r, int64(strs.Offset), int64(strs.Size), want)
		if err != nil {
			return nil, fmt.Errorf("read %s names: %w", sec.Name, err)
		}
		if len(names) == 0 {
			continue
		}
		if err := scanSymbols(r, int64(sec.Offset), int64(sec.Size), names, out); err != nil {
			return nil, fmt.Errorf("read %s: %w", sec.Name, err)
		}
	}
	return out, nil
}

// readFull reads len(b) bytes at off.
func readFull(r io.ReaderAt, b []byte, off int64) error {
	n, err := r.ReadAt(b, off)
	if n == len(b) {
		return nil
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return err
}

// findNames returns the offsets in a string table (size bytes at off) of
// the NUL-terminated names in want, wherever they start (a linker may
// store a name as the tail of another).
func findNames(r io.ReaderAt, off, size int64, want map[string]bool) (map[uint32]string, error) {
	longest := 0
	for w := range want {
		longest = max(longest, len(w))
	}
	if size > 1<<32 {
		return nil, fmt.Errorf("string table of %d bytes", size)
	}
	out := map[uint32]string{}
	// Each piece overlaps the next by the longest name and its NUL, so
	// that a name beginning in a piece ends in it.
	buf := make([]byte, min(size, int64(chunkSize+longest+1)))
	for pos := int64(0); pos < size; pos += chunkSize {
		b := buf[:min(int64(len(buf)), size-pos)]
		if err := readFull(r, b, off+pos); err != nil {
			return nil, err
		}
		for _, prefix := range wantedPrefixes {
			for i := 0; ; {
				j := bytes.Index(b[i:], prefix)
				if j < 0 {
					break
				}
				start := i + j
				if end := bytes.IndexByte(b[start:], 0); end >= 0 {
					if name := b[start : start+end]; want[string(name)] {
						out[uint32(pos)+uint32(start)] = string(name)
					}
				}
				i = start + 1
			}
		}
	}
	return out, nil
}

// scanSymbols adds to out the symbols of an Elf64_Sym table (size bytes at
// off) whose names are at the offsets of names, and that are defined (a
// section index and an address).
func scanSymbols(r io.ReaderAt, off, size int64, names map[uint32]string, out map[string]symbol) error {
	const symSize = 24 // Elf64_Sym
	buf := make([]byte, min(size, chunkSize/symSize*symSize))
	for pos := int64(0); pos+symSize <= size; pos += int64(len(buf)) {
		b := buf[:min(int64(len(buf)), (size-pos)/symSize*symSize)]
		if err := readFull(r, b, off+pos); err != nil {
			return err
		}
		for e := b; len(e) >= symSize; e = e[symSize:] {
			name, ok := names[le.Uint32(e[0:])]
			if !ok {
				continue
			}
			info, shndx := e[4], le.Uint16(e[6:])
			value, size := le.Uint64(e[8:]), le.Uint64(e[16:])
			if shndx == uint16(elf.SHN_UNDEF) || value == 0 {
				continue
			}
			if typ := elf.ST_TYPE(info); typ != elf.STT_FUNC && typ != elf.STT_OBJECT && typ != elf.STT_NOTYPE {
				continue
			}
			if _, dup := out[name]; !dup {
				out[name] = symbol{addr: value, size: size}
			}
		}
	}
	return nil
}

// fileOffset translates a virtual address to a file offset through the
// executable PT_LOAD segment that contains it.
func fileOffset(f *elf.File, addr uint64) (uint64, error) {
	for _, p := range f.Progs {
		if p.Type != elf.PT_LOAD || p.Flags&elf.PF_X == 0 {
			continue
		}
		if addr >= p.Vaddr && addr < p.Vaddr+p.Filesz {
			return addr - p.Vaddr + p.Off, nil
		}
	}
	return 0, fmt.Errorf("address %#x is in no executable segment", addr)
}

// inFile checks that the file has a byte at offset off (the program
// headers of a damaged file can point past its end).
func inFile(r io.ReaderAt, off uint64) error {
	var b [1]byte
	if _, err := r.ReadAt(b[:], int64(off)); err != nil {
		return fmt.Errorf("offset %#x: %w", off, err)
	}
	return nil
}

// cProbes returns the probes of one C library's functions, nil when its
// required functions are not defined in the file.
func cProbes(f *elf.File, r io.ReaderAt, syms map[string]symbol, specs []probeSpec) ([]Probe, error) {
	for _, s := range specs {
		if _, ok := syms[s.sym]; s.required && !ok {
			return nil, nil
		}
	}
	var probes []Probe
	for _, s := range specs {
		sym, ok := syms[s.sym]
		if !ok {
			continue
		}
		off, err := fileOffset(f, sym.addr)
		if err == nil {
			err = inFile(r, off)
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", s.sym, err)
		}
		probes = append(probes, Probe{Symbol: s.sym, Offset: off, Cookie: uint64(s.fn)})
		if s.ret {
			probes = append(probes, Probe{Symbol: s.sym, Offset: off, Return: true, Cookie: uint64(s.fn)})
		}
	}
	return probes, nil
}

// isGo reports whether f is a Go program.
func isGo(f *elf.File) bool {
	return f.Section(".go.buildinfo") != nil || f.Section(".gopclntab") != nil || f.Section(".note.go.buildid") != nil
}

// maxGoFuncSize bounds the code read for one function (Write and Read are
// a few KiB).
const maxGoFuncSize = 1 << 20

// minGoMinor is the first Go release with the register ABI on amd64
// (go1.17), which the probes read arguments and results with.
const minGoMinor = 17

// goProbes returns the probes of crypto/tls.(*Conn).Write and Read: at the
// entry of each and at each of their RET instructions.
func goProbes(f *elf.File, r io.ReaderAt, syms map[string]symbol) ([]Probe, string, error) {
	version := ""
	if bi, err := buildinfo.Read(r); err == nil {
		version = bi.GoVersion
	}
	if minor, ok := goMinor(version); ok && minor < minGoMinor {
		return nil, version, fmt.Errorf("built by %s, before the register ABI (go1.17)", version)
	}
	funcs := map[string]symbol{}
	for _, name := range []string{goWriteSym, goReadSym} {
		if s, ok := syms[name]; ok && s.size > 0 {
			funcs[name] = s
		}
	}
	if len(funcs) < 2 {
		// Stripped of its symbol table: the pclntab still names every
		// function.
		var err error
		if funcs, err = pclntabFuncs(f, r, []string{goWriteSym, goReadSym}); err != nil {
			return nil, version, err
		}
	}
	if len(funcs) < 2 {
		return nil, version, nil // no crypto/tls in this program
	}
	var probes []Probe
	for _, fn := range []struct {
		name     string
		entry    fnID
		ret      fnID
		required bool
	}{{goWriteSym, fnGoWrite, fnGoWriteRet, true}, {goReadSym, fnGoRead, fnGoReadRet, true}} {
		sym := funcs[fn.name]
		if sym.size > maxGoFuncSize {
			return nil, version, fmt.Errorf("%s: %d bytes long", fn.name, sym.size)
		}
		off, err := fileOffset(f, sym.addr)
		if err != nil {
			return nil, version, fmt.Errorf("%s: %w", fn.name, err)
		}
		code := make([]byte, sym.size)
		if _, err := r.ReadAt(code, int64(off)); err != nil {
			return nil, version, fmt.Errorf("read %s: %w", fn.name, err)
		}
		rets, err := returnOffsets(code)
		if err != nil {
			return nil, version, fmt.Errorf("disassemble %s: %w", fn.name, err)
		}
		if len(rets) == 0 {
			return nil, version, fmt.Errorf("%s: no return instruction", fn.name)
		}
		probes = append(probes, Probe{Symbol: fn.name, Offset: off, Cookie: uint64(fn.entry)})
		for _, ret := range rets {
			probes = append(probes, Probe{Symbol: fn.name + "+" + strconv.FormatUint(ret, 10), Offset: off + ret, Cookie: uint64(fn.ret)})
		}
	}
	return probes, version, nil
}

// goMinor returns the minor release of a "go1.N[.P]" version.
func goMinor(v string) (int, bool) {
	rest, ok := strings.CutPrefix(v, "go1.")
	if !ok {
		return 0, false
	}
	if i := strings.IndexFunc(rest, func(r rune) bool { return r < '0' || r > '9' }); i >= 0 {
		rest = rest[:i]
	}
	n, err := strconv.Atoi(rest)
	return n, err == nil
}

// pclntabFuncs finds functions by name in a Go program's pclntab (the
// layouts of go1.16 to the present), reading only what it needs: the
// function names, for the offsets of those wanted, then, only if one is
// there, the function table and the _func record of each function, in
// file order. debug/gosym would build every function of the program.
func pclntabFuncs(f *elf.File, r io.ReaderAt, names []string) (map[string]symbol, error) {
	pcln := f.Section(".gopclntab")
	text := f.Section(".text")
	if pcln == nil || text == nil || pcln.Type == elf.SHT_NOBITS {
		return nil, fmt.Errorf("no symbol table and no pclntab")
	}
	base, size := int64(pcln.Offset), int64(pcln.Size)
	var hdr [8 + 8*8]byte
	if size < int64(len(hdr)) {
		return nil, fmt.Errorf("pclntab of %d bytes", size)
	}
	if err := readFull(r, hdr[:], base); err != nil {
		return nil, fmt.Errorf("read pclntab: %w", err)
	}
	if hdr[4] != 0 || hdr[5] != 0 || hdr[7] != 8 {
		return nil, fmt.Errorf("pclntab header % x not understood", hdr[:8])
	}
	word := func(i int) int64 { return int64(le.Uint64(hdr[8+8*i:])) }
	var nfunc, nameOff, nameEnd, funcOff int64
	// The functab's entries: the function's entry (an offset from the
	// start of the text, or its address) and the offset of its _func
	// record from the functab; the record's name offset field follows
	// its entry field.
	entrySize, field := int64(16), int64(8)
	switch magic := le.Uint32(hdr[0:]); magic {
	case 0xfffffff0, 0xfffffff1: // go1.18, go1.20
		nfunc, nameOff, nameEnd, funcOff = word(0), word(3), word(4), word(7)
		entrySize, field = 8, 4
	case 0xfffffffa: // go1.16
		nfunc, nameOff, nameEnd, funcOff = word(0), word(2), word(3), word(6)
	default:
		return nil, fmt.Errorf("pclntab magic %#x not understood", magic)
	}
	if nfunc < 0 || nameOff < 0 || nameOff > nameEnd || nameEnd > size || funcOff < 0 || funcOff > size ||
		nfunc > (size-funcOff)/entrySize-1 {
		return nil, fmt.Errorf("pclntab header out of bounds")
	}
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	byOff, err := findNames(r, base+nameOff, nameEnd-nameOff, want)
	if err != nil {
		return nil, fmt.Errorf("read pclntab names: %w", err)
	}
	out := map[string]symbol{}
	if len(byOff) == 0 {
		return out, nil
	}
	entries := window{r: r, buf: make([]byte, chunkSize)}
	records := window{r: r, buf: make([]byte, chunkSize)}
	entry := func(b []byte) uint64 {
		if entrySize == 8 {
			return text.Addr + uint64(le.Uint32(b))
		}
		return le.Uint64(b)
	}
	for i := range nfunc {
		e, err := entries.at(base+funcOff+i*entrySize, int(2*entrySize))
		if err != nil {
			return nil, fmt.Errorf("read pclntab: %w", err)
		}
		rec := int64(le.Uint64(e[field:]) & (1<<(8*field) - 1))
		if rec > size-funcOff {
			return nil, fmt.Errorf("pclntab function %d out of bounds", i)
		}
		b, err := records.at(base+funcOff+rec+field, 4)
		if err != nil {
			return nil, fmt.Errorf("read pclntab: %w", err)
		}
		name, ok := byOff[le.Uint32(b)]
		if !ok {
			continue
		}
		start, end := entry(e), entry(e[entrySize:])
		if _, dup := out[name]; !dup && end > start {
			out[name] = symbol{addr: start, size: end - start}
		}
		if len(out) == len(byOff) {
			break
		}
	}
	return out, nil
}

// window reads a file forward through a buffer.
type window struct {
	r   io.ReaderAt
	buf []byte
	off int64
	n   int
}

// at returns the n bytes at off.
func (w *window) at(off int64, n int) ([]byte, error) {
	if off < w.off || off+int64(n) > w.off+int64(w.n) {
		m, err := w.r.ReadAt(w.buf, off)
		if m < n {
			if err == nil || err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
		w.off, w.n = off, m
	}
	return w.buf[off-w.off:][:n], nil
}
