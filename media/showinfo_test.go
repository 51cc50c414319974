package media

import (
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/mediamatch/mediamatch/internal/testvideo"
)

// TestVideoMetadataIsNotAFrame checks that text in a video's metadata,
// which ffmpeg prints in its log beside the frame lines the sampler reads,
// cannot pass for a frame line. A title holding one used to be read as a
// frame, shifting every frame's time, or refusing the video (here a time
// past the length budget); an uploader could so make any video fail.
func TestVideoMetadataIsNotAFrame(t *testing.T) {
	testvideo.Require(t)
	path := filepath.Join(t.TempDir(), "titled.webm")
	for _, fake := range []string{showinfoLine(0, 0, "99999", 64, 48), showinfoLine(0, 0, "7", 1, 1)} {
		testvideo.FFmpeg(t, "-f", "lavfi", "-i", "color=c=red:s=64x48:d=3:r=2",
			"-metadata", "title=a title\n"+fake, "-metadata:s:v:0", "handler_name="+fake, "-c:v", "libvpx", path)
		opts := videoOptions(t)
		info, s, err := sample(t, readFile(t, path), opts)
		if err != nil {
			t.Fatalf("a title holding %q: %v", fake, err)
		}
		checkClean(t, opts)
		if want := []time.Duration{0, time.Second, 2 * time.Second}; !slices.Equal(s.ts, want) || info.Width != 64 || info.Height != 48 {
			t.Errorf("a title holding %q: frames at %v of %v (info %+v), want %v", fake, s.ts, s.size, info, want)
		}
	}
}
