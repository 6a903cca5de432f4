package cli

import (
	"fmt"
	"strconv"
	"strings"
)

// clusterSpec describes a command parsed in the reference tool's
// hand-rolled style (net, tls, exec): one-letter flags that cluster
// ("-ctu"), value letters that take the next argument ("-Qo FILE"), and the
// first non-flag argument starting the command to run. Beyond the
// reference, "--" ends the flags, a value may be attached ("-p1234"), and
// long forms of help (--help) are understood.
type clusterSpec struct {
	bools  string // letters that are switches
	values string // letters that take a value
	cmd    bool   // whether a command may follow the flags
}

type clusterArgs struct {
	set    map[byte]bool
	vals   map[byte][]string
	cmd    []string
	help   bool
	doJSON bool
}

func (a *clusterArgs) has(c byte) bool     { return a.set[c] }
func (a *clusterArgs) last(c byte) string  { v := a.vals[c]; return lastOr(v, "") }
func (a *clusterArgs) all(c byte) []string { return a.vals[c] }
func lastOr(v []string, def string) string {
	if len(v) == 0 {
		return def
	}
	return v[len(v)-1]
}

// parse scans args left to right. An error is a usage error (exit 2).
func (s clusterSpec) parse(args []string) (*clusterArgs, error) {
	a := &clusterArgs{set: map[byte]bool{}, vals: map[byte][]string{}}
	for i := 0; i < len(args); i++ {
		arg := args[i]
		switch {
		case arg == "--":
			if !s.cmd {
				if i+1 < len(args) {
					return nil, fmt.Errorf("unexpected argument: %s", args[i+1])
				}
				return a, nil
			}
			a.cmd = args[i+1:]
			return a, nil
		case arg == "--help" || arg == "-help":
			a.help = true
			continue
		case arg == "--json":
			a.doJSON = true
			continue
		case len(arg) < 2 || arg[0] != '-':
			if !s.cmd {
				return nil, fmt.Errorf("unexpected argument: %s", arg)
			}
			a.cmd = args[i:]
			return a, nil
		case strings.HasPrefix(arg, "--"):
			return nil, fmt.Errorf("unknown flag %s", arg)
		}
		for j := 1; j < len(arg); j++ {
			c := arg[j]
			switch {
			case c == 'h':
				a.help = true
			case strings.IndexByte(s.values, c) >= 0:
				var v string
				if j+1 < len(arg) {
					v = arg[j+1:] // attached value: -p1234
				} else if i+1 < len(args) {
					i++
					v = args[i]
				} else {
					return nil, fmt.Errorf("flag -%c requires an argument", c)
				}
				a.set[c] = true
				a.vals[c] = append(a.vals[c], v)
				j = len(arg)
			case strings.IndexByte(s.bools, c) >= 0:
				a.set[c] = true
			default:
				return nil, fmt.Errorf("unknown flag -%s", printableFlag(c))
			}
		}
	}
	return a, nil
}

func printableFlag(c byte) string {
	if c < 0x20 || c >= 0x7f {
		return fmt.Sprintf("\\x%02x", c)
	}
	return string(c)
}

// parsePIDs parses -p values: comma-separated, trimmed, empty items
// skipped, each a positive integer.
func parsePIDs(vals []string) ([]int, error) {
	var pids []int
	for _, v := range vals {
		for _, f := range strings.Split(v, ",") {
			f = strings.TrimSpace(f)
			if f == "" {
				continue
			}
			n, err := strconv.Atoi(f)
			if err != nil || n <= 0 {
				return nil, fmt.Errorf("-p: invalid PID: %s", f)
			}
			pids = append(pids, n)
		}
	}
	return pids, nil
}
