package bpfcore

import (
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/stretchr/testify/require"

	"github.com/tracep/tracep/tracep/tracetest"
)

// loadCollection loads each program on its own goroutine against maps made
// once: the programs share them. A program the verifier rejects fails the
// load with its own error, the first by name whichever failed first.
func TestIntegrationLoadCollection(t *testing.T) {
	tracetest.SkipUnlessRoot(t, "loading BPF programs")
	counter := &ebpf.MapSpec{Name: "counter", Type: ebpf.Array, KeySize: 4, ValueSize: 4, MaxEntries: 1}
	prog := func(ok bool) *ebpf.ProgramSpec {
		insns := asm.Instructions{
			asm.LoadMapPtr(asm.R1, 0).WithReference("counter"),
			asm.Mov.Imm(asm.R0, 0),
		}
		if !ok {
			insns = insns[:1] // returns R0 unset
		}
		return &ebpf.ProgramSpec{Type: ebpf.SocketFilter, License: "GPL", Instructions: append(insns, asm.Return())}
	}
	spec := &ebpf.CollectionSpec{
		Maps:     map[string]*ebpf.MapSpec{"counter": counter},
		Programs: map[string]*ebpf.ProgramSpec{"a": prog(true), "b": prog(true), "c": prog(true)},
	}
	coll, err := loadCollection(spec, ebpf.CollectionOptions{})
	require.NoError(t, err)
	defer coll.Close()
	require.Len(t, coll.Programs, 3)
	require.Contains(t, coll.Maps, "counter")
	mapID := func(p *ebpf.Program) ebpf.MapID {
		info, err := p.Info()
		require.NoError(t, err)
		ids, ok := info.MapIDs()
		require.True(t, ok)
		require.Len(t, ids, 1)
		return ids[0]
	}
	info, err := coll.Maps["counter"].Info()
	require.NoError(t, err)
	want, _ := info.ID()
	for name, p := range coll.Programs {
		require.Equal(t, want, mapID(p), "program %s uses another map", name)
	}

	spec.Programs["b"], spec.Programs["c"] = prog(false), prog(false)
	_, err = loadCollection(spec, ebpf.CollectionOptions{})
	require.Error(t, err)
	require.Contains(t, err.Error(), "program b")
	require.NotContains(t, err.Error(), "\n")
}
