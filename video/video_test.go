package video

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"image"
	"image/color"
	"image/color/palette"
	"image/draw"
	"image/gif"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/disintegration/imaging"

	"github.com/mediamatch/mediamatch/internal/testvideo"
	"github.com/mediamatch/mediamatch/media"
	"github.com/mediamatch/mediamatch/pdq"
)

// photoGIF makes an animated GIF from pictures, each shown for the given
// time.
func photoGIF(t *testing.T, pics []image.Image, shown []time.Duration) []byte {
	t.Helper()
	g := &gif.GIF{}
	for i, p := range pics {
		m := image.NewPaletted(p.Bounds(), palette.Plan9)
		draw.FloydSteinberg.Draw(m, m.Bounds(), p, p.Bounds().Min)
		g.Image = append(g.Image, m)
		g.Delay = append(g.Delay, int(shown[i]/(10*time.Millisecond)))
	}
	var buf bytes.Buffer
	if err := gif.EncodeAll(&buf, g); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func openPhoto(t *testing.T, name string, w int) image.Image {
	t.Helper()
	m, err := imaging.Open(testvideo.Photo(t, name))
	if err != nil {
		t.Fatal(err)
	}
	return imaging.Resize(m, w, 0, imaging.Lanczos)
}

// TestHashCollapsesAndFindsContent checks the two things Hash adds to the
// sampling: a still scene sampled every second is kept once, and a
// letterboxed picture also gets a hash of the picture itself.
func TestHashCollapsesAndFindsContent(t *testing.T) {
	a := imaging.Fill(openPhoto(t, testvideo.Known[0], 320), 320, 240, imaging.Center, imaging.Lanczos)
	// A 16:9 picture inside a 4:3 frame, with black bars above and below.
	b := imaging.Fill(openPhoto(t, testvideo.Known[1], 320), 320, 180, imaging.Center, imaging.Lanczos)
	boxed := imaging.Paste(imaging.New(320, 240, color.Black), b, image.Pt(0, 30))
	// The first picture is shown three times a second apart, as a GIF that
	// repeats a frame does.
	data := photoGIF(t, []image.Image{a, a, a, boxed}, []time.Duration{time.Second, time.Second, time.Second, 2 * time.Second})

	h, err := Hash(context.Background(), data, media.Options{})
	if err != nil {
		t.Fatal(err)
	}
	// Samples at 0, 1, 2 (the same picture, collapsed), 3 (the cut).
	if h.Info.Frames != 4 || len(h.Frames) != 2 {
		t.Fatalf("%d samples, %d frames kept: %+v", h.Info.Frames, len(h.Frames), h.Frames)
	}
	if h.Frames[0].Seconds != 0 || h.Frames[1].Seconds != 3 {
		t.Errorf("frame times %v, %v", h.Frames[0].Seconds, h.Frames[1].Seconds)
	}
	if h.Frames[0].HasContent {
		t.Errorf("a full-frame picture got a content hash")
	}
	want, err := pdq.HashImage(b)
	if err != nil {
		t.Fatal(err)
	}
	f := h.Frames[1]
	whole, content := pdq.Distance(f.Hash, want.Hash), pdq.Distance(f.Content, want.Hash)
	t.Logf("letterboxed frame: whole %d bits from the picture, content region %d", whole, content)
	if !f.HasContent || content > 31 {
		t.Errorf("letterboxed frame: content hash %v at %d bits from the picture", f.HasContent, content)
	}
	if whole <= content {
		t.Errorf("the whole frame (%d bits) is as close as its content region (%d)", whole, content)
	}
}

// BenchmarkHash720p measures video hashing on a minute of 720p H.264 at 30
// fps: video seconds hashed per wall second, with jobs videos hashed at
// once (as a server hashes concurrent uploads, or `hash --jobs`), and the
// share of each job's wall time spent waiting for ffmpeg (decoding, in its
// own process) against hashing. decode=every is the default;
// decode=references skips non-reference frames
// (media.Options.SkipNonReferenceFrames).
func BenchmarkHash720p(b *testing.B) {
	data := video720p(b)
	for _, skip := range []bool{false, true} {
		for _, jobs := range []int{1, 2} {
			name := fmt.Sprintf("decode=every/jobs=%d", jobs)
			if skip {
				name = fmt.Sprintf("decode=references/jobs=%d", jobs)
			}
			b.Run(name, func(b *testing.B) {
				benchmarkHash(b, data, media.Options{SkipNonReferenceFrames: skip}, jobs)
			})
		}
	}
}

func benchmarkHash(b *testing.B, data []byte, opts media.Options, jobs int) {
	ctx := context.Background()
	var (
		mu      sync.Mutex
		seconds float64
		timings Timings
		wg      sync.WaitGroup
		next    atomic.Int64
	)
	b.ResetTimer()
	for range jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(b.N) {
				h, tm, err := HashTimed(ctx, data, opts)
				if err != nil {
					b.Error(err)
					return
				}
				mu.Lock()
				seconds += h.Info.Duration.Seconds()
				timings.Decode += tm.Decode
				timings.Hash += tm.Hash
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	elapsed := b.Elapsed().Seconds()
	b.ReportMetric(seconds/elapsed, "video-s/s")
	total := float64(timings.Decode + timings.Hash)
	b.ReportMetric(100*float64(timings.Decode)/total, "%ffmpeg")
	b.ReportMetric(100*float64(timings.Hash)/total, "%hash")
}

var anchorPDQ = flag.String("anchor-pdq", "", "path of the reference PDQ hasher (pdq-photo-hasher) for BenchmarkReference720p")

// BenchmarkReference720p is the reference pipeline on the same video, the
// yardstick for BenchmarkHash720p: ffmpeg (its default threads) sampling a
// frame a second to PNG files, then the reference PDQ hasher over them. It
// runs only when -anchor-pdq names the hasher.
func BenchmarkReference720p(b *testing.B) {
	if *anchorPDQ == "" {
		b.Skip("-anchor-pdq is not set: give the path of pdq-photo-hasher")
	}
	ffmpeg := testvideo.Require(b)
	data := video720p(b)
	dir := b.TempDir()
	in := filepath.Join(dir, "in.mp4")
	if err := os.WriteFile(in, data, 0o600); err != nil {
		b.Fatal(err)
	}
	var seconds float64
	b.ResetTimer()
	for i := range b.N {
		frames := filepath.Join(dir, fmt.Sprint(i))
		if err := os.Mkdir(frames, 0o700); err != nil {
			b.Fatal(err)
		}
		cmd := exec.Command(ffmpeg, "-nostdin", "-v", "error", "-i", in, "-vf", "fps=1", filepath.Join(frames, "%04d.png"))
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("ffmpeg: %v: %s", err, out)
		}
		pngs, err := filepath.Glob(filepath.Join(frames, "*.png"))
		if err != nil || len(pngs) < 50 {
			b.Fatalf("%d frames: %v", len(pngs), err)
		}
		out, err := exec.Command(*anchorPDQ, pngs...).Output()
		if err != nil {
			b.Fatalf("%s: %v", *anchorPDQ, err)
		}
		if n := bytes.Count(out, []byte("\n")); n != len(pngs) {
			b.Fatalf("the hasher printed %d lines for %d frames", n, len(pngs))
		}
		seconds += float64(len(pngs))
	}
	b.ReportMetric(seconds/b.Elapsed().Seconds(), "video-s/s")
}

// BenchmarkDecode720p is the ffmpeg side alone: sampling the same video
// with no hashing.
func BenchmarkDecode720p(b *testing.B) {
	data := video720p(b)
	var seconds float64
	b.ResetTimer()
	for range b.N {
		info, err := media.Video(context.Background(), data, media.Options{}, func(media.Frame) error { return nil })
		if err != nil {
			b.Fatal(err)
		}
		seconds += info.Duration.Seconds()
	}
	b.ReportMetric(seconds/b.Elapsed().Seconds(), "video-s/s")
}

// BenchmarkFrame720p is the hashing side alone: one 720p frame.
func BenchmarkFrame720p(b *testing.B) {
	data := video720p(b)
	var frame *image.NRGBA
	_, err := media.Video(context.Background(), data, media.Options{MaxSampledFrames: 100}, func(f media.Frame) error {
		if frame == nil && f.Timestamp >= 2*time.Second {
			frame = imaging.Clone(f.Image)
		}
		return nil
	})
	if err != nil || frame == nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		if _, err := hashFrame(media.Frame{Image: frame}); err != nil {
			b.Fatal(err)
		}
	}
}

// video720p makes (once per process) a minute of 1280x720 30 fps H.264:
// the test photos panned, as the tests' slideshows are.
func video720p(b *testing.B) []byte {
	b.Helper()
	if cached720p != nil {
		return cached720p
	}
	dir := b.TempDir()
	src := filepath.Join(dir, "src.mp4")
	testvideo.Slideshow(b, src, testvideo.Photos(append(append([]string{}, testvideo.Known...), testvideo.Unrelated...), 10))
	out := filepath.Join(dir, "720p.mp4")
	testvideo.FFmpeg(b, "-i", src, "-vf", "scale=1280:720", "-r", "30", "-c:v", "libx264", "-preset", "medium", "-crf", "23", out)
	data, err := os.ReadFile(out)
	if err != nil {
		b.Fatal(err)
	}
	cached720p = data
	b.Logf("%s: %d bytes", fmt.Sprint(out[len(dir)+1:]), len(data))
	return data
}

var cached720p []byte

// TestHashMirror checks each frame's mirrored hash against the frames of
// the video mirrored by ffmpeg: within the match threshold (PDQ's filter
// is not symmetric, and the mirror is re-encoded: 18 to 30 bits were
// measured), where the frame as given is as far as unrelated frames.
func TestHashMirror(t *testing.T) {
	dir := t.TempDir()
	orig, flipped := filepath.Join(dir, "orig.mp4"), filepath.Join(dir, "flipped.mp4")
	testvideo.Slideshow(t, orig, testvideo.Photos(testvideo.Known, 3))
	testvideo.FFmpeg(t, "-i", orig, "-vf", "hflip", "-c:v", "libx264", "-crf", "18", flipped)
	hash := func(path string) []Frame {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		h, err := Hash(context.Background(), data, media.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return h.Frames
	}
	a, b := hash(orig), hash(flipped)
	if len(a) < 8 || len(a) != len(b) {
		t.Fatalf("%d and %d frames", len(a), len(b))
	}
	for i := range a {
		if a[i].Seconds != b[i].Seconds {
			t.Fatalf("frame %d at %v and %v", i, a[i].Seconds, b[i].Seconds)
		}
		mirror, plain := pdq.Distance(a[i].Mirror, b[i].Hash), pdq.Distance(a[i].Hash, b[i].Hash)
		if mirror > 31 || plain < 64 {
			t.Errorf("frame at %v s: mirrored hash %d bits from the mirrored video's, the hash as given %d", a[i].Seconds, mirror, plain)
		}
		if back := pdq.Distance(b[i].Mirror, a[i].Hash); back > 31 {
			t.Errorf("frame at %v s: mirrored back, %d bits from the original", a[i].Seconds, back)
		}
	}
}
