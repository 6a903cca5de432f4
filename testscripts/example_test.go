package testscripts_test

import (
	"fmt"
	"log"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/tracep/tracep/testscripts"
)

// Setup adds tracep's commands and conditions to a project's own Params,
// keeping its commands, setup and conditions. In a test, testscript.Run(t,
// p) then runs the scripts; `exec tracep` needs testscript.Main in TestMain
// (see the package documentation).
func ExampleSetup() {
	p := testscript.Params{
		Dir: "testdata",
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"serve": func(ts *testscript.TestScript, neg bool, args []string) { /* the project's own */ },
		},
		Condition: func(cond string) (bool, error) { return cond == "fast", nil },
	}
	if err := testscripts.Setup(&p); err != nil {
		log.Fatal(err)
	}
	_, hasTrace := p.Cmds["trace"]
	_, hasServe := p.Cmds["serve"]
	fast, err := p.Condition("fast")
	fmt.Println(hasTrace, hasServe, fast, err)

	// A name tracep also defines is refused.
	dup := testscript.Params{Cmds: map[string]func(*testscript.TestScript, bool, []string){"expect": nil}}
	fmt.Println(testscripts.Setup(&dup))
	// Output:
	// true true true <nil>
	// testscripts: command "expect" is already defined
}
