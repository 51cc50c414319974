package server

import (
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	pb "github.com/mediamatch/mediamatch/proto/mediamatch/v1"
	"github.com/mediamatch/mediamatch/store"
)

// fakeClock is a clock the test moves.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func TestRateLimit(t *testing.T) {
	ts := startServer(t, "", Options{RateLimit: 2, RateBurst: 3})
	clock := &fakeClock{t: time.Unix(1e9, 0)}
	ts.srv.rates.now = clock.now
	ts.createBank("a")
	alice := tokenSecret(t, ts, store.Token{Name: "alice", Role: store.RoleMatcher})
	bob := tokenSecret(t, ts, store.Token{Name: "bob", Role: store.RoleMatcher})
	q := &pb.MatchRequest{Query: &pb.MatchRequest_Hashes{Hashes: pdqEntry(rand.New(rand.NewPCG(5, 5))).GetMedia()}}
	call := func(secret string) error {
		_, err := ts.match.Match(as(ctx(t), secret), q)
		return err
	}
	for i := range 3 {
		if err := call(alice); err != nil {
			t.Fatalf("call %d of a burst of 3: %v", i+1, err)
		}
	}
	err := call(alice)
	st := status.Convert(err)
	if st.Code() != codes.ResourceExhausted || !strings.Contains(st.Message(), "alice is over its 2 calls a second") {
		t.Fatalf("the fourth call: %v, want RESOURCE_EXHAUSTED naming the limit", err)
	}
	var retry *errdetails.RetryInfo
	for _, d := range st.Details() {
		if r, ok := d.(*errdetails.RetryInfo); ok {
			retry = r
		}
	}
	if retry == nil || retry.GetRetryDelay().AsDuration() != 500*time.Millisecond {
		t.Fatalf("retry info %v, want a delay of 500ms (one call at 2 a second)", retry)
	}
	if r := errorReason(err); r != "RATE_LIMITED" {
		t.Errorf("reason %q, want RATE_LIMITED", r)
	}
	// Another token has a bucket of its own; health is never limited.
	if err := call(bob); err != nil {
		t.Errorf("another token while alice is limited: %v", err)
	}
	for range 5 {
		if _, err := ts.health.Check(ctx(t), &healthpb.HealthCheckRequest{}); err != nil {
			t.Fatalf("health: %v", err)
		}
	}
	// Streams count as calls too.
	stream, err := ts.match.MatchStream(as(ctx(t), alice))
	if err == nil {
		_, err = stream.CloseAndRecv()
	}
	if status.Code(err) != codes.ResourceExhausted {
		t.Errorf("a stream while limited: %v, want RESOURCE_EXHAUSTED", err)
	}
	// After the delay, one more call.
	clock.add(retry.GetRetryDelay().AsDuration())
	if err := call(alice); err != nil {
		t.Errorf("after the retry delay: %v", err)
	}
	if err := call(alice); status.Code(err) != codes.ResourceExhausted {
		t.Errorf("straight after: %v, want RESOURCE_EXHAUSTED", err)
	}
}

// TestRateLimiterForgets: a full table forgets the callers whose buckets
// have refilled, and never grows past its bound.
func TestRateLimiterForgets(t *testing.T) {
	l := newRateLimiter(1, 1)
	clock := &fakeClock{t: time.Unix(1e9, 0)}
	l.now = clock.now
	for i := range maxRateCallers {
		l.allow(strings.Repeat("x", i%7) + string(rune('a'+i%26)) + time.Duration(i).String())
	}
	clock.add(time.Second)
	if ok, _ := l.allow("newcomer"); !ok {
		t.Error("a new caller refused")
	}
	if n := len(l.buckets); n > maxRateCallers || n > 1 {
		t.Errorf("%d callers kept after a sweep of refilled buckets, want 1", n)
	}
	if newRateLimiter(0, 5) != nil {
		t.Error("a rate of 0 made a limiter")
	}
}
