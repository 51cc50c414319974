package main

import (
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"golang.org/x/term"
)

// expandInputs turns the FILE arguments of add, match and hash into file
// names: a folder stands for every regular file below it, in lexical
// order, leaving out hidden ones (a name starting with '.', and all below
// a hidden folder); '-' and files are kept as given. A folder that cannot
// be read fails the command before any work.
func expandInputs(args []string) ([]string, error) {
	var out []string
	for _, arg := range args {
		if arg == "-" {
			out = append(out, arg)
			continue
		}
		info, err := os.Stat(arg)
		if err != nil || !info.IsDir() {
			out = append(out, arg) // its error, if any, is its own line
			continue
		}
		err = filepath.WalkDir(arg, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if path != arg && strings.HasPrefix(d.Name(), ".") {
				if d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
			if d.Type().IsRegular() {
				out = append(out, path)
			} else if d.Type()&fs.ModeSymlink != 0 {
				if st, err := os.Stat(path); err == nil && st.Mode().IsRegular() {
					out = append(out, path)
				}
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("reading folder %s: %w", arg, err)
		}
	}
	return out, nil
}

// jobsFlag registers --jobs: how many files a command works on at once.
func jobsFlag(fs *flag.FlagSet, def int, what string) *int {
	return fs.Int("jobs", def, fmt.Sprintf("files %s at once (default %d)", what, def))
}

// inOrder runs work on items 0..n-1 with at most jobs at once, and hands
// each result to emit in item order, as soon as it and those before it
// are done; when emit returns false, no further item is started. At most
// jobs results wait ahead of emit, so memory does not grow with n.
func inOrder[T any](n, jobs int, work func(i int) T, emit func(i int, r T) bool) {
	jobs = max(1, min(jobs, n))
	running := make(chan struct{}, jobs)
	pending := make(chan chan T, jobs) // results to come, in item order
	stop := make(chan struct{})
	var wg sync.WaitGroup
	go func() {
		defer close(pending)
		for i := range n {
			select {
			case running <- struct{}{}:
			case <-stop:
				return
			}
			r := make(chan T, 1)
			wg.Add(1)
			go func() {
				defer wg.Done()
				r <- work(i)
				<-running
			}()
			select {
			case pending <- r:
			case <-stop:
				return
			}
		}
	}()
	i, stopped := 0, false
	for r := range pending {
		res := <-r
		if !stopped && !emit(i, res) {
			stopped = true
			close(stop)
		}
		i++
	}
	wg.Wait()
}

// progress draws one line on a terminal for long work ("12,345 of 60,000
// files, 410/s"; a unit of "MiB" counts bytes), redrawn at most every progressEvery, and erased at the
// end; on anything but a terminal (or with MEDIAMATCH_PROGRESS=0) it draws
// nothing. MEDIAMATCH_PROGRESS=1 draws it whatever the output is.
type progress struct {
	w io.Writer // nil: off
	// shared: the results go to the same terminal, so the line is
	// erased before each (clear) and drawn again after.
	shared bool
	unit   string
	scale  int64 // what one unit counts (1, or 1<<20 for MiB)
	total  int64
	start  time.Time
	mu     sync.Mutex
	done   int64
	drawn  time.Time
}

const progressEvery = 200 * time.Millisecond

func newProgress(e *env, unit string, total int64) *progress {
	p := &progress{unit: unit, scale: 1, total: total, start: time.Now()}
	if unit == "MiB" {
		p.scale = 1 << 20
	}
	switch e.getenv("MEDIAMATCH_PROGRESS") {
	case "1":
		p.w = e.stderr
	case "0":
	default:
		if terminal(e.stderr) {
			p.w = e.stderr
		}
	}
	p.shared = p.w != nil && terminal(e.stdout)
	return p
}

func terminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// clear erases the line before a result is written to the same terminal;
// the next add draws it again.
func (p *progress) clear() {
	if p.w == nil || !p.shared {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.drawn.IsZero() {
		fmt.Fprint(p.w, "\r\x1b[K")
		p.drawn = time.Time{}
	}
}

// add counts n more done.
func (p *progress) add(n int64) {
	if p.w == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done += n
	if now := time.Now(); now.Sub(p.drawn) >= progressEvery {
		p.drawn = now
		rate := float64(p.done/p.scale) / max(now.Sub(p.start).Seconds(), 1e-3)
		fmt.Fprintf(p.w, "\r\x1b[K%s of %s %s, %s/s", grouped(p.done/p.scale), grouped(p.total/p.scale), p.unit, grouped(int64(rate)))
	}
}

// finish erases the line.
func (p *progress) finish() {
	if p.w == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.drawn.IsZero() {
		fmt.Fprint(p.w, "\r\x1b[K")
	}
}

// grouped writes n with thousands separated by commas.
func grouped(n int64) string {
	s := fmt.Sprint(n)
	start := 0
	if n < 0 {
		start = 1
	}
	for i := len(s) - 3; i > start; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
