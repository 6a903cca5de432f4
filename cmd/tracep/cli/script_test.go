package cli

import (
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tracep/tracep/testscripts"
)

// tracep script -h names every command and condition the script package
// has, so that its list cannot drift from the package's tables.
func TestScriptHelpNamesEverything(t *testing.T) {
	cmds := testscripts.Commands()
	require.NotEmpty(t, cmds)
	for name := range cmds {
		require.Regexp(t, `\b`+regexp.QuoteMeta(name)+`\b`, scriptHelp, "command %s", name)
	}
	conds := regexp.MustCompile("\\| `\\[([a-z]+:?)").FindAllStringSubmatch(testscripts.README(), -1)
	require.NotEmpty(t, conds)
	for _, c := range conds {
		require.True(t, strings.Contains(scriptHelp, "["+c[1]), "condition [%s", c[1])
	}
}
