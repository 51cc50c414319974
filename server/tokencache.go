package server

import (
	"context"
	"sync"
	"time"

	"github.com/mediamatch/mediamatch/store"
)

// DefaultTokenRefresh is how long the tokens read from the store are used
// before they are read again. Token changes made through this server apply
// at once whatever it says (it drops its copy when it commits one); the
// refresh bounds how long a change made elsewhere (another process on a
// shared store) takes to apply to calls that do not write. Writes check
// their token in the store itself, just before they commit.
const DefaultTokenRefresh = time.Second

// tokenSet is the store's tokens at one moment, indexed for
// authentication. It is never changed once built.
type tokenSet struct {
	bySecret  map[[32]byte]*store.Token
	bySubject map[string]*store.Token
}

// empty reports whether the store held no token.
func (t *tokenSet) empty() bool { return len(t.bySecret) == 0 && len(t.bySubject) == 0 }

// tokenCache keeps the latest tokenSet, so that authenticating a call costs
// a map lookup instead of reading and comparing every token.
//
// The lookup is by the SHA-256 hash of the secret the caller sent: its
// timing can say only whether some token has that hash, which tells a
// caller nothing of any secret it does not already hold.
type tokenCache struct {
	st      store.Store
	refresh time.Duration

	mu         sync.Mutex
	set        *tokenSet
	loaded     time.Time
	gen        uint64 // counts drops, so a read begun before one is not kept
	refreshing bool   // a call is reading a stale set again
}

// get returns the current tokens. The store is read outside the lock,
// with the caller's ctx, so a slow read holds no other call back: while
// one call reads a set older than the refresh again, the others use it.
// After drop there is no set to use, and every call reads the tokens until
// one of them keeps its read.
func (c *tokenCache) get(ctx context.Context) (*tokenSet, error) {
	c.mu.Lock()
	set, gen := c.set, c.gen
	if set != nil && time.Since(c.loaded) < c.refresh {
		c.mu.Unlock()
		return set, nil
	}
	mine := false
	if set != nil {
		if c.refreshing {
			c.mu.Unlock()
			return set, nil
		}
		c.refreshing, mine = true, true
	}
	c.mu.Unlock()

	for {
		tokens, err := c.st.ListTokens(ctx)
		var next *tokenSet
		if err == nil {
			next = &tokenSet{bySecret: map[[32]byte]*store.Token{}, bySubject: map[string]*store.Token{}}
			for i := range tokens {
				t := &tokens[i]
				if t.Subject != "" {
					next.bySubject[t.Subject] = t
				} else {
					next.bySecret[t.Hash] = t
				}
			}
		}
		c.mu.Lock()
		if c.gen != gen {
			// A token changed during the read, which may not show it:
			// read again.
			gen, set = c.gen, nil // nor may the set from before stand
			c.mu.Unlock()
			continue
		}
		if mine {
			c.refreshing = false
		}
		if err == nil {
			c.set, c.loaded = next, time.Now()
		} else if set != nil {
			next, err = set, nil // the set read before stands until a read succeeds
		}
		c.mu.Unlock()
		return next, err
	}
}

// drop forgets the tokens, so that every call from now on reads them
// again, and a read begun before drop is not kept.
func (c *tokenCache) drop() {
	c.mu.Lock()
	c.set = nil
	c.gen++
	c.mu.Unlock()
}
