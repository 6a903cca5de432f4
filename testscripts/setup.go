package testscripts

import (
	"fmt"
	"os"
	"strings"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/tracep/tracep/tracep/tracetest"
)

// Setup gives p tracep's script commands and conditions, chaining with what
// p already has: its Setup runs after tracep's, its Cmds are kept (a name
// tracep also defines is an error), and its Condition is asked about
// every condition that is not tracep's. Call it before testscript.Run.
func Setup(p *testscript.Params) error {
	if p.Cmds == nil {
		p.Cmds = map[string]func(ts *testscript.TestScript, neg bool, args []string){}
	}
	for name, run := range Commands() {
		if _, dup := p.Cmds[name]; dup {
			return fmt.Errorf("testscripts: command %q is already defined", name)
		}
		p.Cmds[name] = run
	}
	userSetup := p.Setup
	p.Setup = func(env *testscript.Env) error {
		// Scripts see the same privilege requirement as the Go tests.
		if v := os.Getenv(tracetest.RequirePrivilegedEnv); v != "" {
			env.Setenv(tracetest.RequirePrivilegedEnv, v)
		}
		env.Values[envKey{}] = env
		if userSetup != nil {
			return userSetup(env)
		}
		return nil
	}
	userCond := p.Condition
	p.Condition = func(cond string) (bool, error) {
		if ok, err, mine := Condition(cond); mine {
			return ok, err
		}
		if userCond != nil {
			return userCond(cond)
		}
		return false, fmt.Errorf("unknown condition %q", cond)
	}
	return nil
}

// Commands returns tracep's script commands by name, for a Params.Cmds
// merged by hand. They need Setup's setup (or one that calls it).
func Commands() map[string]func(ts *testscript.TestScript, neg bool, args []string) {
	m := map[string]func(ts *testscript.TestScript, neg bool, args []string){}
	for _, c := range commands() {
		if _, dup := m[c.name]; dup {
			panic("duplicate script command " + c.name)
		}
		m[c.name] = c.run
	}
	return m
}

// Condition evaluates cond if it is one of tracep's conditions ([root],
// [trace:KIND]); mine says whether it was.
func Condition(cond string) (ok bool, err error, mine bool) {
	for _, c := range conditions() {
		if c.name == cond {
			ok, err = c.eval("")
			return ok, err, true
		}
		if strings.HasSuffix(c.name, ":") && strings.HasPrefix(cond, c.name) {
			ok, err = c.eval(strings.TrimPrefix(cond, c.name))
			return ok, err, true
		}
	}
	return false, nil, false
}

// envKey finds a script's testscript.Env in its Values.
type envKey struct{}
