// Package match decides which entries a query matches. It reads a
// read-only index.View and holds every matching rule in one Rules value
// (DefaultRules documents each default). Each method (whole-image PDQ and
// its dihedral variants, region hashes, the 64-bit hashes, keypoints, exact
// digests, video frames) yields Evidence for an entry; the decision turns
// an entry's evidence into one Match with a Score (the estimated
// false-match probability per comparison, by the Calibration measured on
// negatives) and a Tier (match within the false-match budget, review within
// Rules.ReviewFactor times it).
//
// # Usage
//
//	m, err := match.New(idx, match.DefaultRules()) // idx: an *index.Index
//	res, err := m.Match(ctx, match.Query{Hashes: hs, Dihedral: variants, MinQuality: -1})
//	for _, r := range res.Matches { fmt.Println(r.EntryID, r.Score, r.Tier, r.Best().Method) }
package match
