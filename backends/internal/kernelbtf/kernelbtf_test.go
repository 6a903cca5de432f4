package kernelbtf_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/cilium/ebpf/btf"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tracep/tracep/backends/internal/kernelbtf"
)

// sample is a small kernel-like BTF: two tracepoint typedefs among types
// nothing keeps, and a task_struct with a pointer, a struct, a union, an
// array, an enum and a bitfield among its members.
func sample(t testing.TB, order binary.ByteOrder) []byte {
	intT := &btf.Int{Name: "int", Size: 4, Encoding: btf.Signed}
	long := &btf.Int{Name: "long", Size: 8, Encoding: btf.Signed}
	voidPtr := &btf.Pointer{Target: &btf.Void{}}
	mm := &btf.Struct{Name: "mm_struct", Size: 4, Members: []btf.Member{{Name: "users", Type: intT}}}
	sub := &btf.Struct{Name: "sub", Size: 8, Members: []btf.Member{
		{Name: "a", Type: intT}, {Name: "b", Type: intT, Offset: 32},
	}}
	state := &btf.Enum{Name: "state", Size: 4, Values: []btf.EnumValue{{Name: "RUNNING", Value: 0}, {Name: "DEAD", Value: 2}}}
	task := &btf.Struct{Name: "task_struct", Size: 48}
	task.Members = []btf.Member{
		{Name: "pid", Type: &btf.Typedef{Name: "pid_t", Type: intT}},
		{Name: "mm", Type: &btf.Pointer{Target: mm}, Offset: 64},
		{Name: "s", Type: sub, Offset: 128},
		{Name: "", Type: &btf.Union{Size: 4, Members: []btf.Member{{Name: "x", Type: intT}, {Name: "y", Type: intT}}}, Offset: 192},
		{Name: "arr", Type: &btf.Array{Index: intT, Type: &btf.Const{Type: intT}, Nelems: 2}, Offset: 224},
		{Name: "st", Type: state, Offset: 288},
		{Name: "flags", Type: intT, Offset: 320, BitfieldSize: 3},
		{Name: "parent", Type: &btf.Pointer{Target: task}, Offset: 328},
	}
	proto := func(params ...btf.Type) btf.Type {
		p := &btf.FuncProto{Return: &btf.Void{}}
		for _, typ := range params {
			p.Params = append(p.Params, btf.FuncParam{Type: typ})
		}
		return &btf.Pointer{Target: p}
	}
	regs := &btf.Struct{Name: "pt_regs", Size: 8, Members: []btf.Member{{Name: "ip", Type: long}}}
	drop := &btf.Enum{Name: "skb_drop_reason", Size: 4, Values: []btf.EnumValue{{Name: "SKB_DROP_REASON_NO_SOCKET", Value: 3}}}
	unrelated := &btf.Struct{Name: "unrelated", Size: 4, Members: []btf.Member{{Name: "z", Type: intT}}}

	b, err := btf.NewBuilder([]btf.Type{
		unrelated,
		&btf.Typedef{Name: "other", Type: long},
		&btf.Typedef{Name: "btf_trace_sched_process_fork", Type: proto(voidPtr, &btf.Pointer{Target: task}, &btf.Pointer{Target: task})},
		&btf.Func{Name: "do_fork", Type: &btf.FuncProto{Return: intT}, Linkage: btf.GlobalFunc},
		&btf.Typedef{Name: "btf_trace_sys_exit", Type: proto(voidPtr, &btf.Pointer{Target: regs}, long)},
		task,
		drop,
		&btf.Float{Name: "double", Size: 8},
	}, nil)
	require.NoError(t, err)
	raw, err := b.Marshal(nil, &btf.MarshalOptions{Order: order})
	require.NoError(t, err)
	return raw
}

func load(t testing.TB, raw []byte) *btf.Spec {
	t.Helper()
	spec, err := btf.LoadSpecFromReader(bytes.NewReader(raw))
	require.NoError(t, err)
	return spec
}

var keep = kernelbtf.Keep{Types: []string{"task_struct", "skb_drop_reason___tpd", "pt_regs"}, TypedefPrefix: "btf_trace_"}

func TestReduce(t *testing.T) {
	for _, order := range []binary.ByteOrder{binary.LittleEndian, binary.BigEndian} {
		t.Run(order.String(), func(t *testing.T) {
			raw := sample(t, order)
			reduced, err := kernelbtf.Reduce(raw, keep)
			require.NoError(t, err)
			full, small := load(t, raw), load(t, reduced)

			// The typedefs carry their IDs, and keep what they point to.
			for _, name := range []string{"btf_trace_sched_process_fork", "btf_trace_sys_exit"} {
				want, got := sameTypedef(t, full, small, name)
				params := got.Type.(*btf.Pointer).Target.(*btf.FuncProto).Params
				assert.Len(t, params, len(want.Type.(*btf.Pointer).Target.(*btf.FuncProto).Params), name)
			}

			// task_struct is whole: same members at the same offsets.
			var want, got *btf.Struct
			require.NoError(t, full.TypeByName("task_struct", &want))
			require.NoError(t, small.TypeByName("task_struct", &got))
			assert.Equal(t, want.Size, got.Size)
			require.Len(t, got.Members, len(want.Members))
			for i, m := range got.Members {
				assert.Equal(t, want.Members[i].Name, m.Name)
				assert.Equal(t, want.Members[i].Offset, m.Offset, m.Name)
				assert.Equal(t, want.Members[i].BitfieldSize, m.BitfieldSize, m.Name)
				wantSize, err := btf.Sizeof(want.Members[i].Type)
				require.NoError(t, err)
				if gotSize, err := btf.Sizeof(m.Type); assert.NoError(t, err, m.Name) {
					assert.Equal(t, wantSize, gotSize, m.Name)
				}
			}
			// By value, whole; behind a pointer, declared.
			assert.IsType(t, &btf.Fwd{}, got.Members[1].Type.(*btf.Pointer).Target)
			assert.Equal(t, "mm_struct", got.Members[1].Type.(*btf.Pointer).Target.TypeName())
			assert.Len(t, got.Members[2].Type.(*btf.Struct).Members, 2)
			assert.Same(t, got, got.Members[7].Type.(*btf.Pointer).Target, "a pointer to a type kept whole points to it")
			assert.Equal(t, []btf.EnumValue{{Name: "RUNNING", Value: 0}, {Name: "DEAD", Value: 2}}, got.Members[5].Type.(*btf.Enum).Values)

			var drop *btf.Enum
			require.NoError(t, small.TypeByName("skb_drop_reason", &drop), "a flavoured name keeps the kernel's")
			assert.Equal(t, uint64(3), drop.Values[0].Value)

			// The rest is gone.
			for _, name := range []string{"unrelated", "other", "do_fork", "double"} {
				_, err := small.AnyTypeByName(name)
				assert.ErrorIs(t, err, btf.ErrNotFound, name)
			}
		})
	}
}

// Reduce's output for the sample is pinned: a change to it must come with
// a new Version (and then a new sum here), or a saved reduction of the old
// kind would be used as if it were of the new.
func TestReduceVersion(t *testing.T) {
	reduced, err := kernelbtf.Reduce(sample(t, binary.LittleEndian), keep)
	require.NoError(t, err)
	sum := sha256.Sum256(reduced)
	assert.Equal(t, 2, kernelbtf.Version)
	assert.Equal(t, "bbc0a79dcdba96abf7c5bb5aea474336d29ec51acc6b449041865a0624789cd5", hex.EncodeToString(sum[:]), "Reduce's output changed: bump kernelbtf.Version, then update both here")
}

// sameTypedef requires typedef name in small, tagged with its ID in full,
// and returns both.
func sameTypedef(t *testing.T, full, small *btf.Spec, name string) (want, got *btf.Typedef) {
	t.Helper()
	require.NoError(t, full.TypeByName(name, &want))
	require.NoError(t, small.TypeByName(name, &got), name)
	wantID, _ := full.TypeID(want)
	gotID, ok := kernelbtf.KernelID(got.Tags)
	require.True(t, ok, "%s has no ID tag: %q", name, got.Tags)
	assert.Equal(t, uint32(wantID), gotID, name)
	return want, got
}

func TestKernelID(t *testing.T) {
	for _, tc := range []struct {
		tags []string
		id   uint32
		ok   bool
	}{
		{nil, 0, false},
		{[]string{"user"}, 0, false},
		{[]string{"user", kernelbtf.IDTag + "38155"}, 38155, true},
		{[]string{kernelbtf.IDTag + "7", kernelbtf.IDTag + "8"}, 7, true},
		{[]string{kernelbtf.IDTag}, 0, false},
		{[]string{kernelbtf.IDTag + "0"}, 0, false},
		{[]string{kernelbtf.IDTag + "-1"}, 0, false},
		{[]string{kernelbtf.IDTag + "4294967296"}, 0, false},
		{[]string{kernelbtf.IDTag + "12x"}, 0, false},
		{[]string{kernelbtf.IDTag + "x", kernelbtf.IDTag + "12"}, 12, true},
	} {
		id, ok := kernelbtf.KernelID(tc.tags)
		assert.Equal(t, tc.ok, ok, "%q", tc.tags)
		assert.Equal(t, tc.id, id, "%q", tc.tags)
	}
}

// The output has no type it does not need: 38,000 placeholders used to
// keep the network tracepoints' typedefs at their IDs.
func TestReduceNoPlaceholders(t *testing.T) {
	raw := sample(t, binary.LittleEndian)
	reduced, err := kernelbtf.Reduce(raw, kernelbtf.Keep{TypedefPrefix: "btf_trace_"})
	require.NoError(t, err)
	var kinds []string
	for typ, err := range load(t, reduced).All() {
		require.NoError(t, err)
		kinds = append(kinds, fmt.Sprintf("%T %s", typ, typ.TypeName()))
	}
	// Each typedef, its function prototype behind a pointer, and the
	// parameters: a void pointer both share, two pointers to a declared
	// task_struct, a pointer to a declared pt_regs, a long. (All leaves
	// out the tags.)
	assert.ElementsMatch(t, []string{
		"*btf.Void ",
		"*btf.Typedef btf_trace_sched_process_fork", "*btf.Pointer ", "*btf.FuncProto ",
		"*btf.Pointer ", "*btf.Pointer ", "*btf.Pointer ", "*btf.Fwd task_struct",
		"*btf.Typedef btf_trace_sys_exit", "*btf.Pointer ", "*btf.FuncProto ",
		"*btf.Pointer ", "*btf.Fwd pt_regs", "*btf.Int long",
	}, kinds)
}

// Typedefs named in Types are kept with their IDs, and no others.
func TestReduceNamedTypedefs(t *testing.T) {
	for _, order := range []binary.ByteOrder{binary.LittleEndian, binary.BigEndian} {
		raw := sample(t, order)
		full := load(t, raw)
		for _, name := range []string{"btf_trace_sched_process_fork", "btf_trace_sys_exit"} {
			reduced, err := kernelbtf.Reduce(raw, kernelbtf.Keep{Types: []string{"task_struct", name}})
			require.NoError(t, err)
			small := load(t, reduced)
			sameTypedef(t, full, small, name)
			var found int
			for typ, err := range small.All() {
				require.NoError(t, err)
				if td, ok := typ.(*btf.Typedef); ok && strings.HasPrefix(td.Name, "btf_trace_") {
					found++
				}
			}
			assert.Equal(t, 1, found, "only %s is kept", name)
			_, err = small.AnyTypeByName("task_struct")
			assert.NoError(t, err)
		}
	}
}

func TestReduceKeepsNothingAsked(t *testing.T) {
	reduced, err := kernelbtf.Reduce(sample(t, binary.LittleEndian), kernelbtf.Keep{})
	require.NoError(t, err)
	for typ, err := range load(t, reduced).All() {
		require.NoError(t, err)
		assert.IsType(t, &btf.Void{}, typ)
	}
}

func TestReduceMalformed(t *testing.T) {
	good := sample(t, binary.LittleEndian)
	le := binary.LittleEndian
	typeStart := int(le.Uint32(good[4:]) + le.Uint32(good[8:]))
	edit := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(good)) }
	for name, raw := range map[string][]byte{
		"empty":            nil,
		"short header":     good[:20],
		"bad magic":        edit(func(b []byte) []byte { b[0] = 0; return b }),
		"version":          edit(func(b []byte) []byte { b[2] = 2; return b }),
		"header length":    edit(func(b []byte) []byte { le.PutUint32(b[4:], 8); return b }),
		"types past end":   edit(func(b []byte) []byte { le.PutUint32(b[12:], 1<<30); return b }),
		"strings past end": edit(func(b []byte) []byte { le.PutUint32(b[20:], 1<<30); return b }),
		"truncated":        edit(func(b []byte) []byte { le.PutUint32(b[12:], le.Uint32(b[12:])-5); return b }),
		"unknown kind":     edit(func(b []byte) []byte { b[typeStart+7] = 30; return b }),
		"name off":         edit(func(b []byte) []byte { le.PutUint32(b[typeStart:], 1<<30); return b }),
		"no strings":       edit(func(b []byte) []byte { le.PutUint32(b[20:], 0); return b }),
	} {
		t.Run(name, func(t *testing.T) {
			_, err := kernelbtf.Reduce(raw, keep)
			assert.ErrorIs(t, err, kernelbtf.ErrMalformed)
		})
	}
}

// A reference past the last type (here task_struct's first member) is
// found when the closure follows it.
func TestReduceBadReference(t *testing.T) {
	b, err := btf.NewBuilder([]btf.Type{&btf.Struct{Name: "task_struct", Size: 4, Members: []btf.Member{{Name: "x", Type: &btf.Int{Name: "int", Size: 4}}}}}, nil)
	require.NoError(t, err)
	raw, err := b.Marshal(nil, &btf.MarshalOptions{Order: binary.LittleEndian})
	require.NoError(t, err)
	i := bytes.Index(raw, []byte{1, 0, 0, 4, 4, 0, 0, 0}) // info, size of the struct
	require.Positive(t, i)
	binary.LittleEndian.PutUint32(raw[i+8+4:], 99) // members[0].type
	_, err = kernelbtf.Reduce(raw, keep)
	assert.ErrorIs(t, err, kernelbtf.ErrMalformed)
	assert.Contains(t, err.Error(), "reference to type 99")
}

// TestReduceKernel reduces this machine's kernel BTF for what tracep's
// programs use and compares it with the whole: the tracepoint typedefs
// tagged with their IDs, the structs with the same members.
func TestReduceKernel(t *testing.T) {
	raw, err := os.ReadFile("/sys/kernel/btf/vmlinux")
	if err != nil {
		t.Skip("no kernel BTF:", err)
	}
	reduced, err := kernelbtf.Reduce(raw, kernelbtf.Keep{Types: []string{"task_struct", "sock", "sk_buff", "skb_drop_reason"}, TypedefPrefix: "btf_trace_"})
	require.NoError(t, err)
	full, small := load(t, raw), load(t, reduced)
	t.Logf("kernel BTF %d bytes, reduced %d", len(raw), len(reduced))

	typedefs := 0
	for typ, err := range small.All() {
		require.NoError(t, err)
		td, ok := typ.(*btf.Typedef)
		if !ok || !strings.HasPrefix(td.Name, "btf_trace_") {
			continue
		}
		typedefs++
		sameTypedef(t, full, small, td.Name)
	}
	assert.Greater(t, typedefs, 100)

	for _, name := range []string{"task_struct", "sock", "sk_buff"} {
		var want, got *btf.Struct
		require.NoError(t, full.TypeByName(name, &want))
		require.NoError(t, small.TypeByName(name, &got))
		sameLayout(t, name, want, got)
	}
}

// sameLayout compares two composite types member by member, into members
// held by value.
func sameLayout(t *testing.T, path string, want, got btf.Type) {
	t.Helper()
	wantSize, err := btf.Sizeof(want)
	require.NoError(t, err, path)
	gotSize, err := btf.Sizeof(got)
	require.NoError(t, err, path)
	require.Equal(t, wantSize, gotSize, path)
	var wm, gm []btf.Member
	switch w := btf.UnderlyingType(want).(type) {
	case *btf.Struct:
		wm, gm = w.Members, btf.UnderlyingType(got).(*btf.Struct).Members
	case *btf.Union:
		wm, gm = w.Members, btf.UnderlyingType(got).(*btf.Union).Members
	default:
		return
	}
	require.Len(t, gm, len(wm), path)
	for i := range wm {
		p := path + "." + wm[i].Name
		require.Equal(t, wm[i].Name, gm[i].Name, p)
		require.Equal(t, wm[i].Offset, gm[i].Offset, p)
		require.Equal(t, wm[i].BitfieldSize, gm[i].BitfieldSize, p)
		sameLayout(t, p, wm[i].Type, gm[i].Type)
	}
}

func FuzzReduce(f *testing.F) {
	f.Add(sample(f, binary.LittleEndian), "task_struct")
	f.Add(sample(f, binary.BigEndian), "pt_regs")
	f.Add([]byte{0x9f, 0xeb, 1, 0, 24, 0, 0, 0}, "")
	f.Fuzz(func(t *testing.T, raw []byte, name string) {
		k := kernelbtf.Keep{Types: []string{name}, TypedefPrefix: "btf_trace_"}
		reduced, err := kernelbtf.Reduce(raw, k)
		if err != nil {
			if !errors.Is(err, kernelbtf.ErrMalformed) {
				t.Fatalf("error %v is not ErrMalformed", err)
			}
			return
		}
		// What Reduce writes, it reads back.
		if _, err := kernelbtf.Reduce(reduced, k); err != nil {
			t.Fatalf("reducing the output: %v", err)
		}
	})
}

// BenchmarkKernel compares, on this machine's kernel BTF, decoding it
// whole with reducing it first, each then finding a tracepoint typedef and
// task_struct as a load does.
func BenchmarkKernel(b *testing.B) {
	raw, err := os.ReadFile("/sys/kernel/btf/vmlinux")
	if err != nil {
		b.Skip("no kernel BTF:", err)
	}
	use := func(b *testing.B, spec *btf.Spec) {
		var td *btf.Typedef
		require.NoError(b, spec.TypeByName("btf_trace_sched_process_exit", &td))
		var task *btf.Struct
		require.NoError(b, spec.TypeByName("task_struct", &task))
	}
	b.Run("whole", func(b *testing.B) {
		for b.Loop() {
			use(b, load(b, raw))
		}
	})
	b.Run("reduced", func(b *testing.B) {
		k := kernelbtf.Keep{Types: []string{"task_struct", "sock", "sk_buff", "skb_drop_reason", "inode", "file"}, TypedefPrefix: "btf_trace_"}
		for b.Loop() {
			reduced, err := kernelbtf.Reduce(raw, k)
			require.NoError(b, err)
			use(b, load(b, reduced))
		}
	})
}
