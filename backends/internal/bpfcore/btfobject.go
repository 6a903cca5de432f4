package bpfcore

import (
	"debug/elf"
	"encoding/binary"
)

// btfObject wraps raw BTF in the smallest ELF object github.com/cilium/ebpf
// reads BTF from: its .BTF section, an empty symbol table and the string
// tables naming them. Given raw BTF, btf.LoadSpecFromReader reads its
// reader whole through io.ReadAll, which allocates twice the size in
// growing pieces; from an object it reads the section into one buffer of
// its size.
func btfObject(raw []byte) []byte {
	// The object's byte order is the BTF's: its magic, 0xeb9f, read in it.
	var bo binary.ByteOrder = binary.LittleEndian
	data := elf.ELFDATA2LSB
	if len(raw) >= 2 && binary.BigEndian.Uint16(raw) == 0xeb9f {
		bo, data = binary.BigEndian, elf.ELFDATA2MSB
	}
	const (
		hdrSize  = 64 // sizeof(Elf64_Ehdr)
		shdrSize = 64 // sizeof(Elf64_Shdr)
		symSize  = 24 // sizeof(Elf64_Sym)
	)
	align := func(n int) int { return (n + 7) &^ 7 }
	// The section names, at offsets 1, 6, 14 and 22.
	shstrtab := []byte("\x00.BTF\x00.symtab\x00.strtab\x00.shstrtab\x00")

	btfOff := hdrSize
	symOff := align(btfOff + len(raw))
	strOff := symOff + symSize // .strtab: one empty name
	shstrOff := strOff + 1
	shOff := align(shstrOff + len(shstrtab))
	sections := []elf.Section64{
		{}, // SHN_UNDEF
		{Name: 1, Type: uint32(elf.SHT_PROGBITS), Off: uint64(btfOff), Size: uint64(len(raw)), Addralign: 4},
		{Name: 6, Type: uint32(elf.SHT_SYMTAB), Off: uint64(symOff), Size: symSize, Link: 3, Info: 1, Addralign: 8, Entsize: symSize},
		{Name: 14, Type: uint32(elf.SHT_STRTAB), Off: uint64(strOff), Size: 1, Addralign: 1},
		{Name: 22, Type: uint32(elf.SHT_STRTAB), Off: uint64(shstrOff), Size: uint64(len(shstrtab)), Addralign: 1},
	}
	hdr := elf.Header64{
		Type: uint16(elf.ET_REL), Machine: uint16(elf.EM_BPF), Version: uint32(elf.EV_CURRENT),
		Shoff: uint64(shOff), Ehsize: hdrSize, Shentsize: shdrSize,
		Shnum: uint16(len(sections)), Shstrndx: uint16(len(sections) - 1),
	}
	copy(hdr.Ident[:], elf.ELFMAG)
	hdr.Ident[elf.EI_CLASS] = byte(elf.ELFCLASS64)
	hdr.Ident[elf.EI_DATA] = byte(data)
	hdr.Ident[elf.EI_VERSION] = byte(elf.EV_CURRENT)

	obj := make([]byte, 0, shOff+len(sections)*shdrSize)
	obj, _ = binary.Append(obj, bo, &hdr)
	obj = append(obj, raw...)
	obj = append(obj, make([]byte, symOff-len(obj)+symSize+1)...) // padding, the null symbol, the empty name
	obj = append(obj, shstrtab...)
	obj = append(obj, make([]byte, shOff-len(obj))...)
	for i := range sections {
		obj, _ = binary.Append(obj, bo, &sections[i])
	}
	return obj
}
