// Package testvideo makes real videos for tests with ffmpeg: slideshows of
// the photos in testdata with camera motion, and re-edits of them. Tests
// that need video call Require, which fails (never skips) when ffmpeg is
// missing, with the command that installs it.
package testvideo

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// Require returns the path of ffmpeg, failing the test when ffmpeg or
// ffprobe is not installed.
func Require(t testing.TB) string {
	t.Helper()
	ffmpeg, err1 := exec.LookPath("ffmpeg")
	_, err2 := exec.LookPath("ffprobe")
	if err1 != nil || err2 != nil {
		t.Fatalf("video tests need ffmpeg and ffprobe; install them (Debian: apt-get install -y ffmpeg), or run scripts/test, which does")
	}
	return ffmpeg
}

// Root returns the repository root, for testdata.
func Root(t testing.TB) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("cannot locate the repository")
	}
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// Photo returns the path of a photo in testdata/pdq/tolerance (name without
// extension), or in testdata/pdq/exact when it is a PNG there.
func Photo(t testing.TB, name string) string {
	t.Helper()
	for _, p := range []string{
		filepath.Join(Root(t), "testdata", "pdq", "tolerance", name+".jpg"),
		filepath.Join(Root(t), "testdata", "pdq", "exact", name+".png"),
	} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	t.Fatalf("no test photo %q", name)
	return ""
}

// Known and Unrelated are two disjoint sets of photos, each of PDQ quality
// 100: the first makes the video that tests bank, the second one that must
// not match it.
var (
	Known     = []string{"bridge-mods-aaa-orig", "labelme-subset-q0122", "labelme-subset-q0291"}
	Unrelated = []string{"labelme-subset-q0746", "labelme-subset-q1050", "labelme-subset-q2821"}
	// Poster is a photo in neither set.
	Poster = "reg-test-input-pen-and-coaster"
)

// FFmpeg runs ffmpeg with args (after "-v error -y"), failing the test on
// error.
func FFmpeg(t testing.TB, args ...string) {
	t.Helper()
	ffmpeg := Require(t)
	cmd := exec.Command(ffmpeg, append([]string{"-nostdin", "-v", "error", "-y"}, args...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// Segment is one shot of a slideshow: a photo shown for Seconds with a
// slow pan, or, when Photo is empty, Seconds of ffmpeg's "mandelbrot"
// animation.
type Segment struct {
	Photo   string
	Seconds float64
	// Fit shows the whole photo over black bars instead of filling the
	// frame (how a poster appears inside a video).
	Fit bool
}

// Slideshow writes a 640x360, 25 fps H.264 MP4 of the segments to out.
func Slideshow(t testing.TB, out string, segs []Segment) {
	t.Helper()
	var args []string
	var filter strings.Builder
	for i, s := range segs {
		switch {
		case s.Photo == "":
			args = append(args, "-f", "lavfi", "-t", fmt.Sprint(s.Seconds), "-i", "mandelbrot=size=640x360:rate=25")
			fmt.Fprintf(&filter, "[%d:v]setsar=1,format=yuv420p[v%d];", i, i)
		case s.Fit:
			args = append(args, "-loop", "1", "-framerate", "25", "-t", fmt.Sprint(s.Seconds), "-i", Photo(t, s.Photo))
			fmt.Fprintf(&filter, "[%d:v]scale=640:360:force_original_aspect_ratio=decrease,pad=640:360:(ow-iw)/2:(oh-ih)/2:black,setsar=1,format=yuv420p[v%d];", i, i)
		default:
			args = append(args, "-loop", "1", "-framerate", "25", "-t", fmt.Sprint(s.Seconds), "-i", Photo(t, s.Photo))
			fmt.Fprintf(&filter, "[%d:v]scale=720:405:force_original_aspect_ratio=increase,crop=720:405,crop=640:360:x='min(80\\,t*16)':y='min(45\\,t*9)',setsar=1,format=yuv420p[v%d];", i, i)
		}
	}
	for i := range segs {
		fmt.Fprintf(&filter, "[v%d]", i)
	}
	fmt.Fprintf(&filter, "concat=n=%d:v=1:a=0[out]", len(segs))
	args = append(args, "-filter_complex", filter.String(), "-map", "[out]",
		"-c:v", "libx264", "-preset", "veryfast", "-crf", "23", "-r", "25", "-pix_fmt", "yuv420p", out)
	FFmpeg(t, args...)
}

// Photos returns segments showing each photo for seconds.
func Photos(names []string, seconds float64) []Segment {
	out := make([]Segment, len(names))
	for i, n := range names {
		out[i] = Segment{Photo: n, Seconds: seconds}
	}
	return out
}
