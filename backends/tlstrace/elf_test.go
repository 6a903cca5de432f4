package tlstrace

import (
	"bytes"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// systemLib returns the path of a library in the usual places, or skips.
func systemLib(t *testing.T, name string) string {
	t.Helper()
	for _, dir := range []string{"/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/usr/lib64", "/lib64"} {
		if p := filepath.Join(dir, name); fileExists(p) {
			return p
		}
	}
	t.Skipf("%s not installed", name)
	return ""
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

func inspectPath(t *testing.T, path string) (*Target, error) {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	return Inspect(f)
}

// dynOffsets returns the file offsets of a library's exported functions,
// computed with debug/elf independently of Inspect.
func dynOffsets(t *testing.T, path string) map[string]uint64 {
	t.Helper()
	f, err := elf.Open(path)
	require.NoError(t, err)
	defer f.Close()
	syms, err := f.DynamicSymbols()
	require.NoError(t, err)
	out := map[string]uint64{}
	for _, s := range syms {
		if s.Section == elf.SHN_UNDEF || s.Value == 0 {
			continue
		}
		for _, p := range f.Progs {
			if p.Type == elf.PT_LOAD && s.Value >= p.Vaddr && s.Value < p.Vaddr+p.Filesz {
				out[s.Name] = s.Value - p.Vaddr + p.Off
			}
		}
	}
	return out
}

func TestInspectLibraries(t *testing.T) {
	for _, lib := range []struct {
		file, name string
		specs      []probeSpec
	}{
		{"libssl.so.3", LibOpenSSL, opensslProbes},
		{"libgnutls.so.30", LibGnuTLS, gnutlsProbes},
	} {
		t.Run(lib.name, func(t *testing.T) {
			path := systemLib(t, lib.file)
			tg, err := inspectPath(t, path)
			require.NoError(t, err)
			require.Equal(t, []string{lib.name}, tg.Libraries)
			want := dynOffsets(t, path)
			entries, returns := 0, 0
			for _, p := range tg.Probes {
				require.Equal(t, want[p.Symbol], p.Offset, p.Symbol)
				if p.Return {
					returns++
				} else {
					entries++
				}
			}
			require.Equal(t, len(lib.specs), entries)
			wantRets := 0
			for _, s := range lib.specs {
				if s.ret {
					wantRets++
				}
			}
			require.Equal(t, wantRets, returns)
		})
	}
}

func TestInspectNoTLS(t *testing.T) {
	_, err := Inspect(bytes.NewReader([]byte("#!/bin/sh\necho hi\n")))
	require.ErrorIs(t, err, ErrNoTLS)
	_, err = Inspect(bytes.NewReader(nil))
	require.ErrorIs(t, err, ErrNoTLS)
	// NSS's libssl3.so has a libssl name but not OpenSSL's functions.
	for _, p := range []string{"/lib/x86_64-linux-gnu/libc.so.6", "/usr/lib/x86_64-linux-gnu/libssl3.so"} {
		if fileExists(p) {
			_, err := inspectPath(t, p)
			require.ErrorIs(t, err, ErrNoTLS, p)
		}
	}
}

func TestFileOffset(t *testing.T) {
	f := &elf.File{Progs: []*elf.Prog{
		{ProgHeader: elf.ProgHeader{Type: elf.PT_LOAD, Flags: elf.PF_R, Vaddr: 0x400000, Off: 0, Filesz: 0x1000}},
		{ProgHeader: elf.ProgHeader{Type: elf.PT_LOAD, Flags: elf.PF_R | elf.PF_X, Vaddr: 0x401000, Off: 0x1000, Filesz: 0x2000}},
		// A segment whose file offset differs from its address, as
		// linkers lay out some libraries: a raw address would be wrong.
		{ProgHeader: elf.ProgHeader{Type: elf.PT_LOAD, Flags: elf.PF_R | elf.PF_X, Vaddr: 0x10000, Off: 0x3000, Filesz: 0x100}},
	}}
	off, err := fileOffset(f, 0x401234)
	require.NoError(t, err)
	require.Equal(t, uint64(0x1234), off)
	off, err = fileOffset(f, 0x10010)
	require.NoError(t, err)
	require.Equal(t, uint64(0x3010), off)
	_, err = fileOffset(f, 0x400010) // not executable
	require.Error(t, err)
	_, err = fileOffset(f, 0x403000)
	require.Error(t, err)
}

func TestGoMinor(t *testing.T) {
	for v, want := range map[string]int{"go1.26.8": 26, "go1.17": 17, "go1.21rc2": 21, "go1.9.7": 9} {
		got, ok := goMinor(v)
		require.True(t, ok, v)
		require.Equal(t, want, got, v)
	}
	for _, v := range []string{"", "devel +abc", "go2.0"} {
		_, ok := goMinor(v)
		require.False(t, ok, v)
	}
}

var (
	goClientOnce sync.Once
	goClientDir  string
	goClientErr  error
)

// goClientSource is a small HTTPS client built by the tests.
const goClientSource = `package main

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
)

// With GOCL_PAUSE set, it gets the URL, says "paused" on stderr and waits
// for a line on stdin, then gets it again on the same connection. With
// GOCL_PARALLEL set, its arguments are URLs it gets at once, each three
// times on a connection of its own.
func main() {
	if os.Getenv("GOCL_PARALLEL") != "" {
		var wg sync.WaitGroup
		for _, url := range os.Args[1:] {
			wg.Add(1)
			// Its own url: the module says go 1.21, where the loop
			// variable is shared and a goroutine could get the next one.
			go func(url string) {
				defer wg.Done()
				c := &http.Client{Transport: &http.Transport{}}
				for i := 0; i < 3; i++ {
					resp, err := c.Get(url)
					if err != nil {
						fmt.Fprintln(os.Stderr, err)
						os.Exit(1)
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			}(url)
		}
		wg.Wait()
		return
	}
	get := func() {
		var resp *http.Response
		var err error
		if len(os.Args) > 2 {
			resp, err = http.Post(os.Args[1], "application/octet-stream", strings.NewReader(os.Args[2]))
		} else {
			resp, err = http.Get(os.Args[1])
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		defer resp.Body.Close()
		n, err := io.Copy(os.Stdout, resp.Body)
		fmt.Fprintln(os.Stderr, n, err)
	}
	get()
	if os.Getenv("GOCL_PAUSE") != "" {
		fmt.Fprintln(os.Stderr, "paused")
		bufio.NewReader(os.Stdin).ReadString('\n')
		get()
	}
}
`

// buildGoClient builds goClientSource, once per test binary, as five
// programs: gocl (with its symbol table), gocl-stripped (-ldflags=-s),
// gocl-pie (-buildmode=pie), and gocl-bare and gocl-bare-static (-trimpath
// -ldflags='-s -w', the second with CGO_ENABLED=0). It skips the test
// without a Go toolchain.
func buildGoClient(t testing.TB) string {
	t.Helper()
	goTool := filepath.Join(runtime.GOROOT(), "bin", "go")
	if !fileExists(goTool) {
		var err error
		if goTool, err = exec.LookPath("go"); err != nil {
			t.Skip("no Go toolchain to build the test client")
		}
	}
	goClientOnce.Do(func() {
		dir, err := os.MkdirTemp("", "tracep-tlstrace-goclient-")
		if err != nil {
			goClientErr = err
			return
		}
		goClientDir = dir
		if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(goClientSource), 0o644); err != nil {
			goClientErr = err
			return
		}
		if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module goclient\n\ngo 1.21\n"), 0o644); err != nil {
			goClientErr = err
			return
		}
		for _, b := range [][]string{
			{"-o", "gocl"},
			{"-ldflags=-s", "-o", "gocl-stripped"},
			{"-buildmode=pie", "-o", "gocl-pie"},
			// Without symbols, DWARF or file paths: dynamically linked
			// (cgo's resolver), and static.
			{"-trimpath", "-ldflags=-s -w", "-o", "gocl-bare"},
			{"CGO_ENABLED=0", "-trimpath", "-ldflags=-s -w", "-o", "gocl-bare-static"},
		} {
			env := append(os.Environ(), "GOFLAGS=-mod=mod", "GOWORK=off", "GOPROXY=off")
			if b[0] == "CGO_ENABLED=0" {
				env, b = append(env, b[0]), b[1:]
			}
			cmd := exec.Command(goTool, append([]string{"build"}, b...)...)
			cmd.Dir = dir
			cmd.Env = env
			if out, err := cmd.CombinedOutput(); err != nil {
				goClientErr = &buildError{args: strings.Join(b, " "), out: string(out), err: err}
				return
			}
		}
	})
	require.NoError(t, goClientErr)
	return goClientDir
}

type buildError struct {
	args, out string
	err       error
}

func (e *buildError) Error() string {
	return "go build " + e.args + ": " + e.err.Error() + "\n" + e.out
}

func TestMain(m *testing.M) {
	code := m.Run()
	if goClientDir != "" {
		os.RemoveAll(goClientDir)
	}
	os.Exit(code)
}

// A Go program is probed at the entry of (*Conn).Write and Read and at
// each of their RET instructions, with its symbol table, without (found in
// the pclntab) and built as a position-independent executable.
func TestInspectGo(t *testing.T) {
	dir := buildGoClient(t)
	full, err := inspectPath(t, filepath.Join(dir, "gocl"))
	require.NoError(t, err)
	require.Equal(t, []string{LibGo}, full.Libraries)
	require.Equal(t, runtime.Version(), full.GoVersion)

	f, err := os.ReadFile(filepath.Join(dir, "gocl"))
	require.NoError(t, err)
	byFn := map[fnID]int{}
	for _, p := range full.Probes {
		fn := fnID(p.Cookie & 0xff)
		byFn[fn]++
		switch fn {
		case fnGoWriteRet, fnGoReadRet:
			require.Equal(t, byte(0xc3), f[p.Offset], "%s is not a RET", p.Symbol)
		case fnGoWrite, fnGoRead:
		default:
			t.Fatalf("unexpected probe %+v", p)
		}
	}
	require.Equal(t, 1, byFn[fnGoWrite])
	require.Equal(t, 1, byFn[fnGoRead])
	require.NotZero(t, byFn[fnGoWriteRet])
	require.NotZero(t, byFn[fnGoReadRet])

	// Stripped: the same functions and returns, found in the pclntab.
	stripped, err := inspectPath(t, filepath.Join(dir, "gocl-stripped"))
	require.NoError(t, err)
	require.Len(t, stripped.Probes, len(full.Probes))
	for i, p := range stripped.Probes {
		require.Equal(t, full.Probes[i].Offset, p.Offset)
		require.Equal(t, full.Probes[i].Cookie, p.Cookie)
	}

	for _, name := range []string{"gocl-pie", "gocl-bare", "gocl-bare-static"} {
		other, err := inspectPath(t, filepath.Join(dir, name))
		require.NoError(t, err, name)
		require.Equal(t, []string{LibGo}, other.Libraries, name)
		require.Len(t, other.Probes, len(full.Probes), name)
	}
}

// Inspect reads files traced users choose: it never panics and returns
// only offsets inside the file.
func FuzzInspect(f *testing.F) {
	for _, p := range []string{"/lib/x86_64-linux-gnu/libssl.so.3", "/usr/lib/x86_64-linux-gnu/libssl.so.3"} {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b[:min(len(b), 4096)])
			break
		}
	}
	f.Add([]byte("\x7fELF\x02\x01\x01"))
	f.Fuzz(func(t *testing.T, b []byte) {
		tg, err := Inspect(bytes.NewReader(b))
		if err != nil {
			return
		}
		for _, p := range tg.Probes {
			if p.Offset >= uint64(len(b)) {
				t.Fatalf("probe %+v outside the %d-byte file", p, len(b))
			}
		}
	})
}

// findNames looks only for names that begin with wantedPrefixes: every
// name Inspect wants must begin with one, or it would never be found.
func TestWantedNamesHaveAWantedPrefix(t *testing.T) {
	names := []string{goWriteSym, goReadSym}
	for _, p := range opensslProbes {
		names = append(names, p.sym)
	}
	for _, p := range gnutlsProbes {
		names = append(names, p.sym)
	}
	for _, n := range names {
		ok := false
		for _, p := range wantedPrefixes {
			ok = ok || strings.HasPrefix(n, string(p))
		}
		require.True(t, ok, "%s begins with none of wantedPrefixes", n)
	}
}
