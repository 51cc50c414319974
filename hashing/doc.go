// Package hashing is mediamatch's registry of hash types and the code that
// computes them from decoded images and uploaded bytes.
//
// Each type has a name, a length, a hex codec and a default match rule:
// pdq (256 bits, this project's own implementation, match at Hamming
// distance <= 31 with query quality >= 50), phash and dhash (64 bits, from
// goimagehash, <= 10), and the exact digests md5 and sha256 of the bytes.
//
// # Usage
//
//	hs, err := hashing.Image(img, hashing.Options{Dihedral: true})
//	all := append(hs.Hashes, hashing.Digests(data)...)
//	for _, h := range all { fmt.Println(h.Type, h.Hex()) }
//	t, err := hashing.Lookup("pdq")      // bits, threshold, codec
//	h, err := t.Parse("d8f8...")         // length-checked hex
//	d, err := hashing.Distance(h, other)
//
// The package holds no server concerns and logs nothing; other Go programs
// can use it as a library.
package hashing
