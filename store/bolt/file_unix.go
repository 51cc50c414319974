//go:build unix

package bolt

import (
	"errors"
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mediamatch/mediamatch/store"
)

// withFile opens path, maps it read-only and calls fn with its bytes,
// then releases everything. With a lock it first takes that advisory lock
// on the file (waiting up to timeout for a process that holds it): bbolt
// takes the same lock, exclusive for a writer and shared for a reader, so
// no mediamatch process writes the file while fn reads it.
func withFile(path string, lock fileLock, timeout time.Duration, fn func(data []byte) error) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	deadline := time.Now().Add(timeout)
	how := unix.LOCK_EX
	if lock == lockShared {
		how = unix.LOCK_SH
	}
	for lock != lockNone {
		err := unix.Flock(int(f.Fd()), how|unix.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, unix.EWOULDBLOCK) {
			return fmt.Errorf("locking: %w", err)
		}
		if time.Now().After(deadline) {
			return store.ErrLocked
		}
		time.Sleep(50 * time.Millisecond)
	}
	if lock != lockNone {
		defer unix.Flock(int(f.Fd()), unix.LOCK_UN)
	}
	info, err := f.Stat()
	if err != nil {
		return err
	}
	size := info.Size()
	if size == 0 {
		return fn(nil)
	}
	if int64(int(size)) != size {
		return fmt.Errorf("file of %d bytes is too large to map", size)
	}
	data, err := unix.Mmap(int(f.Fd()), 0, int(size), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		return fmt.Errorf("mapping: %w", err)
	}
	defer unix.Munmap(data)
	return fn(data)
}

// syncDir makes a rename or link in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
