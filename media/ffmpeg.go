package media

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// demuxers is the container allow-list: the ffmpeg demuxer forced for each
// sniffed format. ffmpeg never guesses the format, so a file cannot reach a
// demuxer outside this list (playlists, concat lists, image sequences, ...).
var demuxers = map[Format]string{
	FormatMP4:  "mov",
	FormatWebM: "matroska",
	FormatAVI:  "avi",
}

// decoders is the codec allow-list: the video codecs that real uploads
// use. ffmpeg is told to open no other decoder, and ffprobe's answer is
// checked against it before any frame is decoded.
var decoders = []string{
	"h264", "hevc", "vp8", "vp9", "av1", "mpeg4", "msmpeg4v2", "msmpeg4v3",
	"h263", "mpeg1video", "mpeg2video", "mjpeg", "theora", "prores", "png",
	"gif", "rawvideo", "ffv1", "wmv1", "wmv2", "wmv3", "vc1", "dnxhd", "flv1",
	"libdav1d", "libvpx", "libvpx-vp9", "libaom-av1",
}

// VideoStatus reports how videos are decoded on this machine.
type VideoStatus struct {
	// FFmpeg and FFprobe are the resolved paths of the programs.
	FFmpeg, FFprobe string
	// Version is the first line ffmpeg prints of its version.
	Version string
	// NetworkIsolated is true when the processes run in a network
	// namespace of their own, with no interface but loopback.
	NetworkIsolated bool
}

// VideoSupport checks that ffmpeg and ffprobe can run. The error wraps
// ErrUnavailable and says what to install; GIF is decoded without them.
func VideoSupport(opts Options) (VideoStatus, error) {
	opts = opts.withDefaults()
	ffmpeg, ffprobe, err := programs(opts)
	if err != nil {
		return VideoStatus{}, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := sandboxed(ctx, ffmpeg, "", "-hide_banner", "-version")
	out, err := cmd.Output()
	if err != nil {
		return VideoStatus{}, fmt.Errorf("media: %s -version failed: %v: %w", ffmpeg, err, ErrUnavailable)
	}
	version, _, _ := strings.Cut(string(out), "\n")
	return VideoStatus{FFmpeg: ffmpeg, FFprobe: ffprobe, Version: version, NetworkIsolated: networkIsolated()}, nil
}

// programs resolves the ffmpeg and ffprobe paths.
func programs(opts Options) (ffmpeg, ffprobe string, err error) {
	ffmpeg, err1 := exec.LookPath(opts.FFmpeg)
	ffprobe, err2 := exec.LookPath(opts.FFprobe)
	if err := errors.Join(err1, err2); err != nil {
		return "", "", fmt.Errorf("media: video needs ffmpeg and ffprobe, which were not found (%v); "+
			"install them, on Debian or Ubuntu with: apt-get install -y ffmpeg: %w", firstLine(err), ErrUnavailable)
	}
	return ffmpeg, ffprobe, nil
}

// ffmpegVideo spools data to a private file, probes it and streams sampled
// frames out of ffmpeg.
func ffmpegVideo(ctx context.Context, data []byte, f Format, opts Options, fn func(Frame) error) (VideoInfo, error) {
	ffmpeg, ffprobe, err := programs(opts)
	if err != nil {
		return VideoInfo{}, err
	}
	// Parent cancellation and the time budget are told apart afterwards.
	jobCtx, cancel := context.WithTimeoutCause(ctx, opts.VideoTimeout, errVideoTimeout)
	defer cancel()
	dir, err := os.MkdirTemp(opts.TempDir, "mediamatch-video-")
	if err != nil {
		return VideoInfo{}, fmt.Errorf("media: spooling video: %w", err)
	}
	defer os.RemoveAll(dir)
	// MP4 may keep its index at the end, so ffmpeg gets a seekable file.
	if err := os.WriteFile(filepath.Join(dir, "input"), data, 0o600); err != nil {
		return VideoInfo{}, fmt.Errorf("media: spooling video: %w", err)
	}
	job := &videoJob{ctx: jobCtx, parent: ctx, opts: opts, dir: dir, format: f}
	p, err := job.probe(ffprobe)
	if err != nil {
		return VideoInfo{}, err
	}
	return job.frames(ffmpeg, p, fn)
}

var errVideoTimeout = errors.New("video decoding timed out")

// videoJob is one video being decoded.
type videoJob struct {
	ctx, parent context.Context
	opts        Options
	dir         string
	format      Format
}

// inputArgs are the options that confine how ffmpeg and ffprobe read the
// input: one file by relative path, no other protocol, the demuxer forced
// and the decoders listed, one thread.
func (j *videoJob) inputArgs() []string {
	return []string{
		"-threads", "1",
		"-protocol_whitelist", "file",
		"-codec_whitelist", strings.Join(decoders, ","),
		"-f", demuxers[j.format],
		"-i", "file:input",
	}
}

// probeResult is what ffprobe says about the first video stream.
type probeResult struct {
	codec         string
	width, height int // displayed, after rotation
	start         float64
	duration      float64 // 0 when unknown
	// videoDuration is the video stream's own length, which can be less
	// than the container's when another stream runs longer; 0 when
	// unknown.
	videoDuration float64
}

func (j *videoJob) probe(ffprobe string) (*probeResult, error) {
	args := append([]string{"-hide_banner", "-v", "error"}, j.inputArgs()...)
	args = append(args, "-select_streams", "v:0",
		"-show_entries", "format=duration,start_time:stream=codec_name,width,height,start_time,duration:stream_side_data=rotation",
		"-of", "json")
	var out struct {
		Streams []struct {
			CodecName string `json:"codec_name"`
			Width     int    `json:"width"`
			Height    int    `json:"height"`
			StartTime string `json:"start_time"`
			Duration  string `json:"duration"`
			SideData  []struct {
				Rotation float64 `json:"rotation"`
			} `json:"side_data_list"`
		} `json:"streams"`
		Format struct {
			Duration  string `json:"duration"`
			StartTime string `json:"start_time"`
		} `json:"format"`
	}
	cmd := sandboxed(j.ctx, ffprobe, j.dir, args...)
	stderr := &tail{}
	cmd.Stderr = stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("media: ffprobe: %w", err)
	}
	if err := j.start(cmd, "ffprobe"); err != nil {
		return nil, err
	}
	body, readErr := io.ReadAll(io.LimitReader(stdout, 1<<20))
	waitErr := finish(cmd)
	if err := j.failure("ffprobe", waitErr, stderr); err != nil {
		return nil, err
	}
	if readErr != nil {
		return nil, fmt.Errorf("media: reading ffprobe output: %w", readErr)
	}
	if err := json.Unmarshal(body, &out); err != nil {
		return nil, fmt.Errorf("media: ffprobe printed something unexpected: %v: %w", err, ErrInvalid)
	}
	if len(out.Streams) == 0 {
		return nil, fmt.Errorf("media: %s has no video stream: %w", j.format, ErrInvalid)
	}
	s := out.Streams[0]
	p := &probeResult{codec: s.CodecName, width: s.Width, height: s.Height}
	if !slices.Contains(decoders, p.codec) {
		return nil, fmt.Errorf("media: %s: video codec %q is not supported: %w", j.format, clip(p.codec), ErrUnsupported)
	}
	if s.Width <= 0 || s.Height <= 0 {
		// ffmpeg refuses sizes it cannot allocate and reports 0x0; its log
		// says what the header claimed.
		if m := invalidSize.FindStringSubmatch(stderr.all()); m != nil {
			return nil, fmt.Errorf("media: %s declares frames of %sx%s, over the limit of %d pixels per frame: %w",
				j.format, m[1], m[2], j.opts.MaxVideoPixels, ErrTooLarge)
		}
		return nil, fmt.Errorf("media: %s stream gives a size of %dx%d: %w", j.format, s.Width, s.Height, ErrInvalid)
	}
	if int64(s.Width) > j.opts.MaxVideoPixels/int64(s.Height) {
		return nil, fmt.Errorf("media: %s is %dx%d, over the limit of %d pixels per frame: %w",
			j.format, s.Width, s.Height, j.opts.MaxVideoPixels, ErrTooLarge)
	}
	for _, sd := range s.SideData {
		if r := math.Mod(math.Abs(sd.Rotation), 180); r > 45 && r < 135 {
			p.width, p.height = p.height, p.width
		}
	}
	p.start = parseSeconds(s.StartTime)
	if math.IsNaN(p.start) {
		p.start = parseSeconds(out.Format.StartTime)
	}
	if math.IsNaN(p.start) || p.start < 0 {
		p.start = 0
	}
	p.duration = parseSeconds(out.Format.Duration)
	if d := parseSeconds(s.Duration); math.IsNaN(p.duration) || (!math.IsNaN(d) && d > p.duration) {
		p.duration = d
	}
	if math.IsNaN(p.duration) || p.duration < 0 {
		p.duration = 0
	}
	if d := parseSeconds(s.Duration); d > 0 && d <= p.duration {
		p.videoDuration = d
	}
	if p.duration > j.opts.MaxDuration.Seconds() {
		return nil, fmt.Errorf("media: %s declares a length of %s, over the limit of %v: %w",
			j.format, seconds(p.duration), j.opts.MaxDuration, ErrTooLarge)
	}
	return p, nil
}

// parseSeconds parses ffprobe's seconds, NaN when absent ("N/A").
func parseSeconds(s string) float64 {
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(v, 0) {
		return math.NaN()
	}
	return v
}

// seconds prints a length in seconds for people.
func seconds(s float64) string {
	if s > 1e9 {
		return fmt.Sprintf("%.3g s", s)
	}
	return (time.Duration(s * float64(time.Second))).Round(time.Millisecond).String()
}

// invalidSize matches ffmpeg's complaint about a frame size it will not
// allocate.
var invalidSize = regexp.MustCompile(`Picture size (\d+)x(\d+) is invalid`)

// showinfo matches the line ffmpeg's showinfo filter logs for each frame,
// from its start: the log also holds the input's metadata (titles, handler
// names), which the uploader writes and ffmpeg prints indented, so a line
// that merely contains a frame line's text is not one.
var showinfo = regexp.MustCompile(`^\[Parsed_showinfo_\d+ @ 0x[0-9a-f]+\] n:\s*(\d+)\s+pts:\s*(-?\d+)\s+pts_time:(\S+).*\bs:(\d+)x(\d+)`)

// frameLine is one parsed showinfo line.
type frameLine struct {
	ts            float64
	width, height int
}

// maxReferenceGap is the longest stretch without a decoded frame that
// skipping non-reference frames may leave: a sample every second needs a
// decoded frame in every second, and a stream whose references are
// further apart than this is decoded again, every frame.
const maxReferenceGap = 1.5

// errSparseReferences stops a decoding that skips non-reference frames
// when the stream has too few references to sample from.
var errSparseReferences = errors.New("too few reference frames to sample from")

func (j *videoJob) frames(ffmpeg string, p *probeResult, fn func(Frame) error) (VideoInfo, error) {
	vi := VideoInfo{Format: j.format, Codec: p.codec, Width: p.width, Height: p.height,
		Duration: time.Duration(p.duration * float64(time.Second))}
	// Skipping needs the declared length, to tell a stream whose last
	// references come early from one that ends early.
	skip := j.opts.SkipNonReferenceFrames && p.duration > 0
	lastTS, err := j.decode(ffmpeg, p, skip, -1, &vi, fn)
	if errors.Is(err, errSparseReferences) {
		// Decode again from the start, every frame, and carry on after
		// the last frame fn has seen: fn sees each time once, in order.
		after := -1.0
		if vi.Frames > 0 {
			after = lastTS
		}
		var again float64
		again, err = j.decode(ffmpeg, p, false, after, &vi, fn)
		lastTS = max(lastTS, again)
	}
	if err != nil {
		return vi, err
	}
	if vi.Frames == 0 {
		return vi, fmt.Errorf("media: %s has no decodable frames: %w", j.format, ErrInvalid)
	}
	if vi.Duration == 0 {
		vi.Duration = time.Duration(lastTS * float64(time.Second))
	}
	return vi, nil
}

// decode runs ffmpeg once over the input and hands fn each sampled frame
// later than after (seconds from the start). With skip, ffmpeg decodes
// only the frames others refer to, and decode returns errSparseReferences
// when they leave more than maxReferenceGap without a sample.
func (j *videoJob) decode(ffmpeg string, p *probeResult, skip bool, after float64, vi *VideoInfo, fn func(Frame) error) (lastTS float64, err error) {
	scene := fmt.Sprintf("gt(scene\\,%g)", SceneThreshold)
	// The sampling rule (see SceneThreshold) as a select expression; t is
	// the frame time, prev_selected_t that of the last sampled frame.
	sel := fmt.Sprintf("isnan(prev_selected_t)+gte(floor(t)-floor(prev_selected_t)\\,1)+gte(t-prev_selected_t\\,%g)*(%s)",
		MinSceneGap.Seconds(), scene)
	// The scale keeps every frame at the probed size even if the stream
	// changes size midway; showinfo logs each frame's time and size.
	filter := fmt.Sprintf("select='%s',scale=%d:%d,showinfo", sel, p.width, p.height)
	args := []string{"-nostdin", "-hide_banner", "-nostats", "-loglevel", "info",
		"-filter_threads", "1", "-filter_complex_threads", "1"}
	if skip {
		args = append(args, "-skip_frame", "noref")
	}
	args = append(args, j.inputArgs()...)
	args = append(args, "-map", "0:v:0", "-an", "-sn", "-dn", "-vf", filter,
		"-fps_mode", "passthrough", "-f", "rawvideo", "-pix_fmt", "rgba", "pipe:1")

	cmd := sandboxed(j.ctx, ffmpeg, j.dir, args...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return 0, fmt.Errorf("media: ffmpeg: %w", err)
	}
	stderrPipe, err := cmd.StderrPipe()
	if err != nil {
		return 0, fmt.Errorf("media: ffmpeg: %w", err)
	}
	if err := j.start(cmd, "ffmpeg"); err != nil {
		return 0, err
	}
	stderr := &tail{}
	lines := make(chan frameLine, 16)
	done := make(chan struct{})
	var logs, pixels sync.WaitGroup
	logs.Add(1)
	go func() {
		defer logs.Done()
		defer close(lines)
		scanStderr(stderrPipe, stderr, lines, done)
	}()
	// The frames are read one ahead of fn, so that ffmpeg decodes the next
	// while fn works on this one.
	frames := make(chan rawFrame)
	pixels.Add(1)
	go func() {
		defer pixels.Done()
		readPixels(stdout, p, lines, frames, done)
	}()
	// stop ends ffmpeg and the readers, once: killing ffmpeg first when
	// it must not run on (it may be blocked writing), then draining what
	// is left so that it is never blocked on a full pipe while we wait
	// for it, and reading the log to its end before Wait closes the pipe
	// (the last lines say why ffmpeg failed).
	var waitErr error
	stopped := false
	stop := func(kill bool) {
		if stopped {
			return
		}
		stopped = true
		close(done)
		if kill {
			killGroup(cmd)
		}
		pixels.Wait()
		logs.Wait()
		waitErr = finish(cmd)
	}
	// If fn panics or ends its goroutine (a test's Fatal), stop all the
	// same: the readers would wait forever on a frame nobody takes,
	// holding its pixels.
	defer stop(true)

	lastTS, fnErr := j.sample(p, skip, after, frames, vi, fn)
	stop(fnErr != nil)
	if fnErr != nil {
		if errors.Is(fnErr, errVideoTimeout) || j.ctx.Err() != nil {
			if err := j.failure("ffmpeg", waitErr, stderr); err != nil {
				return lastTS, err
			}
		}
		return lastTS, fnErr
	}
	if err := j.failure("ffmpeg", waitErr, stderr); err != nil {
		return lastTS, err
	}
	end := p.videoDuration
	if end == 0 {
		end = p.duration
	}
	if skip && end-lastTS > maxReferenceGap {
		// The references stop well before the declared end.
		return lastTS, errSparseReferences
	}
	return lastTS, nil
}

// rawFrame is one frame read from ffmpeg's output: its showinfo line and
// its pixels. A frame whose size is not the probed one has no pixels read
// (wrongSize); short is set when ffmpeg's output ended mid-frame.
type rawFrame struct {
	line      frameLine
	img       *image.NRGBA
	wrongSize bool
	short     bool
	release   func()
}

// readPixels reads one raw RGBA frame from stdout for each showinfo line,
// into one of two buffers that take turns, and sends it on frames. It
// stops at the end of the lines, at a frame it cannot read, or when done
// is closed; then it reads stdout to its end.
func readPixels(stdout io.Reader, p *probeResult, lines <-chan frameLine, frames chan<- rawFrame, done <-chan struct{}) {
	defer func() { _, _ = io.Copy(io.Discard, stdout) }()
	defer close(frames)
	free := make(chan *image.NRGBA, 2)
	made := 0
	for {
		var line frameLine
		select {
		case l, ok := <-lines:
			if !ok {
				return
			}
			line = l
		case <-done:
			return
		}
		f := rawFrame{line: line}
		if line.width != p.width || line.height != p.height {
			f.wrongSize = true
		} else {
			var img *image.NRGBA
			select {
			case img = <-free:
			default:
				if made < cap(free) {
					made++
					img = image.NewNRGBA(image.Rect(0, 0, p.width, p.height))
				} else {
					select {
					case img = <-free:
					case <-done:
						return
					}
				}
			}
			if _, err := io.ReadFull(stdout, img.Pix); err != nil {
				f.short = true
			}
			f.img = img
			f.release = func() { free <- img }
		}
		select {
		case frames <- f:
		case <-done:
			return
		}
		if f.wrongSize || f.short {
			return
		}
	}
}

// sample hands fn each frame read that is later than after, checking the
// budgets, and with skip watches for a gap in the references.
func (j *videoJob) sample(p *probeResult, skip bool, after float64, frames <-chan rawFrame, vi *VideoInfo, fn func(Frame) error) (lastTS float64, err error) {
	prev := 0.0 // the time of the frame before, or the start
	lastTS = max(after, 0)
	for f := range frames {
		if f.wrongSize {
			return lastTS, fmt.Errorf("media: %s frame %d is %dx%d, not the probed %dx%d: %w",
				j.format, vi.Frames, f.line.width, f.line.height, p.width, p.height, ErrInvalid)
		}
		if f.short {
			// ffmpeg died mid-frame; its exit status tells why.
			return lastTS, nil
		}
		ts := max(f.line.ts-p.start, 0)
		if skip && ts-prev > maxReferenceGap {
			f.release()
			return lastTS, errSparseReferences
		}
		prev = ts
		if ts <= after {
			f.release()
			continue
		}
		if ts > j.opts.MaxDuration.Seconds() {
			return lastTS, fmt.Errorf("media: %s runs past %v, over the limit: %w", j.format, j.opts.MaxDuration, ErrTooLarge)
		}
		if vi.Frames >= j.opts.MaxSampledFrames {
			return lastTS, fmt.Errorf("media: %s has more than %d sampled frames: %w", j.format, j.opts.MaxSampledFrames, ErrTooLarge)
		}
		if err := j.ctx.Err(); err != nil {
			return lastTS, context.Cause(j.ctx)
		}
		at := time.Duration(ts * float64(time.Second))
		err := fn(Frame{Index: vi.Frames, Image: f.img, Timestamp: at})
		f.release()
		if err != nil {
			return lastTS, err
		}
		vi.Frames++
		lastTS = ts
	}
	return lastTS, nil
}

// maxLogLine bounds a line of ffmpeg's log that is read. A longer one is
// skipped to its end: the uploader's metadata can make one, and the rest of
// it must not be read as lines of their own (a frame line among them).
const maxLogLine = 64 << 10

// scanStderr splits ffmpeg's log into showinfo frame lines, sent on lines,
// and everything else, kept in t for error messages.
func scanStderr(r io.Reader, t *tail, lines chan<- frameLine, done <-chan struct{}) {
	br := bufio.NewReaderSize(r, maxLogLine)
	for {
		raw, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			for errors.Is(err, bufio.ErrBufferFull) {
				_, err = br.ReadSlice('\n')
			}
			if err != nil {
				return
			}
			continue
		}
		text := strings.TrimSuffix(strings.TrimSuffix(string(raw), "\n"), "\r")
		if !strings.HasPrefix(text, "[Parsed_showinfo_") {
			t.add(text)
		} else if m := showinfo.FindStringSubmatch(text); m != nil {
			ts, perr := strconv.ParseFloat(m[3], 64)
			if perr != nil || math.IsNaN(ts) || math.IsInf(ts, 0) {
				ts = 0
			}
			w, _ := strconv.Atoi(m[4])
			h, _ := strconv.Atoi(m[5])
			select {
			case lines <- frameLine{ts: ts, width: w, height: h}:
			case <-done:
				_, _ = io.Copy(io.Discard, br)
				return
			}
		}
		if err != nil {
			return // the end of the log, or the pipe closed
		}
	}
}

// start starts a process of the job; when the job's time is already up, the
// error says so rather than blame the program.
func (j *videoJob) start(cmd *exec.Cmd, name string) error {
	err := start(cmd, j.opts)
	if err != nil && j.ctx.Err() != nil {
		if ferr := j.failure(name, err, &tail{}); ferr != nil {
			return ferr
		}
	}
	return err
}

// failure turns how a process ended into this package's errors.
func (j *videoJob) failure(name string, waitErr error, stderr *tail) error {
	if cause := context.Cause(j.ctx); cause != nil {
		if j.parent.Err() != nil {
			return j.parent.Err()
		}
		if errors.Is(cause, errVideoTimeout) {
			return fmt.Errorf("media: %s took longer than %v to decode: %w", j.format, j.opts.VideoTimeout, ErrTooLarge)
		}
	}
	if waitErr == nil {
		return nil
	}
	msg := stderr.last()
	if strings.Contains(msg, "Cannot allocate memory") || strings.Contains(waitErr.Error(), "cpu time") {
		return fmt.Errorf("media: %s needs more than the memory or CPU budget: %w", j.format, ErrTooLarge)
	}
	if msg == "" {
		msg = waitErr.Error()
	}
	return fmt.Errorf("media: %s could not read the %s: %s: %w", name, j.format, clip(msg), ErrInvalid)
}

// tail keeps the last lines a process logged, for error messages.
type tail struct {
	mu    sync.Mutex
	lines []string
	buf   []byte
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	for {
		i := bytes.IndexByte(t.buf, '\n')
		if i < 0 {
			break
		}
		t.addLocked(string(t.buf[:i]))
		t.buf = t.buf[i+1:]
	}
	if len(t.buf) > 64<<10 {
		t.buf = t.buf[:0]
	}
	return len(p), nil
}

func (t *tail) add(line string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.addLocked(line)
}

// addLocked keeps a line; the caller holds mu.
func (t *tail) addLocked(line string) {
	line = strings.TrimSpace(logPrefix.ReplaceAllString(line, ""))
	if line == "" {
		return
	}
	t.lines = append(t.lines, line)
	if len(t.lines) > 20 {
		t.lines = t.lines[1:]
	}
}

// all returns every line kept.
func (t *tail) all() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.Join(t.lines, "\n")
}

// last returns the most telling line: the last that looks like an error.
func (t *tail) last() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	for i := len(t.lines) - 1; i >= 0; i-- {
		l := strings.ToLower(t.lines[i])
		if strings.Contains(l, "error") || strings.Contains(l, "invalid") || strings.Contains(l, "not found") ||
			strings.Contains(l, "failed") || strings.Contains(l, "could not") || strings.Contains(l, "cannot") {
			return t.lines[i]
		}
	}
	if len(t.lines) > 0 {
		return t.lines[len(t.lines)-1]
	}
	return ""
}

// logPrefix is the "[mov,mp4 @ 0x55d9b294c880] " context ffmpeg puts before
// a log line; its address is of no use to anyone.
var logPrefix = regexp.MustCompile(`\[[^\]]* @ 0x[0-9a-f]+\]\s*`)

// clip shortens s for an error message.
func clip(s string) string {
	const n = 200
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}
