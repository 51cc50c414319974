//go:build !unix

package bolt

import (
	"os"
	"time"
)

// withFile reads path whole and calls fn with its bytes. Without unix
// advisory locks the file is read unlocked; bbolt's own lock still keeps a
// second server from writing it.
func withFile(path string, _ fileLock, _ time.Duration, fn func(data []byte) error) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	return fn(data)
}

// syncDir is a no-op where directories cannot be synced.
func syncDir(string) error { return nil }
