package bpfcore

import (
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"
)

// dropMapBTF removes the key and value types of the maps of spec the
// kernel creates as well without them. For a map with types,
// cilium/ebpf marshals them into BTF of their own and loads it into the
// kernel, a BPF_BTF_LOAD per map, and every load of a program copies them
// for each map of its collection, replaced ones included: 3–5 % of a
// start's CPU and 0.2 MB of its allocations. The kernel needs them for
// local storage maps and struct_ops, and to find the special fields of a
// value (spin locks, timers, kernel pointers); cilium/ebpf reads global
// data's (".data", ".rodata", ...) to place its variables. Those keep
// theirs; the others only lose what bpftool shows of their entries.
func dropMapBTF(spec *ebpf.CollectionSpec) {
	for name, m := range spec.Maps {
		switch m.Type {
		case ebpf.Hash, ebpf.Array, ebpf.PerCPUHash, ebpf.PerCPUArray, ebpf.LRUHash, ebpf.LRUCPUHash,
			ebpf.ArrayOfMaps, ebpf.HashOfMaps, ebpf.RingBuf, ebpf.CGroupArray, ebpf.PerfEventArray:
		default:
			continue
		}
		if strings.HasPrefix(name, ".") || specialFields(m.Value, 0) {
			continue
		}
		m.Key, m.Value = nil, nil
	}
}

// specialFields reports whether typ may hold a field the kernel finds
// through BTF: a struct or union named bpf_* (bpf_spin_lock, bpf_timer,
// bpf_list_head, ...) or a tagged pointer (__kptr), anywhere in its layout.
// Types nested deeper than a map value plausibly is are taken to hold one.
func specialFields(typ btf.Type, depth int) bool {
	if depth > 32 {
		return true
	}
	switch t := typ.(type) {
	case *btf.Struct:
		return specialMembers(t.Name, t.Members, depth)
	case *btf.Union:
		return specialMembers(t.Name, t.Members, depth)
	case *btf.Pointer:
		_, tagged := t.Target.(*btf.TypeTag)
		return tagged
	case *btf.Array:
		return specialFields(t.Type, depth+1)
	case *btf.Typedef:
		return specialFields(t.Type, depth+1)
	case *btf.Const:
		return specialFields(t.Type, depth+1)
	case *btf.Volatile:
		return specialFields(t.Type, depth+1)
	case *btf.Restrict:
		return specialFields(t.Type, depth+1)
	case *btf.TypeTag:
		return true
	case *btf.Fwd:
		return strings.HasPrefix(t.Name, "bpf_")
	}
	return false
}

// specialMembers is specialFields for a struct or union.
func specialMembers(name string, members []btf.Member, depth int) bool {
	if strings.HasPrefix(name, "bpf_") {
		return true
	}
	for _, m := range members {
		if specialFields(m.Type, depth+1) {
			return true
		}
	}
	return false
}
