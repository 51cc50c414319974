// Package region finds the picture inside a re-edited image and hashes
// its parts: the image without uniform bars and borders (TrimBorders), the
// main picture without caption bands (Content), pictures framed inside a
// screenshot or a collage, objects on a plain ground, central windows and
// quarters. Hashes computes the PDQ hashes (and, for stored windows, the
// pHash) of the regions a stored image or a query needs; package hashing
// holds the hash types and their registry.
package region
