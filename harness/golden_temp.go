package harness

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
)

// TempNames rewrites the paths in s that lie in a temporary directory so
// that they no longer depend on the run: the directory of os.TempDir
// ($TMPDIR, else /tmp) is written $TMPDIR, and in every name below it, or
// below /tmp or /var/tmp, what a generator made random is written *:
//
//	/tmp/TestFetch3358346779/001/prog   $TMPDIR/TestFetch*/001/prog   (t.TempDir, os.MkdirTemp)
//	/tmp/go-build2882031/b001/exe/x     $TMPDIR/go-build*/b001/exe/x  (go build's $WORK)
//	/tmp/tmp.Xa81qZk0Pc                 $TMPDIR/tmp.*                 (mktemp)
//	/tmp/tmpk3j_9zq1                    $TMPDIR/tmp*                  (Python's tempfile)
//
// A run of four or more digits counts as random. Normalize applies it to
// every line.
func TempNames(s string) string {
	if !strings.Contains(s, "/") {
		return s
	}
	roots := tempRoots()
	var b strings.Builder
	for i := 0; i < len(s); {
		root, name := matchRoot(s, i, roots)
		if root == "" {
			b.WriteByte(s[i])
			i++
			continue
		}
		b.WriteString(name)
		i += len(root)
		j := i
		for j < len(s) && isPathByte(s[j]) {
			j++
		}
		parts := strings.Split(s[i:j], "/")
		for k, p := range parts {
			parts[k] = fixedName(p)
		}
		b.WriteString(strings.Join(parts, "/"))
		i = j
	}
	return b.String()
}

type tempRoot struct{ path, name string }

// tempRoots returns the temporary directories, longest first, each with
// the name it is written as.
func tempRoots() []tempRoot {
	tmp := filepath.Clean(os.TempDir())
	roots := []tempRoot{{tmp, "$TMPDIR"}}
	for _, r := range []string{"/var/tmp", "/tmp"} {
		if r != tmp {
			roots = append(roots, tempRoot{r, r})
		}
	}
	// Longest first: a $TMPDIR of /tmp/x wins over /tmp.
	slices.SortStableFunc(roots, func(a, b tempRoot) int { return len(b.path) - len(a.path) })
	return roots
}

// matchRoot returns the root that begins a path at s[i] (it is followed by
// a slash and not preceded by a character of a path) and its name.
func matchRoot(s string, i int, roots []tempRoot) (root, name string) {
	if i > 0 && isPathByte(s[i-1]) {
		return "", ""
	}
	for _, r := range roots {
		if strings.HasPrefix(s[i:], r.path+"/") {
			return r.path, r.name
		}
	}
	return "", ""
}

// isPathByte reports whether c can be part of a path as the golden lines
// write them (shell-quoted and escaped: quotes, spaces and punctuation end
// it).
func isPathByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		strings.IndexByte("/._-+~@%", c) >= 0 || c >= 0x80
}

var (
	digitRun   = regexp.MustCompile(`[0-9]{4,}`)
	mktempName = regexp.MustCompile(`^tmp\.[A-Za-z0-9]{10}$`)
	pythonName = regexp.MustCompile(`^tmp[a-z0-9_]{8}$`)
)

// fixedName writes the random part of one name of a temporary path as *.
func fixedName(p string) string {
	switch {
	case mktempName.MatchString(p):
		return "tmp.*"
	case pythonName.MatchString(p):
		return "tmp*"
	}
	return digitRun.ReplaceAllString(p, "*")
}
