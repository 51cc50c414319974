package robustness

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// The re-edits of the video benchmark: the classes that issue 14 measured
// on a hidden set, implemented here with ffmpeg, and a few more.

// Span is a stretch of a video in seconds.
type Span struct {
	Start float64 `json:"start"`
	End   float64 `json:"end"`
}

// Truth is where a re-edit shows its source: the stretch of the re-edit
// (Query) that shows the stretch of the source (Entry).
type Truth struct {
	Query Span `json:"query"`
	Entry Span `json:"entry"`
}

// VideoEdit is one class of re-edit.
type VideoEdit struct {
	// Name is the class's short name, Description what it does.
	Name, Description string
	// fillers says whether the re-edit shows other footage.
	fillers bool
	// make returns the ffmpeg arguments (inputs, filters and encoding,
	// without the output) that make the re-edit of src, the output's file
	// extension, and the truth.
	make func(src VideoItem, c *VideoCorpus) (args []string, ext string, truth Truth)
}

// Settings of the re-edits.
const (
	// trimSeconds is what the trims cut from the start or the end.
	trimSeconds = 6.0
	// insideSeconds is the length of a source's middle taken into other
	// footage, and fillerLead the footage before and after it.
	insideSeconds, fillerLead = 10.0, 8.0
)

// x264 is the encoding of every H.264 re-edit.
var x264 = []string{"-c:v", "libx264", "-preset", "veryfast", "-crf", "23", "-pix_fmt", "yuv420p"}

// whole is the truth of a re-edit that keeps every second of src.
func whole(src VideoItem) Truth {
	return Truth{Span{0, src.Seconds}, Span{0, src.Seconds}}
}

// filtered is a re-edit by one filter chain over src, in H.264.
func filtered(chain string) func(VideoItem, *VideoCorpus) ([]string, string, Truth) {
	return func(src VideoItem, _ *VideoCorpus) ([]string, string, Truth) {
		return append([]string{"-i", src.Path, "-vf", chain}, x264...), ".mp4", whole(src)
	}
}

// complexEdit is a re-edit by a filter graph over src (input 0) and the
// extra inputs, whose output is [out], in H.264, and its truth.
func complexEdit(src VideoItem, extra []string, graph string, truth Truth) ([]string, string, Truth) {
	args := []string{"-i", src.Path}
	for _, in := range extra {
		if strings.HasSuffix(in, ".png") {
			args = append(args, "-loop", "1", "-framerate", fmt.Sprint(videoFPS))
		}
		args = append(args, "-i", in)
	}
	// Looped stills and fillers run on: the re-edit ends with its truth.
	args = append(args, "-filter_complex", graph, "-map", "[out]", "-t", fmt.Sprintf("%.3f", truth.Query.End))
	return append(args, x264...), ".mp4", truth
}

// filler is the other footage for src, at src's size and frame rate,
// from second from onwards (its label in a filter graph: input i).
func filler(i int, src VideoItem, from, seconds float64) string {
	return fmt.Sprintf("[%d:v]trim=%.3f:%.3f,setpts=PTS-STARTPTS,scale=%d:%d,fps=%d,format=yuv420p,setsar=1", i, from, from+seconds, src.Width, src.Height, videoFPS)
}

// pick chooses the filler for src (a different one for neighbours).
func pick(c *VideoCorpus, src VideoItem, k int) VideoItem {
	var n int
	fmt.Sscanf(strings.TrimPrefix(src.Name, "source-"), "%d", &n)
	return c.Fillers[(n+k)%len(c.Fillers)]
}

// over is the truth of src shown over or beside the filler bg from its
// second from on: the re-edit ends with the shorter of the two.
func over(src, bg VideoItem, from float64) Truth {
	d := min(src.Seconds, bg.Seconds-from)
	return Truth{Span{0, d}, Span{0, d}}
}

// VideoEdits returns every class of re-edit in report order.
func VideoEdits() []VideoEdit {
	return []VideoEdit{
		{"vp9", "re-encoded as VP9 (libvpx, 400 kbit/s, realtime)", false, func(src VideoItem, _ *VideoCorpus) ([]string, string, Truth) {
			return []string{"-i", src.Path, "-c:v", "libvpx-vp9", "-b:v", "400k", "-deadline", "realtime", "-cpu-used", "8", "-row-mt", "1"}, ".webm", whole(src)
		}},
		{"low-quality", "half the size, re-encoded at CRF 40", false, func(src VideoItem, _ *VideoCorpus) ([]string, string, Truth) {
			return []string{"-i", src.Path, "-vf", "scale=trunc(iw/4)*2:trunc(ih/4)*2", "-c:v", "libx264", "-preset", "veryfast", "-crf", "40", "-pix_fmt", "yuv420p"}, ".mp4", whole(src)
		}},
		{"trim-start", fmt.Sprintf("the first %g s cut", trimSeconds), false, func(src VideoItem, _ *VideoCorpus) ([]string, string, Truth) {
			return append([]string{"-ss", fmt.Sprint(trimSeconds), "-i", src.Path}, x264...), ".mp4",
				Truth{Span{0, src.Seconds - trimSeconds}, Span{trimSeconds, src.Seconds}}
		}},
		{"trim-end", fmt.Sprintf("the last %g s cut", trimSeconds), false, func(src VideoItem, _ *VideoCorpus) ([]string, string, Truth) {
			d := src.Seconds - trimSeconds
			return append([]string{"-i", src.Path, "-t", fmt.Sprintf("%.3f", d)}, x264...), ".mp4", Truth{Span{0, d}, Span{0, d}}
		}},
		{"greyscale", "greyscale", false, filtered("format=gray,format=yuv420p")},
		{"fps-15", "15 frames a second", false, func(src VideoItem, _ *VideoCorpus) ([]string, string, Truth) {
			return append([]string{"-i", src.Path, "-vf", "fps=15", "-r", "15"}, x264...), ".mp4", whole(src)
		}},
		{"border", "a blue border of 5% a side, scaled back to the size", false, func(src VideoItem, _ *VideoCorpus) ([]string, string, Truth) {
			return filtered(fmt.Sprintf("pad=2*trunc(iw*0.55):2*trunc(ih*0.55):(ow-iw)/2:(oh-ih)/2:color=0x2a7fd0,scale=%d:%d", src.Width, src.Height))(src, nil)
		}},
		{"letterbox", "16:9 inside a 4:3 frame, bars above and below", false, filtered("pad=iw:2*trunc(iw*3/8):0:(oh-ih)/2:black")},
		{"pillarbox", "16:9 inside a 2.39:1 frame, bars left and right", false, filtered("pad=2*trunc(ih*2.39/2):ih:(ow-iw)/2:0:black")},
		{"speed-1.25", "played 1.25 times as fast", false, func(src VideoItem, _ *VideoCorpus) ([]string, string, Truth) {
			return append([]string{"-i", src.Path, "-vf", "setpts=PTS/1.25", "-r", fmt.Sprint(videoFPS)}, x264...), ".mp4",
				Truth{Span{0, src.Seconds / 1.25}, Span{0, src.Seconds}}
		}},
		{"speed-0.75", "played 0.75 times as fast", false, func(src VideoItem, _ *VideoCorpus) ([]string, string, Truth) {
			return append([]string{"-i", src.Path, "-vf", "setpts=PTS/0.75", "-r", fmt.Sprint(videoFPS)}, x264...), ".mp4",
				Truth{Span{0, src.Seconds / 0.75}, Span{0, src.Seconds}}
		}},
		{"watermark", "a channel's logo in the top right corner, a sixth of the width", false, func(src VideoItem, c *VideoCorpus) ([]string, string, Truth) {
			return complexEdit(src, []string{c.Logo}, fmt.Sprintf("[1:v]scale=%d:-2[l];[0:v][l]overlay=W-w-W/40:H/30:shortest=1[out]", src.Width/6), whole(src))
		}},
		{"caption", "a caption band with text added above, a tenth of the height", false, func(src VideoItem, c *VideoCorpus) ([]string, string, Truth) {
			return complexEdit(src, []string{c.Band}, fmt.Sprintf("[1:v]scale=%d:-2,format=yuv420p,setsar=1[b];[0:v]setsar=1[v];[b][v]vstack=shortest=1[out]", src.Width), whole(src))
		}},
		{"crop-10", "the centre, 10% cut from each side, scaled back", false, filtered(fmt.Sprintf("crop=2*trunc(iw*0.4):2*trunc(ih*0.4),scale=%s", "iw*1.25:ih*1.25"))},
		{"mirror", "mirrored left to right", false, filtered("hflip")},
		{"pip", "at half size over other footage, lower right", true, func(src VideoItem, c *VideoCorpus) ([]string, string, Truth) {
			bg := pick(c, src, 0)
			graph := fmt.Sprintf("%s[bg];[0:v]scale=trunc(iw/4)*2:trunc(ih/4)*2[s];[bg][s]overlay=W*0.45:H*0.42:shortest=1[out]", filler(1, src, 0, src.Seconds))
			return complexEdit(src, []string{bg.Path}, graph, over(src, bg, 0))
		}},
		{"inside", fmt.Sprintf("the middle %g s between %g s of other footage on each side", insideSeconds, fillerLead), true, func(src VideoItem, c *VideoCorpus) ([]string, string, Truth) {
			mid := src.Seconds / 2
			from := mid - insideSeconds/2
			graph := fmt.Sprintf("%s[a];[0:v]trim=%.3f:%.3f,setpts=PTS-STARTPTS,fps=%d,format=yuv420p,setsar=1[b];%s[c];[a][b][c]concat=n=3:v=1:a=0[out]",
				filler(1, src, 0, fillerLead), from, from+insideSeconds, videoFPS, filler(2, src, 12, fillerLead))
			return complexEdit(src, []string{pick(c, src, 0).Path, pick(c, src, 1).Path}, graph,
				Truth{Span{fillerLead, fillerLead + insideSeconds}, Span{from, from + insideSeconds}})
		}},
		{"subtitles", "burned-in subtitles, a new line every 3 s", false, func(src VideoItem, c *VideoCorpus) ([]string, string, Truth) {
			var g strings.Builder
			last := "0:v"
			for k := range c.Subtitles {
				fmt.Fprintf(&g, "[%d:v]scale=%d:-2[s%d];[%s][s%d]overlay=(W-w)/2:H-h-H/20:shortest=1:enable='between(mod(t\\,%d)\\,%d\\,%d)'[o%d];",
					k+1, src.Width*4/5, k, last, k, 3*len(c.Subtitles), 3*k, 3*k+3, k)
				last = fmt.Sprintf("o%d", k)
			}
			fmt.Fprintf(&g, "[%s]null[out]", last)
			return complexEdit(src, c.Subtitles, g.String(), whole(src))
		}},
		{"split-screen", "at half size beside other footage, bars above and below", true, func(src VideoItem, c *VideoCorpus) ([]string, string, Truth) {
			bg := pick(c, src, 1)
			graph := fmt.Sprintf("[0:v]scale=trunc(iw/4)*2:trunc(ih/4)*2,setsar=1[l];%s,scale=trunc(iw/4)*2:trunc(ih/4)*2[r];[l][r]hstack=shortest=1,pad=iw:ih*2:0:ih/2:black[out]",
				filler(1, src, 3, src.Seconds))
			return complexEdit(src, []string{bg.Path}, graph, over(src, bg, 3))
		}},
		{"resize-540p", "scaled to 960x540", false, filtered("scale=960:540")},
		{"zoom", "zooming in slowly, to 12% a side by the end", false, func(src VideoItem, _ *VideoCorpus) ([]string, string, Truth) {
			frames := int(src.Seconds * videoFPS)
			return filtered(fmt.Sprintf("zoompan=z='1+0.3*in/%d':x='iw/2-(iw/zoom/2)':y='ih/2-(ih/zoom/2)':d=1:s=%dx%d:fps=%d", frames, src.Width, src.Height, videoFPS))(src, nil)
		}},
	}
}

// SelectVideoEdits returns the classes named (all for none), in report
// order.
func SelectVideoEdits(names []string) ([]VideoEdit, error) {
	all := VideoEdits()
	if len(names) == 0 {
		return all, nil
	}
	var out []VideoEdit
	for _, e := range all {
		if slices.Contains(names, e.Name) {
			out = append(out, e)
		}
	}
	for _, n := range names {
		if !slices.ContainsFunc(all, func(e VideoEdit) bool { return e.Name == n }) {
			return nil, fmt.Errorf("%w %q", ErrUnknownEdit, n)
		}
	}
	return out, nil
}

// editedVideo is one re-edit made.
type editedVideo struct {
	edit   string
	source int
	path   string
	truth  Truth
}

// makeEdit writes (or finds) the re-edit e of src under dir.
func makeEdit(ctx context.Context, dir string, e VideoEdit, src VideoItem, source int, c *VideoCorpus, run func(context.Context, ...string) error) (editedVideo, error) {
	args, ext, truth := e.make(src, c)
	path := filepath.Join(dir, e.Name, src.Name+ext)
	out := editedVideo{edit: e.Name, source: source, path: path, truth: truth}
	if exists(path) {
		return out, nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return out, err
	}
	err := writeAtomic(path, func(tmp string) error { return run(ctx, append(args, tmp)...) })
	if err != nil {
		return out, fmt.Errorf("making %s of %s: %w", e.Name, src.Name, err)
	}
	return out, nil
}
