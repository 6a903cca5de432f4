// Command trimlines trims the line info of BPF objects in place, keeping a
// line at the start of each function (see package btfext). `make
// generate` runs it after bpf2go:
//
//	go run ../internal/btfext/trimlines net_x86_bpfel.o
package main

import (
	"fmt"
	"os"

	"github.com/tracep/tracep/backends/internal/btfext"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: trimlines OBJECT...")
		os.Exit(2)
	}
	for _, path := range os.Args[1:] {
		if err := trim(path); err != nil {
			fmt.Fprintf(os.Stderr, "trimlines: %s: %v\n", path, err)
			os.Exit(1)
		}
	}
}

func trim(path string) error {
	obj, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if _, dropped, err := btfext.TrimObject(obj); err != nil || dropped == 0 {
		return err
	}
	return os.WriteFile(path, obj, 0o644)
}
