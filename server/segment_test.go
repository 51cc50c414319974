package server

import (
	"fmt"
	"math"
	"path/filepath"
	"testing"

	"github.com/mediamatch/mediamatch/internal/testvideo"
	pb "github.com/mediamatch/mediamatch/proto/mediamatch/v1"
)

// concatVideos joins 640x360 videos end to end into out, each input
// trimmed to [from, to] seconds (to 0: to its end).
func concatVideos(t *testing.T, out string, parts ...videoPart) {
	t.Helper()
	var args []string
	var graph string
	for i, p := range parts {
		args = append(args, "-i", p.path)
		trim := fmt.Sprintf("trim=start=%g", p.from)
		if p.to > 0 {
			trim = fmt.Sprintf("trim=%g:%g", p.from, p.to)
		}
		graph += fmt.Sprintf("[%d:v]%s,setpts=PTS-STARTPTS,fps=25,format=yuv420p,setsar=1[v%d];", i, trim, i)
	}
	for i := range parts {
		graph += fmt.Sprintf("[v%d]", i)
	}
	graph += fmt.Sprintf("concat=n=%d:v=1:a=0[out]", len(parts))
	testvideo.FFmpeg(t, append(args, "-filter_complex", graph, "-map", "[out]", "-c:v", "libx264", "-preset", "veryfast", "-crf", "23", out)...)
}

// videoPart is a stretch of a video file.
type videoPart struct {
	path     string
	from, to float64
}

// hullNear reports whether the ranges span [start, end] within tol.
func hullNear(rs []*pb.TimeRange, start, end, tol float64) bool {
	if len(rs) == 0 {
		return false
	}
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, r := range rs {
		lo, hi = min(lo, r.GetStartSeconds()), max(hi, r.GetEndSeconds())
	}
	return math.Abs(lo-start) <= tol && math.Abs(hi-end) <= tol
}

// TestVideoSegments is issue 14's acceptance test on real videos: a banked
// video (a title card, then three panned photos) is found mirrored, played
// 25% faster and 25% slower, and as 10 seconds of it inside other footage,
// each with the ranges of both sides within 2 s of the truth; a hard
// negative (the same title card, black frames, colour bars and a fade of
// other footage) matches nothing, neither the video nor another banked
// video that shares the card and the bars.
func TestVideoSegments(t *testing.T) {
	testvideo.Require(t)
	dir := t.TempDir()
	p := func(name string) string { return filepath.Join(dir, name) }
	// The title card: a still shown whole over black bars, of full PDQ
	// quality, so that it is a frame both videos share exactly.
	card := p("card.mp4")
	testvideo.Slideshow(t, card, []testvideo.Segment{{Photo: testvideo.Poster, Seconds: 3, Fit: true}})
	bars := p("bars.mp4")
	testvideo.FFmpeg(t, "-f", "lavfi", "-i", "smptebars=size=640x360:rate=25:d=3", "-vf", "format=yuv420p", "-c:v", "libx264", "-preset", "veryfast", bars)
	black := p("black.mp4")
	testvideo.FFmpeg(t, "-f", "lavfi", "-i", "color=c=black:size=640x360:rate=25:d=2", "-vf", "format=yuv420p", "-c:v", "libx264", "-preset", "veryfast", black)
	photos := p("photos.mp4")
	testvideo.Slideshow(t, photos, testvideo.Photos(testvideo.Known, 4))
	other := p("other.mp4")
	testvideo.Slideshow(t, other, testvideo.Photos(testvideo.Unrelated, 4))
	fractal := p("fractal.mp4")
	testvideo.Slideshow(t, fractal, []testvideo.Segment{{Seconds: 6}})

	known := p("known.mp4") // 15 s: the card, then 12 s of photos
	concatVideos(t, known, videoPart{path: card}, videoPart{path: photos})
	sharing := p("sharing.mp4") // banked too: the card and the bars, then its own
	concatVideos(t, sharing, videoPart{path: card}, videoPart{path: bars}, videoPart{path: fractal})

	type edit struct {
		name         string
		make         func(out string)
		query, entry [2]float64
		mirrored     bool
	}
	filter := func(vf string) func(string) {
		return func(out string) {
			testvideo.FFmpeg(t, "-i", known, "-vf", vf, "-c:v", "libx264", "-preset", "veryfast", "-crf", "23", out)
		}
	}
	edits := []edit{
		{name: "mirror", make: filter("hflip"), query: [2]float64{0, 15}, entry: [2]float64{0, 15}, mirrored: true},
		{name: "speed-1.25", make: filter("setpts=PTS/1.25"), query: [2]float64{0, 12}, entry: [2]float64{0, 15}},
		{name: "speed-0.75", make: filter("setpts=PTS/0.75"), query: [2]float64{0, 20}, entry: [2]float64{0, 15}},
		{name: "inside", make: func(out string) {
			concatVideos(t, out, videoPart{other, 0, 5}, videoPart{known, 4, 14}, videoPart{other, 5, 11})
		}, query: [2]float64{5, 15}, entry: [2]float64{4, 14}},
	}
	for _, e := range edits {
		e.make(p(e.name + ".mp4"))
	}
	distractor := p("distractor.mp4")
	fadedOther := p("faded.mp4")
	testvideo.FFmpeg(t, "-i", other, "-t", "8", "-vf", "fade=t=in:st=0:d=2,fade=t=out:st=6:d=2", "-c:v", "libx264", "-preset", "veryfast", fadedOther)
	concatVideos(t, distractor, videoPart{path: card}, videoPart{path: black}, videoPart{path: bars}, videoPart{path: fadedOther})

	ts := startServer(t, "", Options{})
	ts.createBank("videos")
	entry := ts.addFile("videos", known, map[string]string{"name": "known"}).GetName()
	ts.addFile("videos", sharing, map[string]string{"name": "sharing"})

	for _, e := range edits {
		t.Run(e.name, func(t *testing.T) {
			res, err := ts.matchFile(p(e.name+".mp4"), nil)
			if err != nil {
				t.Fatal(err)
			}
			var m *pb.Match
			for _, got := range res.GetMatches() {
				switch got.GetEntry() {
				case entry:
					m = got
				default:
					t.Errorf("matched %s: %s", got.GetLabels()["name"], describe(got))
				}
			}
			if m == nil {
				t.Fatalf("%s not found; result %v", e.name, res.GetMatches())
			}
			t.Logf("%s: %s, by %s", e.name, describe(m), m.GetEvidence()[0].GetMethod())
			if m.GetTier() != pb.MatchTier_MATCH_TIER_MATCH {
				t.Errorf("tier %v", m.GetTier())
			}
			if !hullNear(m.GetQueryRanges(), e.query[0], e.query[1], 2) || !hullNear(m.GetEntryRanges(), e.entry[0], e.entry[1], 2) {
				t.Errorf("ranges: query %v, want %v; entry %v, want %v", m.GetQueryRanges(), e.query, m.GetEntryRanges(), e.entry)
			}
			if flip := m.GetDihedral() == pb.DihedralVariant_DIHEDRAL_VARIANT_FLIP_Y; flip != e.mirrored {
				t.Errorf("variant %v, mirrored %v", m.GetDihedral(), e.mirrored)
			}
		})
	}
	t.Run("mirror without dihedral variants", func(t *testing.T) {
		res, err := ts.matchFile(p("mirror.mp4"), &pb.MatchOptions{Dihedral: new(false)})
		if err != nil {
			t.Fatal(err)
		}
		if m := res.GetMatches(); len(m) != 0 {
			t.Errorf("the mirror matched with the variants turned off: %v", m)
		}
	})
	t.Run("hard negative", func(t *testing.T) {
		res, err := ts.matchFile(distractor, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range res.GetMatches() {
			t.Errorf("the title card, black, bars and a fade matched %s (%s): %s", m.GetLabels()["name"], m.GetEntry(), describe(m))
		}
	})
}
