package bpfcore

import (
	"fmt"
	"sync"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"

	"github.com/tracep/tracep/tracep"
)

// rawVar is the constant of bpf/tp_core.h that says the programs load as
// raw_tp programs.
const rawVar = "tp_raw"

// rawNames maps a raw_tp program's name to its tracepoint.
var rawNames sync.Map

// useRawTracepoints turns the tp_btf programs of spec into raw_tp
// programs when RawTracepoints says so, and tells its C code (tp_raw).
func useRawTracepoints(what string, spec *ebpf.CollectionSpec) error {
	if !RawTracepoints() {
		return nil
	}
	v, ok := spec.Variables[rawVar]
	if !ok {
		return fmt.Errorf("%s: its bpf programs cannot load as raw tracepoints: %w", what, tracep.ErrNotSupported)
	}
	if err := v.Set(uint32(1)); err != nil {
		return fmt.Errorf("%s: set %s: %w", what, rawVar, err)
	}
	for name, p := range spec.Programs {
		if p.Type == ebpf.Tracing && p.AttachType == ebpf.AttachTraceRawTp {
			p.Type, p.AttachType = ebpf.RawTracepoint, ebpf.AttachNone
			rawNames.Store(name, p.AttachTo)
		}
	}
	return nil
}

// AttachTracepoint attaches the program name of coll, a tp_btf program in
// the source, to its tracepoint: as a tp_btf program, or as a raw_tp one
// when it was loaded as such (see RawTracepoints).
func AttachTracepoint(coll *ebpf.Collection, name string) (link.Link, error) {
	prog := coll.Programs[name]
	if prog == nil {
		return nil, fmt.Errorf("attach %s: no such program", name)
	}
	if tp, ok := rawNames.Load(name); ok && prog.Type() == ebpf.RawTracepoint {
		l, err := link.AttachRawTracepoint(link.RawTracepointOptions{Name: tp.(string), Program: prog})
		return l, wrapErr("attach "+name, err)
	}
	l, err := link.AttachTracing(link.TracingOptions{Program: prog})
	return l, wrapErr("attach "+name, err)
}
