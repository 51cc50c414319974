package storetest

import (
	"math/rand/v2"

	"github.com/mediamatch/mediamatch/hashing"
	"github.com/mediamatch/mediamatch/store"
)

// RandomHash returns a random hash of the named type.
func RandomHash(r *rand.Rand, typ string) hashing.Hash {
	t, err := hashing.Lookup(typ)
	if err != nil {
		panic(err)
	}
	b := make([]byte, t.Bits/8)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	h := hashing.Hash{Type: typ, Bytes: b}
	if t.HasQuality {
		h.Quality = 50 + r.IntN(51)
	}
	return h
}

// RandomImage returns an image entry for bank with every kind of data an
// image entry holds: whole-image hashes and digests, region hashes (some
// with a pHash), keypoints, labels, a note and a source.
func RandomImage(r *rand.Rand, bank string) *store.Entry {
	e := &store.Entry{
		Bank:   bank,
		Kind:   store.KindImage,
		Format: "jpeg", Width: 320 + r.IntN(1000), Height: 240 + r.IntN(800),
		Hashes: []hashing.Hash{RandomHash(r, hashing.PDQ), RandomHash(r, hashing.PHash), RandomHash(r, hashing.DHash),
			RandomHash(r, hashing.MD5), RandomHash(r, hashing.SHA256)},
		Labels: map[string]string{"group": "example", "n": string(rune('a' + r.IntN(26)))},
		Note:   "poster, version 2",
		Source: store.Source{Origin: "partner-a", ExternalID: "x-17", URI: "https://example.org/x-17"},
	}
	for k := range 1 + r.IntN(5) {
		g := hashing.RegionHash{Kind: hashing.RegionKind(1 + k%3), Quality: 40 + r.IntN(61),
			Box: hashing.Box{Left: r.Float32() / 4, Top: r.Float32() / 4, Width: 0.5 + r.Float32()/4, Height: 0.5 + r.Float32()/4}}
		copy(g.Hash[:], RandomHash(r, hashing.PDQ).Bytes)
		if g.Kind == hashing.RegionWindow {
			g.PHash, g.HasPHash = r.Uint64(), true
		}
		e.Regions = append(e.Regions, g)
	}
	for range r.IntN(store.MaxKeypoints / 2) {
		e.Keypoints = append(e.Keypoints, store.Keypoint{X: r.Float32(), Y: r.Float32(), Level: uint8(r.IntN(6)),
			Descriptor: [4]uint64{r.Uint64(), r.Uint64(), r.Uint64(), r.Uint64()}})
	}
	return e
}

// RandomVideo returns a video entry for bank with n frames, some of them
// with a content hash.
func RandomVideo(r *rand.Rand, bank string, n int) *store.Entry {
	e := &store.Entry{
		Bank: bank, Kind: store.KindVideo, Format: "mp4", Width: 640, Height: 360, Duration: float64(n),
		Hashes: []hashing.Hash{RandomHash(r, hashing.MD5), RandomHash(r, hashing.SHA256)},
		Labels: map[string]string{"group": "example"},
	}
	for i := range n {
		f := store.Frame{Seconds: float64(i), Quality: r.IntN(101)}
		copy(f.Hash[:], RandomHash(r, hashing.PDQ).Bytes)
		if r.IntN(3) == 0 {
			copy(f.Content[:], RandomHash(r, hashing.PDQ).Bytes)
			f.HasContent = true
		}
		e.Frames = append(e.Frames, f)
	}
	return e
}
