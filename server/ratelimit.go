package server

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"
)

// maxRateCallers bounds the callers the rate limiter remembers. Callers
// are tokens (at most store.MaxTokens) and, while authentication is off,
// peer hosts; a full bucket is the same as none, so when the table is
// full the full buckets go first.
const maxRateCallers = 10_000

// errRateLimited reports a caller over its rate of calls; its status
// carries a RetryInfo saying when to try again.
var errRateLimited = errors.New("rate limited")

// retryError is an error that says when to retry (errRateLimited's).
type retryError struct {
	err   error
	after time.Duration
}

func (e *retryError) Error() string { return e.err.Error() }
func (e *retryError) Unwrap() error { return e.err }

// rateLimiter is a token bucket per caller: each call takes one token,
// the bucket refills at rate a second up to burst.
type rateLimiter struct {
	rate  float64
	burst float64
	now   func() time.Time

	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	at     time.Time
}

// newRateLimiter returns a limiter of rate calls a second per caller with
// bursts of burst; nil (no limit) when rate is 0 or less.
func newRateLimiter(rate float64, burst int) *rateLimiter {
	if rate <= 0 {
		return nil
	}
	if burst < 1 {
		burst = max(1, int(math.Ceil(rate)))
	}
	return &rateLimiter{rate: rate, burst: float64(burst), now: time.Now, buckets: map[string]*bucket{}}
}

// allow takes a token for caller, or says how long until one is there.
func (l *rateLimiter) allow(caller string) (ok bool, wait time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	b := l.buckets[caller]
	if b == nil {
		if len(l.buckets) >= maxRateCallers {
			l.sweep(now)
		}
		b = &bucket{tokens: l.burst, at: now}
		l.buckets[caller] = b
	}
	b.tokens = min(l.burst, b.tokens+now.Sub(b.at).Seconds()*l.rate)
	b.at = now
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	return false, time.Duration((1 - b.tokens) / l.rate * float64(time.Second))
}

// sweep forgets the callers whose buckets have refilled, and, if that
// frees nothing, one caller at random. l.mu is held.
func (l *rateLimiter) sweep(now time.Time) {
	for k, b := range l.buckets {
		if b.tokens+now.Sub(b.at).Seconds()*l.rate >= l.burst {
			delete(l.buckets, k)
		}
	}
	for k := range l.buckets {
		if len(l.buckets) < maxRateCallers {
			return
		}
		delete(l.buckets, k)
	}
}

// limitRate refuses a call of caller p over its rate.
func (s *Server) limitRate(ctx context.Context, p *principal) error {
	if s.rates == nil {
		return nil
	}
	caller := p.name
	if p.open || p.name == Anonymous {
		caller = "anonymous@" + peerHost(ctx)
	}
	ok, wait := s.rates.allow(caller)
	if ok {
		return nil
	}
	return &retryError{
		err: fmt.Errorf("%w: %s is over its %g calls a second (bursts of %g); retry in %v",
			errRateLimited, caller, s.rates.rate, s.rates.burst, wait.Round(time.Millisecond)),
		after: wait,
	}
}
