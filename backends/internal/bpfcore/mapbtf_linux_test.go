package bpfcore

import (
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Maps keep their key and value types where the kernel or cilium/ebpf
// needs them, and lose them elsewhere.
func TestDropMapBTF(t *testing.T) {
	u32 := &btf.Int{Name: "u32", Size: 4}
	plain := &btf.Struct{Name: "plain", Size: 8, Members: []btf.Member{{Name: "a", Type: u32}, {Name: "b", Type: u32, Offset: 32}}}
	lock := &btf.Struct{Name: "bpf_spin_lock", Size: 4, Members: []btf.Member{{Name: "val", Type: u32}}}
	locked := &btf.Struct{Name: "locked", Size: 8, Members: []btf.Member{
		{Name: "n", Type: u32},
		{Name: "l", Type: &btf.Array{Index: u32, Type: &btf.Typedef{Name: "lock_t", Type: lock}, Nelems: 1}, Offset: 32},
	}}
	kptr := &btf.Struct{Name: "holder", Size: 8, Members: []btf.Member{
		{Name: "p", Type: &btf.Pointer{Target: &btf.TypeTag{Value: "kptr", Type: plain}}},
	}}
	selfRef := &btf.Struct{Name: "node", Size: 8}
	selfRef.Members = []btf.Member{{Name: "next", Type: &btf.Pointer{Target: selfRef}}}
	spec := &ebpf.CollectionSpec{Maps: map[string]*ebpf.MapSpec{
		"plain":   {Type: ebpf.Hash, Key: u32, Value: plain},
		"lru":     {Type: ebpf.LRUHash, Key: u32, Value: &btf.Const{Type: plain}},
		"list":    {Type: ebpf.Array, Key: u32, Value: selfRef},
		".rodata": {Type: ebpf.Array, Key: u32, Value: &btf.Datasec{Name: ".rodata"}},
		"storage": {Type: ebpf.TaskStorage, Key: u32, Value: plain},
		"locked":  {Type: ebpf.Hash, Key: u32, Value: locked},
		"kptr":    {Type: ebpf.Array, Key: u32, Value: kptr},
	}}
	dropMapBTF(spec)
	for name, keeps := range map[string]bool{
		"plain": false, "lru": false, "list": false,
		".rodata": true, "storage": true, "locked": true, "kptr": true,
	} {
		m := spec.Maps[name]
		assert.Equal(t, keeps, m.Key != nil && m.Value != nil, name)
		assert.Equal(t, keeps, m.Key != nil || m.Value != nil, name)
	}
}

// The core's maps: the task storage and the mapped data section keep
// theirs, and the core still creates them all (TestIntegration* load the
// backends' the same way).
func TestDropMapBTFCore(t *testing.T) {
	spec, err := loadCore()
	require.NoError(t, err)
	dropMapBTF(spec)
	for name, m := range spec.Maps {
		keeps := name == coreMapTpTasks || name == mappedSection || name == ".rodata"
		assert.Equal(t, keeps, m.Value != nil, name)
	}
}
