//go:build unix

package benchlat

import (
	"syscall"
	"time"
)

// CPUTime is the process's user and system CPU time so far: every
// goroutine's, the collector's included.
func CPUTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
