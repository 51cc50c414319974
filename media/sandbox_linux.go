package media

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// The sandbox for ffmpeg and ffprobe: each runs in a process group of its
// own (killed as a whole on timeout or cancellation, and on our own death
// through the parent-death signal), in a network namespace with no
// interface but loopback when the kernel allows one, with an empty
// environment, in the job's private directory, and under resource limits
// on address space, CPU time, file size (nothing may be written), open files
// and core dumps.

var (
	isolationOnce sync.Once
	isolationOK   bool
)

// namespaceAttr returns the clone flags for a private network namespace,
// with a user namespace when we are not root.
func namespaceAttr() *syscall.SysProcAttr {
	a := &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET}
	if uid := os.Getuid(); uid != 0 {
		a.Cloneflags |= syscall.CLONE_NEWUSER
		a.UidMappings = []syscall.SysProcIDMap{{ContainerID: uid, HostID: uid, Size: 1}}
		a.GidMappings = []syscall.SysProcIDMap{{ContainerID: os.Getgid(), HostID: os.Getgid(), Size: 1}}
	}
	return a
}

// networkIsolated reports whether child processes can get a network
// namespace here, trying once.
func networkIsolated() bool {
	isolationOnce.Do(func() {
		cmd := exec.Command("/bin/true")
		if _, err := os.Stat(cmd.Path); err != nil {
			cmd = exec.Command("true")
		}
		cmd.SysProcAttr = namespaceAttr()
		isolationOK = cmd.Run() == nil
	})
	return isolationOK
}

// sandboxed prepares a confined command. It is cancelled with ctx by
// killing its whole process group.
func sandboxed(ctx context.Context, path, dir string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Dir = dir
	cmd.Env = []string{"LC_ALL=C", "AV_LOG_FORCE_NOCOLOR=1"}
	attr := &syscall.SysProcAttr{}
	if networkIsolated() {
		attr = namespaceAttr()
	}
	attr.Setpgid = true
	attr.Pdeathsig = syscall.SIGKILL
	cmd.SysProcAttr = attr
	cmd.Cancel = func() error {
		killGroup(cmd)
		return nil
	}
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

// start starts cmd and applies the resource limits. The limits are set
// right after the exec, before the program has read any input.
func start(cmd *exec.Cmd, opts Options) error {
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("media: starting %s: %v: %w", cmd.Path, err, ErrUnavailable)
	}
	pid := cmd.Process.Pid
	cpu := uint64(math.Ceil(opts.VideoTimeout.Seconds())) + 1
	limits := []struct {
		resource int
		value    uint64
	}{
		{unix.RLIMIT_AS, uint64(opts.VideoMemory)},
		{unix.RLIMIT_CPU, cpu},
		{unix.RLIMIT_FSIZE, 0},
		{unix.RLIMIT_CORE, 0},
		{unix.RLIMIT_NOFILE, 64},
	}
	for _, l := range limits {
		lim := unix.Rlimit{Cur: l.value, Max: l.value}
		if err := unix.Prlimit(pid, l.resource, &lim, nil); err != nil && !errors.Is(err, unix.ESRCH) {
			killGroup(cmd)
			_ = cmd.Wait()
			return fmt.Errorf("media: limiting %s: %w", cmd.Path, err)
		}
	}
	return nil
}

// finish waits for cmd and makes sure nothing of its process group is left.
func finish(cmd *exec.Cmd) error {
	err := cmd.Wait()
	killGroup(cmd)
	return err
}

// killGroup kills cmd's process group.
func killGroup(cmd *exec.Cmd) {
	if cmd.Process != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
}
