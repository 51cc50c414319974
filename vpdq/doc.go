// Package vpdq reads and writes vPDQ video hashes and compares them with the
// vPDQ match rule.
//
// vPDQ is the PDQ-based video hash of Meta's ThreatExchange repository: a
// video is sampled (usually one frame a second) and each sampled frame is
// hashed with PDQ, giving a list of frames with a hash, a quality and a
// timestamp. Two videos match when enough of their frame hashes are within
// a PDQ distance of some frame hash of the other.
//
// # Usage
//
//	frames, err := vpdq.Parse(data)                   // either format, from a partner
//	res := vpdq.Compare(query, frames, vpdq.Options{}) // python-threatexchange defaults
//	if res.Matched { use(res.QueryPercent, res.EntryPercent, res.EntryRanges) }
//	err = vpdq.WriteLines(w, frames)                   // reference tool format
//	js, err := vpdq.MarshalJSON(frames)                // python-threatexchange format
//
// # Formats
//
// The reference C++ tool (vpdq-hash-video) writes one frame a line,
// "frame_number,quality,hash_hex,seconds", seconds with three decimals:
//
//	29,100,d23f082452cb2f33045c7fd0a6a3a4506513070e269e0d37f2a65dec72eeb438,0.968
//
// python-threatexchange serialises a vPDQ signal as a JSON list of
// "hash_hex,quality,seconds" strings, without frame numbers:
//
//	["d23f...b438,100,0.0", "d23f...b438,100,1.0"]
//
// Parsing is strict and bounded (MaxFrames, MaxLineLen, MaxSeconds); every
// content error wraps ErrInvalid and names the line or element. Timestamps
// are written with SecondsPrecision (3) decimals in both formats, so a
// write-then-parse round trip gives back the same frames when their
// timestamps are whole milliseconds; the JSON format replaces each frame
// number by the frame's position in the list.
//
// # Matching
//
// Compare follows python-threatexchange: frames below the quality
// threshold are dropped, hashes are de-duplicated, and the query and entry
// percentages count distinct hashes with a match (distance <= 31 by
// default). A video matches at 80% of the query and 0% of the entry by
// default, so a clip matches the long video it was cut from. Frame numbers
// and timestamps play no part in the decision; Compare uses the timestamps
// only to report which spans of each video matched.
//
// # Caveats
//
// The reference C++ matcher (match-hashes-brute) differs from
// python-threatexchange: it matches at distance strictly below the
// threshold and does not de-duplicate hashes. This package follows
// python-threatexchange, which is what ThreatExchange partners exchange.
// Within python-threatexchange, the brute-force matcher de-duplicates
// before dropping low-quality frames and the index after; Compare drops
// first, as the index does, so a hash counts if any of its frames is
// usable. Where python-threatexchange would divide by zero (no usable
// frame on a side), Compare reports 0%, as the C++ matcher does.
package vpdq
