package handoff

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/tracep/tracep/backends/internal/reexec"
)

// How Close starts the child: its argv[0], an environment variable (with
// the version of the descriptor layout below) and its descriptors.
const (
	arg0   = "tracep-handoff"
	envKey = "TRACEP_HANDOFF"
	envVal = "1"

	fdPipe  = 3 // read end; end of file once the objects are the child's alone
	fdFirst = 4 // the objects, then nothing the child means to keep
)

func init() {
	// argv[1] is the parent's pid, for ps(1); argv[2] how many objects.
	if len(os.Args) != 3 || os.Args[0] != arg0 || os.Getenv(envKey) != envVal {
		return
	}
	os.Exit(child(os.Args[2]))
}

// Close hands fds, descriptors of objects this process owns, to a child
// process, then calls closeOwn, which must close this process's own
// (then no longer the last: at once), and lets the child exit, its exit
// releasing the objects. It returns the child's pid (0 with no fds)
// without waiting for the release. On error closeOwn was not called and
// the child holds nothing: the error matches tracep.ErrNotSupported in a
// program built as a C library.
func Close(fds []int, closeOwn func()) (int, error) {
	if len(fds) == 0 {
		closeOwn()
		return 0, nil
	}
	if err := reexec.Check("handoff"); err != nil {
		return 0, err
	}
	r, w, err := os.Pipe()
	if err != nil {
		return 0, fmt.Errorf("handoff: %w", err)
	}
	defer w.Close() // the child's signal: the objects are its alone, after closeOwn
	files := []*os.File{r}
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	for _, fd := range fds {
		// A copy: an os.File owns its descriptor, and the caller's
		// belongs to the object that holds it.
		dup, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
		if err != nil {
			return 0, fmt.Errorf("handoff: %w", err)
		}
		files = append(files, os.NewFile(uintptr(dup), "handoff"))
	}
	cmd := &exec.Cmd{
		Path:        "/proc/self/exe",
		Args:        []string{arg0, strconv.Itoa(os.Getpid()), strconv.Itoa(len(fds))},
		Env:         []string{envKey + "=" + envVal},
		ExtraFiles:  files,
		SysProcAttr: &syscall.SysProcAttr{Setsid: true},
	}
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("handoff: start child: %w", err)
	}
	// Reaped here should this process live on; reparented if it exits.
	go cmd.Wait()
	closeOwn()
	return cmd.Process.Pid, nil
}

// child is the child process: it waits until its parent has closed its
// copies of the objects, then exits, which releases them.
func child(count string) int {
	n, err := strconv.Atoi(count)
	if err != nil || n < 1 {
		return 2
	}
	reexec.CloseInherited(fdFirst + n)
	var buf [1]byte
	for {
		_, err := unix.Read(fdPipe, buf[:])
		if !errors.Is(err, unix.EINTR) {
			return 0
		}
	}
}
