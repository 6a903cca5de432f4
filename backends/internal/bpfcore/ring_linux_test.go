package bpfcore

import (
	"encoding/binary"
	"sync"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/stretchr/testify/require"

	"github.com/tracep/tracep/tracep/tracetest"
)

// A RingReader hands the records a program writes, in order, wakes for a
// record while it waits, and after Flush hands what was committed before
// and returns.
func TestIntegrationRingReader(t *testing.T) {
	tracetest.SkipUnlessRoot(t, "loading BPF programs")
	seq, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.Array, KeySize: 4, ValueSize: 8, MaxEntries: 1})
	require.NoError(t, err)
	defer seq.Close()
	ring, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.RingBuf, MaxEntries: MinRingBytes})
	require.NoError(t, err)
	defer ring.Close()
	// Writes seq[0] to the ring, the kernel's default wake-up.
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{Type: ebpf.SocketFilter, License: "GPL", Instructions: asm.Instructions{
		asm.Mov.Imm(asm.R1, 0),
		asm.StoreMem(asm.RFP, -4, asm.R1, asm.Word),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, -4),
		asm.LoadMapPtr(asm.R1, seq.FD()),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, "out"),
		asm.LoadMem(asm.R1, asm.R0, 0, asm.DWord),
		asm.StoreMem(asm.RFP, -16, asm.R1, asm.DWord),
		asm.LoadMapPtr(asm.R1, ring.FD()),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, -16),
		asm.Mov.Imm(asm.R3, 8),
		asm.Mov.Imm(asm.R4, 0),
		asm.FnRingbufOutput.Call(),
		asm.Mov.Imm(asm.R0, 0).WithSymbol("out"),
		asm.Return(),
	}})
	require.NoError(t, err)
	defer prog.Close()
	write := func(v uint64) {
		t.Helper()
		require.NoError(t, seq.Put(uint32(0), v))
		_, err := prog.Run(&ebpf.RunOptions{Data: make([]byte, 14)})
		require.NoError(t, err)
	}

	rr, err := NewRingReader(ring)
	require.NoError(t, err)
	defer rr.Close()
	var mu sync.Mutex
	more := sync.NewCond(&mu)
	var got []uint64
	done := make(chan error, 1)
	go func() {
		done <- rr.Read(func(rec []byte) {
			mu.Lock()
			got = append(got, binary.NativeEndian.Uint64(rec))
			more.Broadcast()
			mu.Unlock()
		})
	}()
	// waitFor returns once the reader has handed n records: a record
	// wakes a waiting reader.
	waitFor := func(n int) {
		mu.Lock()
		defer mu.Unlock()
		for len(got) < n {
			more.Wait()
		}
	}
	// Records of 16 bytes with their headers: batches of 3,000 wrap around
	// the 64 KiB ring, each written while the reader has room for it.
	const batch, batches = 3000, 4
	v := uint64(0)
	for range batches {
		for range batch {
			v++
			write(v)
		}
		waitFor(int(v))
	}
	write(v + 1) // handed by Flush, unless read before
	rr.Flush()
	require.NoError(t, <-done)
	mu.Lock()
	defer mu.Unlock()
	want := make([]uint64, batch*batches+1)
	for i := range want {
		want[i] = uint64(i + 1)
	}
	require.Equal(t, want, got)
}
