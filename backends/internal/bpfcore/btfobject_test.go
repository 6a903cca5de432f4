package bpfcore

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"testing"

	"github.com/cilium/ebpf/btf"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The object holds the BTF as its .BTF section, and cilium/ebpf reads from
// it the types it reads from the BTF itself, at the same IDs.
func TestBTFObject(t *testing.T) {
	for _, order := range []binary.ByteOrder{binary.LittleEndian, binary.BigEndian} {
		t.Run(order.String(), func(t *testing.T) {
			i := &btf.Int{Name: "int", Size: 4, Encoding: btf.Signed}
			types := []btf.Type{
				&btf.Typedef{Name: "btf_trace_x", Type: &btf.Pointer{Target: i}},
				&btf.Struct{Name: "task_struct", Size: 8, Members: []btf.Member{{Name: "pid", Type: i}}},
			}
			b, err := btf.NewBuilder(types, nil)
			require.NoError(t, err)
			raw, err := b.Marshal(nil, &btf.MarshalOptions{Order: order})
			require.NoError(t, err)

			obj := btfObject(raw)
			f, err := elf.NewFile(bytes.NewReader(obj))
			require.NoError(t, err)
			require.Equal(t, order, f.ByteOrder)
			data, err := f.Section(".BTF").Data()
			require.NoError(t, err)
			assert.Equal(t, raw, data)
			syms, err := f.Symbols()
			require.NoError(t, err)
			assert.Empty(t, syms)

			fromRaw, err := btf.LoadSpecFromReader(bytes.NewReader(raw))
			require.NoError(t, err)
			fromObj, err := btf.LoadSpecFromReader(bytes.NewReader(obj))
			require.NoError(t, err)
			requireSameIDs(t, fromRaw, fromObj, "btf_trace_x", "task_struct", "int")
		})
	}
}

// requireSameIDs requires a and b to hold the types names at the same IDs.
func requireSameIDs(t *testing.T, a, b *btf.Spec, names ...string) {
	t.Helper()
	for _, name := range names {
		typA, err := a.AnyTypeByName(name)
		require.NoError(t, err)
		typB, err := b.AnyTypeByName(name)
		require.NoError(t, err)
		idA, _ := a.TypeID(typA)
		idB, _ := b.TypeID(typB)
		assert.Equal(t, idA, idB, name)
	}
}
