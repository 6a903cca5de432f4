package tracep_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// kindWords maps what names a kind in code to the kind: its constant, its
// payload field of Event, its payload type.
var kindWords = map[string]string{
	"KindExec": "exec", "KindNet": "net", "KindDNS": "dns", "KindTLS": "tls", "KindCA": "ca", "KindTrace": "trace",
	"Exec": "exec", "Net": "net", "DNS": "dns", "TLS": "tls", "CA": "ca", "Chain": "ca", "Trace": "trace", "Note": "trace",
}

// referencePrinters may switch on the kind's details: they reproduce the
// reference tool's output byte for byte.
var referencePrinters = map[string]bool{
	"cmd/tracep/cli/exec.go": true,
	"cmd/tracep/cli/net.go":  true,
	"cmd/tracep/cli/dns.go":  true,
	"cmd/tracep/cli/tls.go":  true,
}

// TestOneKindOnePlace keeps each kind's meaning in this package: outside
// it (and the reference printers), no switch or if-else chain may tell two
// kinds apart. Add a method to Payload instead.
func TestOneKindOnePlace(t *testing.T) {
	root, err := filepath.Abs("..")
	require.NoError(t, err)
	var bad []string
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		if d.IsDir() {
			if rel == "tracep" || strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata" {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") ||
			strings.HasSuffix(path, "_bpfel.go") || referencePrinters[filepath.ToSlash(rel)] {
			return nil
		}
		fset := token.NewFileSet()
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		for _, pos := range kindSwitches(f) {
			bad = append(bad, rel+":"+strconv.Itoa(fset.Position(pos).Line))
		}
		return nil
	})
	require.NoError(t, err)
	require.Empty(t, bad, "per-kind switches outside the core package; give the payloads a method instead")
}

// TestKindSwitchDetector proves the detector sees what it must.
func TestKindSwitchDetector(t *testing.T) {
	for src, want := range map[string]int{
		`switch ev.Kind { case tracep.KindExec: a(); case tracep.KindNet: b() }`:         1,
		`switch { case ev.Exec != nil: a(); case ev.DNS != nil: b() }`:                   1,
		`switch p.(type) { case *tracep.TLS: a(); case *tracep.Chain: b() }`:             1,
		`if ev.Exec != nil { a() } else if ev.Net != nil { b() }`:                        1,
		`switch ev.Exec.Op { case tracep.ExecOpExec: a(); case tracep.ExecOpExit: b() }`: 0,
		`if ev.DNS != nil { a() }; if ev.Net == nil { b() }`:                             0,
		`switch k { case tracep.KindDNS: a() }`:                                          0,
	} {
		f, err := parser.ParseFile(token.NewFileSet(), "x.go", "package x\nfunc f() {\n"+src+"\n}\n", 0)
		require.NoError(t, err)
		require.Len(t, kindSwitches(f), want, src)
	}
}

// kindSwitches returns where f tells two or more kinds apart in one switch
// or if-else chain.
func kindSwitches(f *ast.File) []token.Pos {
	var out []token.Pos
	elseIfs := map[*ast.IfStmt]bool{}
	ast.Inspect(f, func(n ast.Node) bool {
		kinds := map[string]bool{}
		switch s := n.(type) {
		case *ast.SwitchStmt:
			for _, c := range s.Body.List {
				for _, e := range c.(*ast.CaseClause).List {
					kindsIn(e, s.Tag == nil, kinds)
				}
			}
		case *ast.TypeSwitchStmt:
			for _, c := range s.Body.List {
				for _, e := range c.(*ast.CaseClause).List {
					kindsIn(e, false, kinds)
				}
			}
		case *ast.IfStmt:
			if elseIfs[s] {
				return true
			}
			for cur := s; cur != nil; {
				kindsIn(cur.Cond, true, kinds)
				next, _ := cur.Else.(*ast.IfStmt)
				if next != nil {
					elseIfs[next] = true
				}
				cur = next
			}
		default:
			return true
		}
		if len(kinds) >= 2 {
			out = append(out, n.Pos())
		}
		return true
	})
	return out
}

// kindsIn adds the kinds e names: a Kind constant or payload type anywhere,
// or, in a condition, a payload field compared with nil.
func kindsIn(e ast.Expr, cond bool, kinds map[string]bool) {
	ast.Inspect(e, func(n ast.Node) bool {
		switch x := n.(type) {
		case *ast.BinaryExpr:
			if !cond || (x.Op != token.NEQ && x.Op != token.EQL) {
				return true
			}
			for _, side := range [2][2]ast.Expr{{x.X, x.Y}, {x.Y, x.X}} {
				sel, ok := side[0].(*ast.SelectorExpr)
				nilIdent, isNil := side[1].(*ast.Ident)
				if ok && isNil && nilIdent.Name == "nil" {
					if k, ok := kindWords[sel.Sel.Name]; ok && !strings.HasPrefix(sel.Sel.Name, "Kind") {
						kinds[k] = true
					}
				}
			}
		case *ast.SelectorExpr:
			if id, ok := x.X.(*ast.Ident); ok && id.Name == "tracep" {
				if k, ok := kindWords[x.Sel.Name]; ok {
					kinds[k] = true
				}
			}
		}
		return true
	})
}
