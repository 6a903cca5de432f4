// Package testscripts gives testscript scripts (the txtar format of
// github.com/rogpeppe/go-internal/testscript) tracep's commands and
// conditions: trace a program, then assert what it did with expect, only,
// events and policy. The project's own end-to-end scripts (*.txtar here)
// use it exactly as another project would:
//
//	func TestMain(m *testing.M) {
//		// `exec tracep` in the scripts runs this module's tracep
//		testscript.Main(m, map[string]func(){"tracep": cli.Main})
//	}
//
//	func TestScripts(t *testing.T) {
//		p := testscript.Params{Dir: "testdata"}
//		if err := testscripts.Setup(&p); err != nil {
//			t.Fatal(err)
//		}
//		testscript.Run(t, p)
//	}
//
// README.md, generated from the tables in this package and checked by a
// test, lists every command and condition. Projects without Go code run
// scripts with `tracep script`.
package testscripts
