package media

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// FuzzOrientation feeds the Exif readers: the orientation of any JPEG or
// TIFF structure is 1 to 8, and a TIFF structure gives the same one read
// directly (a TIFF file) or wrapped in a JPEG's Exif segment.
func FuzzOrientation(f *testing.F) {
	for o := uint16(0); o <= 9; o++ {
		f.Add(exifOrientation(binary.BigEndian, o)[6:])
		f.Add(exifOrientation(binary.LittleEndian, o)[6:])
	}
	f.Add(withOrientation(f, encodeJPEG(f, cornerImage()), 6))
	f.Add(readFixture(f, "valid-exif-6.jpg"))
	f.Add(readFixture(f, "valid.tiff"))
	f.Fuzz(func(t *testing.T, data []byte) {
		direct := tiffOrientation(data)
		inJPEG := jpegOrientation(data)
		if direct < 1 || direct > 8 || inJPEG < 1 || inJPEG > 8 {
			t.Fatalf("orientations %d (TIFF) and %d (JPEG)", direct, inJPEG)
		}
		if len(data)+8 > math.MaxUint16 {
			return
		}
		seg := []byte{0xff, 0xd8, 0xff, 0xe1, 0, 0}
		binary.BigEndian.PutUint16(seg[4:], uint16(len(data)+8))
		wrapped := append(append(append(seg, "Exif\x00\x00"...), data...), 0xff, 0xda)
		if got := jpegOrientation(wrapped); got != direct {
			t.Fatalf("in an Exif segment %d, read directly %d", got, direct)
		}
	})
}

// FuzzGIFVideo feeds Video, which samples animated GIFs (the server's path
// for them) in Go: every error wraps one sentinel; the sampled frames come
// in strictly increasing time from 0, within the budgets, at the GIF's
// size; and IsVideo, which picks the path, agrees with Probe. Inputs that
// sniff as a video container are left out: they run ffmpeg.
func FuzzGIFVideo(f *testing.F) {
	f.Add(buildGIF(f, animatedGIFSpec()))
	f.Add(buildGIF(f, interlacedGIFSpec()))
	f.Add(manyFrameGIF(f, 3))
	f.Add(manyFrameGIF(f, 40))
	f.Add(readFixture(f, "valid.gif"))
	f.Add(readFixture(f, "valid-interlaced.gif"))
	f.Add([]byte("GIF89a"))
	f.Add([]byte{})
	opts := fuzzOptions
	opts.MaxSampledFrames = 16
	f.Fuzz(func(t *testing.T, data []byte) {
		if Sniff(data).IsVideo() {
			return
		}
		var ts []time.Duration
		info, err := Video(context.Background(), data, opts, func(fr Frame) error {
			if fr.Index != len(ts) {
				t.Fatalf("frame %d has index %d", len(ts), fr.Index)
			}
			if len(ts) == 0 && fr.Timestamp != 0 || len(ts) > 0 && fr.Timestamp <= ts[len(ts)-1] {
				t.Fatalf("frame %d at %v after %v", fr.Index, fr.Timestamp, ts)
			}
			b := fr.Image.Bounds()
			if int64(b.Dx())*int64(b.Dy()) > opts.MaxPixels || b.Dx() < 1 || b.Dy() < 1 {
				t.Fatalf("frame %d is %v", fr.Index, b)
			}
			ts = append(ts, fr.Timestamp)
			return nil
		})
		checkFuzzError(t, "Video", err)
		probed, perr := Probe(data, opts)
		if IsVideo(data, opts) != (Sniff(data) == FormatGIF && perr == nil && probed.Frames > 1) {
			t.Fatalf("IsVideo = %v; Probe found %+v, %v", IsVideo(data, opts), probed, perr)
		}
		if err != nil {
			return
		}
		if Sniff(data) != FormatGIF {
			t.Fatalf("Video accepted %s", Sniff(data))
		}
		if info.Frames != len(ts) || len(ts) < 1 || len(ts) > opts.MaxSampledFrames ||
			info.Width != probed.Width || info.Height != probed.Height || info.Duration < ts[len(ts)-1] {
			t.Fatalf("info %+v (probed %+v) after frames at %v", info, probed, ts)
		}
	})
}

// showinfoLine is a line ffmpeg's showinfo filter logs for a frame.
func showinfoLine(n, pts int, ts string, w, h int) string {
	return fmt.Sprintf("[Parsed_showinfo_2 @ 0x55d9b294c880] n:%4d pts:%7d pts_time:%-7s duration:512 fmt:rgba cl:unspecified sar:1/1 s:%dx%d i:P iskey:1 type:I checksum:0", n, pts, ts, w, h)
}

// FuzzShowinfo feeds ffmpeg logs to scanStderr, which finds the frame
// lines in them: only a line that starts as the filter's lines do is one
// (the log holds text the uploader wrote: metadata, printed indented, and
// lines of any length), and whatever comes before, a frame line after it
// is read exactly; every frame line has a finite time and a size of at
// least 0; the other lines are kept, trimmed and at most 20, for error
// messages.
func FuzzShowinfo(f *testing.F) {
	f.Add([]byte(showinfoLine(0, 0, "0", 640, 360) + "\n" + showinfoLine(1, 512, "1.001", 640, 360) + "\n"))
	f.Add([]byte("[mov,mp4 @ 0x55d9b294c880] moov atom not found\nfile:input: Invalid data found when processing input\n"))
	f.Add([]byte(showinfoLine(0, -3, "nan", 1, 1) + "\r\n" + showinfoLine(0, 0, "inf", 99999999999999999, 2)))
	f.Add([]byte(strings.Repeat("x", 70<<10) + "\n" + showinfoLine(3, 3, "3", 2, 2)))
	f.Add([]byte("Parsed_showinfo n:1 pts:1 pts_time:1 s:1x1 s:2x2\n\n\n"))
	// A title so long that a frame line in it starts past the line length
	// limit (testdata/fuzz/FuzzShowinfo holds one as ffmpeg prints it).
	f.Add([]byte("    title           : " + strings.Repeat("x", maxLogLine-22) + showinfoLine(0, 0, "99999", 64, 48) + "\n"))
	want := frameLine{ts: 12.5, width: 64, height: 48}
	last := showinfoLine(9, 6400, "12.5", 64, 48)
	f.Fuzz(func(t *testing.T, log []byte) {
		lines := make(chan frameLine)
		done := make(chan struct{})
		defer close(done)
		kept := &tail{}
		in := append(append(bytes.Clone(log), '\n'), last...)
		go func() {
			defer close(lines)
			scanStderr(bytes.NewReader(in), kept, lines, done)
		}()
		var got []frameLine
		for l := range lines {
			if math.IsNaN(l.ts) || math.IsInf(l.ts, 0) || l.width < 0 || l.height < 0 {
				t.Fatalf("frame line %+v", l)
			}
			got = append(got, l)
		}
		if len(got) == 0 || got[len(got)-1] != want {
			t.Fatalf("the last frame line read as %v, want %+v", got, want)
		}
		starts := 0
		for _, l := range bytes.Split(in, []byte("\n")) {
			if bytes.HasPrefix(l, []byte("[Parsed_showinfo_")) {
				starts++
			}
		}
		if len(got) > starts {
			t.Fatalf("%d frame lines from %d lines that start as the filter's", len(got), starts)
		}
		kept.mu.Lock()
		defer kept.mu.Unlock()
		if len(kept.lines) > 20 {
			t.Fatalf("%d lines kept", len(kept.lines))
		}
		for _, l := range kept.lines {
			if l == "" || l != strings.TrimSpace(l) {
				t.Fatalf("kept line %q", l)
			}
		}
	})
}

// fakeFFmpeg writes an ffprobe that prints the input's bytes after its
// 4-byte signature (so the fuzzer writes ffprobe's JSON), and an ffmpeg
// that logs one showinfo line and writes one black frame at the size it
// is told to scale to, and returns Options that run them.
func fakeFFmpeg(f *testing.F) Options {
	dir := f.TempDir()
	tools := map[string]string{}
	for _, name := range []string{"sh", "tail", "head"} {
		p, err := exec.LookPath(name)
		if err != nil {
			f.Fatalf("the fake ffmpeg needs %s: %v", name, err)
		}
		tools[name] = p
	}
	// The sandbox gives the programs an empty environment: every path is
	// absolute.
	ffprobe := "#!" + tools["sh"] + "\nexec " + tools["tail"] + " -c +5 input\n"
	ffmpeg := "#!" + tools["sh"] + `
for a in "$@"; do case "$a" in *scale=*) s=${a#*scale=}; s=${s%%,*};; esac; done
w=${s%%:*}; h=${s#*:}
echo "[Parsed_showinfo_2 @ 0x5] n:   0 pts:      0 pts_time:0.5 duration:1 s:${w}x${h} fmt:rgba" >&2
exec ` + tools["head"] + ` -c $((w*h*4)) /dev/zero
`
	opts := fuzzOptions
	opts.TempDir, opts.MaxVideoPixels, opts.MaxDuration = f.TempDir(), 64*64, time.Hour
	opts.FFprobe, opts.FFmpeg = filepath.Join(dir, "ffprobe"), filepath.Join(dir, "ffmpeg")
	for path, text := range map[string]string{opts.FFprobe: ffprobe, opts.FFmpeg: ffmpeg} {
		if err := os.WriteFile(path, []byte(text), 0o755); err != nil {
			f.Fatal(err)
		}
	}
	return opts
}

// FuzzVideoProbe feeds what ffprobe prints about a video (JSON, parsed in
// videoJob.probe) to Video, through a fake ffprobe, and checks what it
// accepts: a supported codec, a size within the pixel budget (rotation
// applied), a duration within the budget; every refusal wraps one
// sentinel. The fake ffmpeg then gives one frame of the probed size.
func FuzzVideoProbe(f *testing.F) {
	opts := fakeFFmpeg(f)
	for _, s := range []string{
		`{"streams":[{"codec_name":"h264","width":64,"height":48,"start_time":"0.000000","duration":"2.000000"}],"format":{"duration":"2.000000","start_time":"0.000000"}}`,
		`{"streams":[{"codec_name":"vp9","width":32,"height":64,"side_data_list":[{"rotation":-90}]}],"format":{"duration":"N/A","start_time":"N/A"}}`,
		`{"streams":[{"codec_name":"h264","width":4096,"height":4096,"duration":"1e400"}],"format":{"duration":"4000"}}`,
		`{"streams":[{"codec_name":"cinepak","width":8,"height":8}],"format":{}}`,
		`{"streams":[{"codec_name":"h264","width":0,"height":0}],"format":{}}`,
		`{"streams":[],"format":{"duration":"1"}}`,
		`{"streams":[{"codec_name":"h264","width":8,"height":8,"start_time":"-5","duration":"-1"}]}`,
		`not json`,
	} {
		f.Add([]byte(s))
	}
	webm := []byte("\x1a\x45\xdf\xa3")
	f.Fuzz(func(t *testing.T, probe []byte) {
		var frames []Frame
		info, err := Video(context.Background(), append(slices.Clip(webm), probe...), opts, func(fr Frame) error {
			frames = append(frames, fr)
			return nil
		})
		if err != nil {
			if errors.Is(err, ErrUnavailable) {
				t.Fatalf("the fake programs did not run: %v", err)
			}
			checkFuzzError(t, "Video", err)
			return
		}
		if !slices.Contains(decoders, info.Codec) || info.Width < 1 || info.Height < 1 ||
			int64(info.Width)*int64(info.Height) > opts.MaxVideoPixels || info.Duration < 0 || info.Duration > opts.MaxDuration {
			t.Fatalf("accepted %+v from %s", info, probe)
		}
		if len(frames) != 1 || info.Frames != 1 || frames[0].Image.Bounds() != image.Rect(0, 0, info.Width, info.Height) {
			t.Fatalf("%d frames (info %+v)", len(frames), info)
		}
	})
}
