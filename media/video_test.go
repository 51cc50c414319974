package media

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"image"
	"image/color"
	"image/gif"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mediamatch/mediamatch/internal/testvideo"
)

// videoOptions returns Options whose temp files go to a directory the test
// checks afterwards.
func videoOptions(t *testing.T) Options {
	return Options{TempDir: t.TempDir()}
}

// checkClean fails when a video job left a temp file or a child process.
func checkClean(t *testing.T, opts Options) {
	t.Helper()
	left, err := os.ReadDir(opts.TempDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range left {
		t.Errorf("temp file left behind: %s", e.Name())
	}
	// Children are reaped by Wait; anything still running (or a zombie)
	// with us as parent is a leak.
	deadline := time.Now().Add(2 * time.Second)
	for {
		kids := children(t)
		if len(kids) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("child processes left behind: %v", kids)
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// children lists the processes whose parent is this test process.
func children(t *testing.T) []string {
	t.Helper()
	dirs, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	me := strconv.Itoa(os.Getpid())
	var out []string
	for _, d := range dirs {
		if _, err := strconv.Atoi(d.Name()); err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", d.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...
		s := string(stat)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		fields := strings.Fields(s[i+1:])
		if len(fields) > 1 && fields[1] == me {
			out = append(out, d.Name()+" "+s[strings.IndexByte(s, '(')+1:i])
		}
	}
	return out
}

type sampled struct {
	ts   []time.Duration
	size image.Point
}

func sample(t *testing.T, data []byte, opts Options) (VideoInfo, sampled, error) {
	t.Helper()
	var s sampled
	info, err := Video(context.Background(), data, opts, func(f Frame) error {
		if _, ok := f.Image.(*image.NRGBA); !ok {
			t.Fatalf("frame is %T, want *image.NRGBA", f.Image)
		}
		if f.Index != len(s.ts) {
			t.Errorf("frame index %d, want %d", f.Index, len(s.ts))
		}
		s.ts = append(s.ts, f.Timestamp)
		s.size = f.Image.Bounds().Size()
		return nil
	})
	return info, s, err
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestVideoSampling checks the sampling rule on a 15-second slideshow: one
// frame per whole second, plus the cuts, in order, at the video's size.
func TestVideoSampling(t *testing.T) {
	testvideo.Require(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "known.mp4")
	testvideo.Slideshow(t, path, testvideo.Photos(testvideo.Known, 5))
	opts := videoOptions(t)
	info, s, err := sample(t, readFile(t, path), opts)
	if err != nil {
		t.Fatal(err)
	}
	checkClean(t, opts)
	if info.Format != FormatMP4 || info.Codec != "h264" || info.Width != 640 || info.Height != 360 {
		t.Errorf("info = %+v", info)
	}
	if info.Duration < 14*time.Second || info.Duration > 16*time.Second {
		t.Errorf("duration %v, want 15s", info.Duration)
	}
	if s.size != image.Pt(640, 360) {
		t.Errorf("frame size %v", s.size)
	}
	if info.Frames != len(s.ts) {
		t.Errorf("info.Frames %d, got %d frames", info.Frames, len(s.ts))
	}
	// Every whole second has a sample at its start (within a frame).
	for sec := 0; sec < 15; sec++ {
		found := false
		for _, ts := range s.ts {
			if ts >= time.Duration(sec)*time.Second && ts < time.Duration(sec)*time.Second+80*time.Millisecond {
				found = true
			}
		}
		if !found {
			t.Errorf("no sample at second %d: %v", sec, s.ts)
		}
	}
	for i := 1; i < len(s.ts); i++ {
		if s.ts[i] <= s.ts[i-1] {
			t.Errorf("timestamps not increasing: %v", s.ts)
		}
		if s.ts[i]-s.ts[i-1] < MinSceneGap && s.ts[i]/time.Second == s.ts[i-1]/time.Second {
			t.Errorf("samples %v and %v closer than the scene gap", s.ts[i-1], s.ts[i])
		}
	}
	if len(s.ts) > 15+2*5 {
		t.Errorf("%d samples for 15 s with 5 cuts: %v", len(s.ts), s.ts)
	}
}

// TestVideoSparseReferences checks that skipping non-reference frames
// never costs a sample: a stream whose only references are 3.4 s apart
// (16 B-frames between P-frames, none of them a reference) is sampled every
// second, as when every frame is decoded, and fn sees each frame once.
func TestVideoSparseReferences(t *testing.T) {
	testvideo.Require(t)
	path := filepath.Join(t.TempDir(), "sparse.mp4")
	testvideo.FFmpeg(t, "-f", "lavfi", "-i", "testsrc2=size=160x120:d=8:r=5", "-c:v", "libx264",
		"-x264-params", "bframes=16:b-adapt=0:b-pyramid=none:keyint=1000:scenecut=0", path)
	data := readFile(t, path)
	opts := videoOptions(t)
	opts.SkipNonReferenceFrames = true
	_, skipped, err := sample(t, data, opts)
	if err != nil {
		t.Fatal(err)
	}
	checkClean(t, opts)
	opts.SkipNonReferenceFrames = false
	_, every, err := sample(t, data, opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(every.ts) < 8 {
		t.Fatalf("every frame decoded: %d samples, want one a second: %v", len(every.ts), every.ts)
	}
	if !slices.Equal(skipped.ts, every.ts) {
		t.Errorf("samples %v, want those of every frame decoded, %v", skipped.ts, every.ts)
	}
}

// TestVideoContainers decodes each allowed container with a typical codec.
func TestVideoContainers(t *testing.T) {
	testvideo.Require(t)
	dir := t.TempDir()
	src := filepath.Join(dir, "src.mp4")
	testvideo.Slideshow(t, src, testvideo.Photos(testvideo.Known[:2], 1.5))
	cases := []struct {
		name, codec string
		format      Format
		args        []string
	}{
		{"clip.webm", "vp9", FormatWebM, []string{"-c:v", "libvpx-vp9", "-b:v", "300k", "-deadline", "realtime", "-cpu-used", "8"}},
		{"clip.mkv", "h264", FormatWebM, []string{"-c:v", "libx264", "-preset", "ultrafast"}},
		{"clip.avi", "mpeg4", FormatAVI, []string{"-c:v", "mpeg4"}},
		{"clip.mov", "h264", FormatMP4, []string{"-c:v", "libx264", "-preset", "ultrafast"}},
		{"clip-mjpeg.avi", "mjpeg", FormatAVI, []string{"-c:v", "mjpeg", "-q:v", "5"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out := filepath.Join(dir, c.name)
			testvideo.FFmpeg(t, append(append([]string{"-i", src}, c.args...), out)...)
			opts := videoOptions(t)
			info, s, err := sample(t, readFile(t, out), opts)
			if err != nil {
				t.Fatal(err)
			}
			checkClean(t, opts)
			if info.Format != c.format || info.Codec != c.codec {
				t.Errorf("format %s codec %s, want %s %s", info.Format, info.Codec, c.format, c.codec)
			}
			if len(s.ts) < 3 || len(s.ts) > 6 || s.size != image.Pt(640, 360) {
				t.Errorf("%d samples of %v: %v", len(s.ts), s.size, s.ts)
			}
		})
	}
}

// TestVideoRotation checks that a phone video's rotation is applied.
func TestVideoRotation(t *testing.T) {
	testvideo.Require(t)
	dir := t.TempDir()
	src := filepath.Join(dir, "src.mp4")
	testvideo.Slideshow(t, src, testvideo.Photos(testvideo.Known[:1], 2))
	rotated := filepath.Join(dir, "rotated.mp4")
	testvideo.FFmpeg(t, "-i", src, "-c", "copy", "-metadata:s:v", "rotate=90", rotated)
	info, s, err := sample(t, readFile(t, rotated), videoOptions(t))
	if err != nil {
		t.Fatal(err)
	}
	if info.Width != 360 || info.Height != 640 || s.size != image.Pt(360, 640) {
		t.Errorf("rotated video: info %dx%d, frames %v; want 360x640", info.Width, info.Height, s.size)
	}
}

// hugeAVI returns an AVI whose headers claim 20000x20000 frames.
func hugeAVI(t *testing.T, dir string) []byte {
	path := filepath.Join(dir, "small.avi")
	testvideo.FFmpeg(t, "-f", "lavfi", "-i", "color=gray:s=16x16:d=0.4:r=5", "-c:v", "rawvideo", "-pix_fmt", "gray", path)
	b := readFile(t, path)
	for _, chunk := range []struct {
		tag string
		off int
	}{{"avih", 8 + 32}, {"strf", 8 + 4}} {
		i := bytes.Index(b, []byte(chunk.tag))
		if i < 0 {
			t.Fatalf("no %s chunk", chunk.tag)
		}
		binary.LittleEndian.PutUint32(b[i+chunk.off:], 20000)
		binary.LittleEndian.PutUint32(b[i+chunk.off+4:], 20000)
	}
	return b
}

// TestVideoHostile feeds broken and hostile videos: each must fail with the
// right error, within the limits, leaving no process or file behind.
func TestVideoHostile(t *testing.T) {
	testvideo.Require(t)
	dir := t.TempDir()
	good := filepath.Join(dir, "good.mp4")
	testvideo.Slideshow(t, good, testvideo.Photos(testvideo.Known[:3], 2))
	goodBytes := readFile(t, good)

	long := filepath.Join(dir, "long.mkv")
	testvideo.FFmpeg(t, "-f", "lavfi", "-i", "testsrc=size=64x64:d=4:r=5", "-vf", "setpts=PTS*1000000", "-c:v", "libx264", long)
	// Written to a pipe, Matroska declares no duration: the frames must be
	// timed as they come.
	endless := filepath.Join(dir, "endless.mkv")
	testvideo.FFmpeg(t, "-f", "lavfi", "-i", "testsrc=size=64x64:d=60:r=5", "-c:v", "libx264", "-f", "matroska", "-y", "file:"+endless)
	endlessBytes := stripMatroskaDuration(t, readFile(t, endless))
	slow := filepath.Join(dir, "slow.mp4")
	testvideo.FFmpeg(t, "-f", "lavfi", "-i", "testsrc2=size=1280x720:d=60:r=30", "-c:v", "libx264", "-preset", "ultrafast", slow)

	rng := rand.New(rand.NewPCG(1, 2))
	random := make([]byte, 1<<16)
	for i := range random {
		random[i] = byte(rng.UintN(256))
	}
	fakeMP4 := append([]byte("\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2"), random...)

	cases := []struct {
		name string
		data []byte
		opts func(*Options)
		want error
		msg  string
	}{
		{name: "truncated mp4", data: goodBytes[:len(goodBytes)/2], want: ErrInvalid, msg: "could not read"},
		{name: "random bytes", data: random, want: ErrInvalid, msg: "not a recognised video format"},
		{name: "mp4 header then random bytes", data: fakeMP4, want: ErrInvalid, msg: "could not read"},
		{name: "20000x20000 frames", data: hugeAVI(t, dir), want: ErrTooLarge, msg: "20000x20000"},
		{name: "absurd declared duration", data: readFile(t, long), want: ErrTooLarge, msg: "declares a length"},
		{name: "no declared end", data: endlessBytes, opts: func(o *Options) { o.MaxDuration = 10 * time.Second }, want: ErrTooLarge, msg: "runs past"},
		{name: "wall-clock limit", data: readFile(t, slow), opts: func(o *Options) { o.VideoTimeout = 300 * time.Millisecond }, want: ErrTooLarge, msg: "took longer than"},
		{name: "too many samples", data: goodBytes, opts: func(o *Options) { o.MaxSampledFrames = 2 }, want: ErrTooLarge, msg: "more than 2 sampled frames"},
		{name: "too many bytes", data: goodBytes, opts: func(o *Options) { o.MaxVideoBytes = 1000 }, want: ErrTooLarge, msg: "over the limit"},
		{name: "FLV", data: []byte("FLV\x01\x01\x00\x00\x00\x09\x00\x00\x00\x00"), want: ErrUnsupported, msg: "not a supported video container"},
		{name: "empty", data: nil, want: ErrInvalid, msg: "empty"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			opts := videoOptions(t)
			if c.opts != nil {
				c.opts(&opts)
			}
			start := time.Now()
			_, _, err := sample(t, c.data, opts)
			took := time.Since(start)
			if !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.msg) {
				t.Errorf("error %v, want %v containing %q", err, c.want, c.msg)
			}
			t.Logf("%v in %v", err, took.Round(time.Millisecond))
			checkClean(t, opts)
		})
	}
}

// stripMatroskaDuration overwrites the Segment Info's Duration element
// (ID 0x4489) with a Void element of the same size, so the file declares
// no length, as a live stream does.
func stripMatroskaDuration(t *testing.T, b []byte) []byte {
	b = bytes.Clone(b)
	i := bytes.Index(b, []byte{0x44, 0x89})
	if i < 0 || i+3 > len(b) || b[i+2]&0x80 == 0 {
		t.Fatal("no Duration element with a one-byte size")
	}
	size := int(b[i+2] & 0x7f)
	// Void (0xEC) with a two-byte size covering the rest of the element.
	total := 3 + size
	b[i] = 0xec
	b[i+1] = 0x40
	b[i+2] = byte(total - 3)
	for k := i + 3; k < i+total; k++ {
		b[k] = 0
	}
	return b
}

// TestVideoCallerStops checks that an error from the callback or a
// cancelled context ends the job at once, with nothing left behind.
func TestVideoCallerStops(t *testing.T) {
	testvideo.Require(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "clip.mp4")
	testvideo.Slideshow(t, path, testvideo.Photos(testvideo.Known, 2))
	data := readFile(t, path)

	stop := errors.New("enough")
	opts := videoOptions(t)
	n := 0
	_, err := Video(context.Background(), data, opts, func(Frame) error {
		n++
		if n == 2 {
			return stop
		}
		return nil
	})
	if err != stop || n != 2 {
		t.Errorf("got %v after %d frames, want the callback's error after 2", err, n)
	}
	checkClean(t, opts)

	ctx, cancel := context.WithCancel(context.Background())
	opts = videoOptions(t)
	_, err = Video(ctx, data, opts, func(Frame) error {
		cancel()
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("got %v, want context.Canceled", err)
	}
	checkClean(t, opts)

	// A callback that panics (the server recovers and goes on) leaves no
	// ffmpeg, temp file or reader goroutine behind.
	opts = videoOptions(t)
	before := runtime.NumGoroutine()
	func() {
		defer func() {
			if r := recover(); r != "frame 2" {
				t.Errorf("recovered %v, want the callback's panic", r)
			}
		}()
		n := 0
		Video(context.Background(), data, opts, func(Frame) error {
			if n++; n == 2 {
				panic("frame 2")
			}
			return nil
		})
	}()
	checkClean(t, opts)
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			t.Errorf("%d goroutines after the panic, %d before", runtime.NumGoroutine(), before)
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestVideoUnavailable checks the error when ffmpeg is missing.
func TestVideoUnavailable(t *testing.T) {
	opts := videoOptions(t)
	opts.FFmpeg = filepath.Join(t.TempDir(), "no-ffmpeg")
	_, err := VideoSupport(opts)
	if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "apt-get install -y ffmpeg") {
		t.Errorf("VideoSupport: %v", err)
	}
	_, err = Video(context.Background(), []byte("\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2"), opts, func(Frame) error { return nil })
	if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "apt-get install -y ffmpeg") {
		t.Errorf("Video: %v", err)
	}
	// GIF needs no ffmpeg.
	if _, _, err := sample(t, twoSecondGIF(t), opts); err != nil {
		t.Errorf("GIF without ffmpeg: %v", err)
	}
	checkClean(t, opts)
}

// twoSecondGIF is a GIF that changes picture every half second for 2 s.
func twoSecondGIF(t *testing.T) []byte {
	g := &gif.GIF{}
	pal := color.Palette{color.Black, color.White, color.RGBA{200, 30, 30, 255}}
	for i := range 4 {
		m := image.NewPaletted(image.Rect(0, 0, 64, 48), pal)
		for p := range m.Pix {
			x, y := p%64, p/64
			// Each frame a different pattern: a real cut.
			m.Pix[p] = uint8((x/(8+4*i) + y/(6+2*i)) % 3)
		}
		g.Image = append(g.Image, m)
		g.Delay = append(g.Delay, 50)
	}
	var buf bytes.Buffer
	if err := gif.EncodeAll(&buf, g); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestGIFVideo checks that an animated GIF is sampled by the same rule:
// cuts every half second are all taken.
func TestGIFVideo(t *testing.T) {
	data := twoSecondGIF(t)
	if !IsVideo(data, Options{}) {
		t.Fatal("animated GIF is not a video")
	}
	info, s, err := sample(t, data, Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := []time.Duration{0, 500 * time.Millisecond, time.Second, 1500 * time.Millisecond}
	if len(s.ts) != len(want) {
		t.Fatalf("samples at %v, want %v", s.ts, want)
	}
	for i := range want {
		if s.ts[i] != want[i] {
			t.Errorf("samples at %v, want %v", s.ts, want)
		}
	}
	if info.Duration != 2*time.Second || info.Width != 64 || info.Height != 48 || info.Codec != "gif" {
		t.Errorf("info %+v", info)
	}
	// A still GIF is an image.
	if IsVideo(manyFrameGIF(t, 1), Options{}) {
		t.Error("single-frame GIF is a video")
	}
}
