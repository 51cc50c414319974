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
	count     int
}

// tokenCache keeps the latest tokenSet, so that authenticating a call costs
// a map lookup instead of reading and comparing every token.
//
// The lookup is by the SHA-256 hash of the secret the caller sent: its
// timing can say only whether some token has that hash, which tells a
// caller nothing of any secret it does not already hold.
type tokenCache struct {
	st      store.Store
	refresh time.Duration

	mu     sync.Mutex // held while the set is read from the store
	set    *tokenSet
	loaded time.Time
}

// get returns the current tokens, reading them again when they are older
// than the refresh or were dropped.
func (c *tokenCache) get(ctx context.Context) (*tokenSet, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.set != nil && time.Since(c.loaded) < c.refresh {
		return c.set, nil
	}
	tokens, err := c.st.ListTokens(ctx)
	if err != nil {
		return nil, err
	}
	set := &tokenSet{bySecret: map[[32]byte]*store.Token{}, bySubject: map[string]*store.Token{}, count: len(tokens)}
	for i := range tokens {
		t := &tokens[i]
		if t.Subject != "" {
			set.bySubject[t.Subject] = t
		} else {
			set.bySecret[t.Hash] = t
		}
	}
	c.set, c.loaded = set, time.Now()
	return set, nil
}

// drop forgets the tokens, so the next call reads them again. A read in
// progress finishes first (it holds the lock), so a commit followed by
// drop is seen by every call authenticated after drop returns.
func (c *tokenCache) drop() {
	c.mu.Lock()
	c.set = nil
	c.mu.Unlock()
}
