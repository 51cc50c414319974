package server

import (
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/mediamatch/mediamatch/internal/testvideo"
	"github.com/mediamatch/mediamatch/media"
	pb "github.com/mediamatch/mediamatch/proto/mediamatch/v1"
)

// videoFixtures are the videos of the end-to-end tests, made with ffmpeg.
type videoFixtures struct {
	dir                                                     string
	known, reencoded, trimmed, letterboxed, captioned       string
	unrelated, poster, posterVideo, knownStill              string
	trimStart, trimEnd, posterStart, posterEnd, stillSecond float64
}

func makeVideoFixtures(t *testing.T) *videoFixtures {
	testvideo.Require(t)
	dir := t.TempDir()
	f := &videoFixtures{dir: dir, trimStart: 4, trimEnd: 11, posterStart: 4, posterEnd: 7, stillSecond: 12}
	p := func(name string) string { return filepath.Join(dir, name) }
	f.known = p("known.mp4")
	testvideo.Slideshow(t, f.known, testvideo.Photos(testvideo.Known, 5))
	// Another codec, container, bitrate and resolution.
	f.reencoded = p("reencoded.webm")
	testvideo.FFmpeg(t, "-i", f.known, "-vf", "scale=480:270", "-c:v", "libvpx-vp9", "-b:v", "250k",
		"-deadline", "realtime", "-cpu-used", "8", f.reencoded)
	// A middle segment, re-encoded.
	f.trimmed = p("trimmed.mp4")
	testvideo.FFmpeg(t, "-ss", fmt.Sprint(f.trimStart), "-i", f.known, "-t", fmt.Sprint(f.trimEnd-f.trimStart),
		"-c:v", "libx264", "-crf", "28", f.trimmed)
	// Shown in a 4:3 frame with bars above and below.
	f.letterboxed = p("letterboxed.mp4")
	testvideo.FFmpeg(t, "-i", f.known, "-vf", "pad=640:480:0:60:black", "-c:v", "libx264", "-crf", "26", f.letterboxed)
	// A meme-style caption band added above the picture: a white bar with
	// black strokes for text.
	f.captioned = p("captioned.mp4")
	testvideo.FFmpeg(t, "-i", f.known, "-vf", "pad=640:440:0:80:white,"+textBoxes(40, 18, 560, 44),
		"-c:v", "libx264", "-crf", "26", f.captioned)
	f.unrelated = p("unrelated.mp4")
	testvideo.Slideshow(t, f.unrelated, testvideo.Photos(testvideo.Unrelated, 5))
	// A poster shown for three seconds between unrelated footage.
	f.poster = testvideo.Photo(t, testvideo.Poster)
	f.posterVideo = p("poster-in-video.mp4")
	testvideo.Slideshow(t, f.posterVideo, []testvideo.Segment{
		{Seconds: f.posterStart},
		{Photo: testvideo.Poster, Seconds: f.posterEnd - f.posterStart, Fit: true},
		{Seconds: 3},
	})
	// A still taken from the known video, at a sampled time: the footage pans,
	// and half a second of panning (8 pixels) moves PDQ about 36 bits, so a
	// still between two samples of moving footage is not expected to match.
	f.knownStill = p("still.jpg")
	testvideo.FFmpeg(t, "-ss", fmt.Sprint(f.stillSecond), "-i", f.known, "-frames:v", "1", "-q:v", "4", f.knownStill)
	return f
}

// textBoxes draws black strokes in a box at (x, y) of size w x h, like a
// line of text: glyph-sized bars of varying width with gaps.
func textBoxes(x, y, w, h int) string {
	var parts []string
	for cx, i := x, 0; cx < x+w-10; i++ {
		gw := 8 + (i*7)%15
		if i%6 == 5 {
			cx += 14 // a space between words
			continue
		}
		parts = append(parts, fmt.Sprintf("drawbox=x=%d:y=%d:w=%d:h=%d:color=black:t=fill", cx, y+(i%3)*2, gw, h-(i%3)*4))
		cx += gw + 5
	}
	return strings.Join(parts, ",")
}

func (ts *testServer) addFile(bank, path string, labels map[string]string) *pb.Entry {
	ts.t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		ts.t.Fatal(err)
	}
	stream, err := ts.bank.CreateEntryStream(ctx(ts.t))
	if err != nil {
		ts.t.Fatal(err)
	}
	if err := stream.Send(&pb.CreateEntryStreamRequest{Part: &pb.CreateEntryStreamRequest_Header{Header: &pb.CreateEntryStreamHeader{
		Parent: "banks/" + bank, Entry: &pb.Entry{Labels: labels}, SizeBytes: int64(len(data)), View: pb.EntryView_ENTRY_VIEW_FULL}}}); err != nil {
		ts.t.Fatal(err)
	}
	for off := 0; off < len(data); off += 256 << 10 {
		if err := stream.Send(&pb.CreateEntryStreamRequest{Part: &pb.CreateEntryStreamRequest_Chunk{Chunk: data[off:min(off+256<<10, len(data))]}}); err != nil {
			break
		}
	}
	resp, err := stream.CloseAndRecv()
	if err != nil {
		ts.t.Fatalf("adding %s: %v", filepath.Base(path), err)
	}
	return resp.GetEntry()
}

func (ts *testServer) matchFile(path string, opts *pb.MatchOptions) (*pb.MatchResult, error) {
	ts.t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		ts.t.Fatal(err)
	}
	stream, err := ts.match.MatchStream(ctx(ts.t))
	if err != nil {
		ts.t.Fatal(err)
	}
	if err := stream.Send(&pb.MatchStreamRequest{Part: &pb.MatchStreamRequest_Header{Header: &pb.MatchStreamHeader{
		Options: opts, SizeBytes: int64(len(data))}}}); err != nil {
		_, err := stream.CloseAndRecv()
		return nil, err
	}
	for off := 0; off < len(data); off += 256 << 10 {
		if err := stream.Send(&pb.MatchStreamRequest{Part: &pb.MatchStreamRequest_Chunk{Chunk: data[off:min(off+256<<10, len(data))]}}); err != nil {
			break
		}
	}
	resp, err := stream.CloseAndRecv()
	return resp.GetResult(), err
}

func describe(m *pb.Match) string {
	if m == nil {
		return "no match"
	}
	return fmt.Sprintf("distance %d, query %.1f%% entry %.1f%%, query ranges %v, entry ranges %v",
		m.GetDistance(), m.GetQueryMatchPercent(), m.GetEntryMatchPercent(), m.GetQueryRanges(), m.GetEntryRanges())
}

// near reports whether a range is [start, end] give or take tol seconds.
func near(r *pb.TimeRange, start, end, tol float64) bool {
	return r != nil && math.Abs(r.GetStartSeconds()-start) <= tol && math.Abs(r.GetEndSeconds()-end) <= tol
}

// TestVideoMatching is the video acceptance test: a banked video is found
// again after re-encoding, trimming, letterboxing and captioning, with
// sensible vPDQ percentages and time ranges; an unrelated video is not; a
// banked poster is found inside a video at the right time; a still from a
// banked video is found in it.
func TestVideoMatching(t *testing.T) {
	f := makeVideoFixtures(t)
	ts := startServer(t, "", Options{})
	ts.createBank("videos")
	ts.createBank("posters")
	known := ts.addFile("videos", f.known, map[string]string{"name": "known"})
	if got := known.GetMedia(); got.GetKind() != pb.MediaKind_MEDIA_KIND_VIDEO || got.GetFormat() != string(media.FormatMP4) ||
		got.GetWidth() != 640 || got.GetHeight() != 360 || math.Abs(got.GetDurationSeconds()-15) > 0.1 || len(got.GetFrames()) < 15 {
		t.Fatalf("known video entry: kind %v format %q %dx%d, %.2f s, %d frames", got.GetKind(), got.GetFormat(),
			got.GetWidth(), got.GetHeight(), got.GetDurationSeconds(), len(got.GetFrames()))
	}
	poster := ts.addFile("posters", f.poster, nil)

	for _, c := range []struct {
		name               string
		path               string
		minQuery, minEntry float64
		maxEntry           float64
		queryRange         [2]float64 // expected single query range, when set
		entryRange         [2]float64 // expected single entry range, when set
	}{
		{name: "re-encoded", path: f.reencoded, minQuery: 90, minEntry: 90, maxEntry: 100, queryRange: [2]float64{0, 15}, entryRange: [2]float64{0, 15}},
		{name: "trimmed", path: f.trimmed, minQuery: 90, minEntry: 30, maxEntry: 70,
			queryRange: [2]float64{0, f.trimEnd - f.trimStart}, entryRange: [2]float64{f.trimStart, f.trimEnd}},
		{name: "letterboxed", path: f.letterboxed, minQuery: 90, minEntry: 90, maxEntry: 100, queryRange: [2]float64{0, 15}},
		{name: "captioned", path: f.captioned, minQuery: 90, minEntry: 90, maxEntry: 100, queryRange: [2]float64{0, 15}},
	} {
		t.Run(c.name, func(t *testing.T) {
			res, err := ts.matchFile(c.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			m := byMethod(res, known.GetName(), "vpdq")
			t.Logf("%s: %s", c.name, describe(m))
			if m == nil {
				t.Fatalf("%s video does not match its entry by the vPDQ rule; result %v", c.name, res.GetMatches())
			}
			if m.GetEntryKind() != pb.MediaKind_MEDIA_KIND_VIDEO || m.GetLabels()["name"] != "known" {
				t.Errorf("match %v", m)
			}
			if m.QueryMatchPercent == nil || m.GetQueryMatchPercent() < c.minQuery {
				t.Errorf("query match %.1f%%, want at least %.0f%%", m.GetQueryMatchPercent(), c.minQuery)
			}
			if e := m.GetEntryMatchPercent(); e < c.minEntry || e > c.maxEntry {
				t.Errorf("entry match %.1f%%, want %.0f%% to %.0f%%", e, c.minEntry, c.maxEntry)
			}
			if c.queryRange != [2]float64{} && (len(m.GetQueryRanges()) != 1 || !near(m.GetQueryRanges()[0], c.queryRange[0], c.queryRange[1], 1.1)) {
				t.Errorf("query ranges %v, want one near %v", m.GetQueryRanges(), c.queryRange)
			}
			if c.entryRange != [2]float64{} && (len(m.GetEntryRanges()) != 1 || !near(m.GetEntryRanges()[0], c.entryRange[0], c.entryRange[1], 1.1)) {
				t.Errorf("entry ranges %v, want one near %v", m.GetEntryRanges(), c.entryRange)
			}
			if q := res.GetQuery(); q.GetKind() != pb.MediaKind_MEDIA_KIND_VIDEO || len(q.GetFrames()) == 0 {
				t.Errorf("query hashes not returned: %v", q.GetKind())
			}
		})
	}

	t.Run("unrelated", func(t *testing.T) {
		res, err := ts.matchFile(f.unrelated, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range res.GetMatches() {
			t.Errorf("unrelated video matched: %s", describe(m))
		}
		// Even with vPDQ's percentages at 0 no frame is close.
		res, err = ts.matchFile(f.unrelated, &pb.MatchOptions{VideoQueryMatchPercent: new(0.0), VideoEntryMatchPercent: new(0.0)})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range res.GetMatches() {
			t.Errorf("unrelated video matched at 0%%: %s", describe(m))
		}
	})

	t.Run("poster in video", func(t *testing.T) {
		res, err := ts.matchFile(f.posterVideo, nil)
		if err != nil {
			t.Fatal(err)
		}
		m := pdqMatch(res, poster.GetName())
		t.Logf("poster: %s", describe(m))
		if m == nil {
			t.Fatalf("poster not found in the video; result %v", res.GetMatches())
		}
		if m.GetEntryKind() != pb.MediaKind_MEDIA_KIND_IMAGE || m.QueryMatchPercent != nil {
			t.Errorf("match %v", m)
		}
		if len(m.GetQueryRanges()) != 1 || !near(m.GetQueryRanges()[0], f.posterStart, f.posterEnd, 0.6) {
			t.Errorf("query ranges %v, want one near [%v, %v]", m.GetQueryRanges(), f.posterStart, f.posterEnd)
		}
		if pdqMatch(res, known.GetName()) != nil {
			t.Errorf("poster video matched the known video")
		}
	})

	t.Run("still from video", func(t *testing.T) {
		res, err := ts.matchFile(f.knownStill, nil)
		if err != nil {
			t.Fatal(err)
		}
		m := pdqMatch(res, known.GetName())
		t.Logf("still: %s", describe(m))
		if m == nil {
			t.Fatalf("still not found in its video; result %v", res.GetMatches())
		}
		if len(m.GetEntryRanges()) == 0 {
			t.Fatalf("no entry range")
		}
		found := false
		for _, r := range m.GetEntryRanges() {
			if r.GetStartSeconds() <= f.stillSecond && f.stillSecond <= r.GetEndSeconds() {
				found = true
			}
		}
		if !found {
			t.Errorf("entry ranges %v do not hold %v s", m.GetEntryRanges(), f.stillSecond)
		}
	})

	t.Run("restart", func(t *testing.T) {
		ts.stop()
		ts2 := startServer(t, ts.db, Options{})
		res, err := ts2.matchFile(f.trimmed, nil)
		if err != nil {
			t.Fatal(err)
		}
		if pdqMatch(res, known.GetName()) == nil {
			t.Errorf("after a restart the trimmed video no longer matches")
		}
	})
}

// TestVideoUnavailable checks the status when ffmpeg is missing: videos
// fail with FAILED_PRECONDITION saying what to install; GIFs still work.
func TestVideoUnavailable(t *testing.T) {
	ts := startServer(t, "", Options{Media: media.Options{FFmpeg: filepath.Join(t.TempDir(), "none"), FFprobe: filepath.Join(t.TempDir(), "none")}})
	ts.createBank("b")
	mp4 := []byte("\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2\x00\x00\x00\x08free")
	_, err := ts.match.Match(ctx(t), &pb.MatchRequest{Query: &pb.MatchRequest_Media{Media: mp4}})
	if status.Code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), "apt-get install -y ffmpeg") {
		t.Errorf("video without ffmpeg: %v", err)
	}
}

// TestVideoHostileStatus sends broken videos through the API: each gets a
// clear status, and no ffmpeg process or spooled file outlives the call.
func TestVideoHostileStatus(t *testing.T) {
	testvideo.Require(t)
	dir := t.TempDir()
	good := filepath.Join(dir, "good.mp4")
	testvideo.Slideshow(t, good, testvideo.Photos(testvideo.Known[:2], 2))
	data, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	long := filepath.Join(dir, "long.mkv")
	testvideo.FFmpeg(t, "-f", "lavfi", "-i", "testsrc=size=64x64:d=4:r=5", "-vf", "setpts=PTS*1000000", "-c:v", "libx264", long)
	longData, err := os.ReadFile(long)
	if err != nil {
		t.Fatal(err)
	}
	spool := t.TempDir()
	ts := startServer(t, "", Options{Media: media.Options{TempDir: spool, MaxSampledFrames: 3}})
	ts.createBank("b")
	for _, c := range []struct {
		name string
		data []byte
		code codes.Code
		msg  string
	}{
		{"truncated", data[:len(data)/3], codes.InvalidArgument, "could not read"},
		{"absurd duration", longData, codes.ResourceExhausted, "declares a length"},
		{"too many frames", data, codes.ResourceExhausted, "more than 3 sampled frames"},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "-")+".mp4")
			if err := os.WriteFile(path, c.data, 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := ts.matchFile(path, nil)
			if status.Code(err) != c.code || !strings.Contains(err.Error(), c.msg) {
				t.Errorf("match: %v, want %v with %q", err, c.code, c.msg)
			}
			if _, err := ts.bank.CreateEntry(ctx(t), &pb.CreateEntryRequest{Parent: "banks/b", Media: c.data}); status.Code(err) != c.code {
				t.Errorf("add: %v, want %v", err, c.code)
			}
			if left, _ := os.ReadDir(spool); len(left) != 0 {
				t.Errorf("spooled files left: %v", left)
			}
		})
	}
	if b, err := ts.bank.GetBank(ctx(t), &pb.GetBankRequest{Name: "banks/b"}); err != nil || b.GetBank().GetEntryCount() != 0 {
		t.Errorf("%d entries written by failed adds (%v)", b.GetBank().GetEntryCount(), err)
	}
}

// TestRegionMatch checks that a re-edit that defeats the whole-image hash
// is found through a region, and that the response says which.
func TestRegionMatch(t *testing.T) {
	ts := startServer(t, "", Options{})
	ts.createBank("b")
	orig := readImage(t, "bridge-mods-aaa-orig.png")
	entry := ts.addMedia("b", encodePNG(t, orig), nil).GetEntry()
	// The photo in a thick blue frame: 60 px on each side.
	ob := orig.Bounds()
	framed := image.NewNRGBA(image.Rect(0, 0, ob.Dx()+120, ob.Dy()+120))
	draw.Draw(framed, framed.Bounds(), image.NewUniform(color.NRGBA{20, 40, 200, 255}), image.Point{}, draw.Src)
	draw.Draw(framed, image.Rect(60, 60, 60+ob.Dx(), 60+ob.Dy()), orig, ob.Min, draw.Src)
	res := ts.matchMedia(encodePNG(t, framed), nil)
	m := pdqMatch(res, entry.GetName())
	if m == nil {
		t.Fatalf("framed photo not matched: %v", res.GetMatches())
	}
	if k := m.GetQueryRegion().GetKind(); k != pb.RegionKind_REGION_KIND_TRIMMED && k != pb.RegionKind_REGION_KIND_CONTENT {
		t.Errorf("matched by query region %v, want the trimmed picture", m.GetQueryRegion())
	}
	if r := m.GetQueryRegion(); math.Abs(float64(r.GetLeft())-60.0/float64(framed.Bounds().Dx())) > 0.01 || m.GetEntryRegion() != nil {
		t.Errorf("regions: query %v entry %v", r, m.GetEntryRegion())
	}
	// The query's hashes come back with their regions marked.
	regions := 0
	for _, h := range res.GetQuery().GetHashes() {
		if h.GetRegion() != nil {
			regions++
		}
	}
	if regions < 5 { // trimmed or content, and the four quarters
		t.Errorf("%d region hashes in the query", regions)
	}
}

// TestVideoPercentOptions checks that vPDQ percentages outside 0..100 are
// refused, and that one within applies.
func TestVideoPercentOptions(t *testing.T) {
	ts := startServer(t, "", Options{})
	ts.createBank("b")
	frames := []*pb.VideoFrameHash{{Ts: 0, PdqHex: strings.Repeat("a5", 32)}, {Ts: 1, PdqHex: strings.Repeat("3c", 32)}}
	add := &pb.CreateEntryRequest{Parent: "banks/b", Entry: &pb.Entry{Media: &pb.MediaHashes{Frames: frames}}}
	entry, err := ts.bank.CreateEntry(ctx(t), add)
	if err != nil {
		t.Fatal(err)
	}
	// The query holds one of the entry's two frames and one unrelated.
	query := &pb.MediaHashes{Frames: []*pb.VideoFrameHash{frames[0], {Ts: 1, PdqHex: strings.Repeat("0f", 32)}}}
	match := func(opts *pb.MatchOptions) (*pb.MatchResult, error) {
		resp, err := ts.match.Match(ctx(t), &pb.MatchRequest{Query: &pb.MatchRequest_Hashes{Hashes: query}, Options: opts})
		return resp.GetResult(), err
	}
	for _, bad := range []float64{-1, 100.5, math.NaN()} {
		if _, err := match(&pb.MatchOptions{VideoQueryMatchPercent: new(bad)}); status.Code(err) != codes.InvalidArgument {
			t.Errorf("query percentage %v: %v", bad, err)
		}
		if _, err := match(&pb.MatchOptions{VideoEntryMatchPercent: new(bad)}); status.Code(err) != codes.InvalidArgument {
			t.Errorf("entry percentage %v: %v", bad, err)
		}
	}
	// 50% of the query is found: not by default (80), yes at 50.
	if res, err := match(nil); err != nil || pdqMatch(res, entry.GetEntry().GetName()) != nil {
		t.Errorf("default threshold: %v, %v", res.GetMatches(), err)
	}
	res, err := match(&pb.MatchOptions{VideoQueryMatchPercent: new(50.0)})
	if m := pdqMatch(res, entry.GetEntry().GetName()); err != nil || m == nil || m.GetQueryMatchPercent() != 50 || m.GetEntryMatchPercent() != 50 {
		t.Errorf("at 50%%: %v, %v", res.GetMatches(), err)
	}
}

// TestRegionPHashRoundTrip checks that an entry's hashes, given back as
// precomputed hashes, keep the pHash of its crop windows (so a partner's
// copy finds crops as the original does), and that a region pHash without
// the PDQ hash of its region is refused.
func TestRegionPHashRoundTrip(t *testing.T) {
	ts := startServer(t, "", Options{})
	ts.createBank("a")
	ts.createBank("b")
	orig := readImage(t, "bridge-mods-aaa-orig.png")
	entry := ts.addMedia("a", encodePNG(t, orig), nil).GetEntry()
	copied, err := ts.bank.CreateEntry(ctx(t), &pb.CreateEntryRequest{Parent: "banks/b", Entry: &pb.Entry{Media: entry.GetMedia()}})
	if err != nil {
		t.Fatal(err)
	}
	count := func(e *pb.Entry) (n int) {
		for _, h := range e.GetMedia().GetHashes() {
			if h.GetType() == "phash" && h.GetRegion() != nil {
				n++
			}
		}
		return n
	}
	if a, b := count(entry), count(copied.GetEntry()); a != 3 || b != a {
		t.Errorf("window phashes: %d in the original entry, %d in the copy", a, b)
	}
	// A lone region phash, here the first window's without its pdq hash.
	var lone []*pb.Hash
	for _, h := range entry.GetMedia().GetHashes() {
		if h.GetRegion() == nil || h.GetType() == "phash" {
			lone = append(lone, h)
		}
	}
	_, err = ts.bank.CreateEntry(ctx(t), &pb.CreateEntryRequest{Parent: "banks/b", Entry: &pb.Entry{Media: &pb.MediaHashes{Hashes: lone}}})
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "same region") {
		t.Errorf("lone region phash: %v", err)
	}
	// Regions of unknown kinds (256 would wrap to the whole frame in a
	// byte) or with boxes outside the frame are refused.
	pdqHex := strings.Repeat("a5", 32)
	for _, r := range []*pb.Region{
		{Kind: pb.RegionKind(256), Width: 1, Height: 1},
		{Kind: pb.RegionKind(-1), Width: 1, Height: 1},
		{Kind: pb.RegionKind_REGION_KIND_WINDOW, Left: -0.1, Width: 0.5, Height: 0.5},
		{Kind: pb.RegionKind_REGION_KIND_WINDOW, Width: float32(math.NaN()), Height: 0.5},
		{Kind: pb.RegionKind_REGION_KIND_WINDOW, Width: 1.5, Height: 0.5},
	} {
		m := &pb.MediaHashes{Hashes: []*pb.Hash{{Type: "pdq", Hex: pdqHex}, {Type: "pdq", Hex: pdqHex, Region: r}}}
		if _, err := ts.bank.CreateEntry(ctx(t), &pb.CreateEntryRequest{Parent: "banks/b", Entry: &pb.Entry{Media: m}}); status.Code(err) != codes.InvalidArgument {
			t.Errorf("region %v: %v", r, err)
		}
	}
}
