// Package exchange reads and writes the hash lists partners exchange, and
// signs them.
//
// # Formats
//
// python-threatexchange's local file format holds one signal a line, its
// signal type's name, one space, then the signal:
//
//	pdq d23f082452cb2f33045c7fd0a6a3a4506513070e269e0d37f2a65dec72eeb438
//	video_md5 4f1e5ad7bd0bd9b1f3f4e1c8f8bb5a65
//	vpdq ["d23f...b438,100,0.000", "d23f...b438,100,1.000"]
//
// Blank lines and lines starting with '#' are skipped.
//
// Its CSV dataset export has the header signal_type,signal_str,collab,
// category,tags (tags separated by spaces). CSV written here is safe to open
// in a spreadsheet: a field that a spreadsheet would run as a formula
// (starting with = + - @, a tab or a carriage return) is written with a
// leading apostrophe, which such readers strip, and this package's reader
// removes again.
//
// The native format is JSON Lines that carry everything the store keeps of
// a bank's entries: a header naming the format and its version, the
// exporter, the bank and its settings and the revisions the list covers,
// then one entry or one removal a line, in change order. Each entry
// carries its identity (store.Identity), which names the item on every
// server; the reader checks it against the entry's hashes and checks each
// entry as the store checks what it is given.
//
//	{"format":"mediamatch-bank","version":1,"exporter":"…","bank":{"name":"tvec"},"from_revision":0,"to_revision":40,…}
//	{"entry":{"identity":"…","id":1,"kind":"image","hashes":[{"type":"pdq","hex":"…","quality":90},…],…}}
//	{"removed":{"identity":"…","id":2,"revision":9,"time":"…","actor":"curator-a"}}
//
// A bank is exported and imported in one of four formats (Format): the
// native one, the local file, the CSV dataset, and vpdq-json, one video's
// frames a line as the JSON list python-threatexchange stores a vPDQ
// signal as. ListWriter writes entries and removals in any of them, keeping
// what the format can carry; ListReader reads any of them as the items
// store.ImportEntries takes, one at a time.
//
// Signal type names map to ours (SignalTypes): pdq, vpdq, sha256 and md5
// are ours too; video_md5 and photo_md5 are md5 of a video and of an
// image. A name we do not know is refused, with its line.
//
// # Reading
//
// Readers stream: they hold one line at a time, whatever the list's
// length, and refuse a line over MaxLineBytes. Every content error is a
// *LineError naming the line and wrapping ErrInvalid (with the hashing or
// vpdq error beneath, when there is one), or ErrUnknownSignal. A hash is canonical lowercase hex of its type's
// length; upper case is accepted as the formats allow. Duplicates are not
// looked for here: the importer finds them against the store, which holds
// every item's identity.
//
// # Signing
//
// A partner's identity is an ed25519 key pair, written as two text files
// (GenerateKey, WriteKey, ReadPrivateKey, ReadPublicKey). A signature is
// detached, over a list's exact bytes (Sign, Verify).
package exchange
