// Package index is mediamatch's in-memory search over a store's entries:
// range search in Hamming space per hash type (multi-index hashing, a
// BK-tree or a linear scan), exact lookups of digests and an entry
// catalog, read through an immutable View. It holds no matching rule:
// package match turns what a View finds into evidence and decisions.
//
// # Usage
//
//	idx, err := index.New(ctx, st, index.Options{}) // st: a store.Store
//	defer idx.Close()
//	res, err := st.Commit(ctx, "alice", store.AddEntry(e))
//	idx.WaitFor(ctx, res.Revision) // the index shows the add
//	v := idx.View()
//	v.Search(hashing.PDQ, index.HashOf(h.Bytes), 31, func(r index.Ref, d int) bool { ...; return true })
//
// # How it stays current
//
// New builds the index from a store snapshot, then follows the store's
// change feed in a goroutine of its own: the index changes only by
// applying changes, in order, so every node that follows a store holds
// the same index. It is kept in immutable segments and an append-only
// tail, published as a view through one atomic pointer: a match never
// takes a lock, never waits for the follower, and sees whole commits only.
// Segments merge in the background.
//
// # Caveats
//
// A matcher reads the store (View.Read) only for the few candidates it
// compares in full (video frames, keypoints). Removed entries stay in their segment, hidden,
// until a merge drops them, so Stats counts the hashes held, not only the
// live ones.
package index
