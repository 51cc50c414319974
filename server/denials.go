package server

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"sync"
	"time"

	"github.com/mediamatch/mediamatch/store"
)

// Refused calls are summed up in memory, one count per caller, peer
// address, method, bank and reason, and written to the audit log as one
// summary record each every Options.DenialFlushInterval, off the request
// path: a refusal costs a map update, not a commit and an fsync, so a flood
// of bogus tokens costs no more than a health check and writes one record
// per distinct caller and reason per interval.
const (
	// DefaultDenialFlushInterval is how often the summed-up refusals are
	// written: short enough that an admin reading the audit log sees an
	// attack within seconds, long enough that a flood is a few records.
	DefaultDenialFlushInterval = 5 * time.Second
	// maxDenialKeys bounds the distinct summaries held between flushes, so
	// that callers varying the method name or their address cannot grow
	// the server's memory; refusals beyond it are counted in one overflow
	// record.
	maxDenialKeys = 1024
	// denialActor is the actor of the commits writing summaries.
	denialActor = "server"
	// denialFlushTimeout bounds one flush's commit.
	denialFlushTimeout = 10 * time.Second
)

// denialKey is what one summary record sums up.
type denialKey struct {
	actor, peer, method, bank, reason string
}

type denialSum struct {
	count uint64
	first time.Time
}

// denials holds the refusals not yet written.
type denials struct {
	mu            sync.Mutex
	sums          map[denialKey]*denialSum
	overflow      uint64
	overflowFirst time.Time
}

// add counts one refusal and reports whether it is the first of its kind
// since the last flush (the one that is logged at warning level).
func (d *denials) add(k denialKey, now time.Time) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if s, ok := d.sums[k]; ok {
		s.count++
		return false
	}
	if len(d.sums) >= maxDenialKeys {
		if d.overflow == 0 {
			d.overflowFirst = now
		}
		d.overflow++
		return false
	}
	if d.sums == nil {
		d.sums = map[denialKey]*denialSum{}
	}
	d.sums[k] = &denialSum{count: 1, first: now}
	return true
}

// take returns the summary records of the refusals held, and forgets them.
func (d *denials) take() []store.AuditRecord {
	d.mu.Lock()
	sums, overflow, first := d.sums, d.overflow, d.overflowFirst
	d.sums, d.overflow = nil, 0
	d.mu.Unlock()
	out := make([]store.AuditRecord, 0, len(sums)+1)
	for k, s := range sums {
		out = append(out, store.AuditRecord{Action: store.AuditDenied, Actor: k.actor, Peer: k.peer, Method: k.method,
			Bank: k.bank, Detail: k.reason, Count: s.count, First: s.first})
	}
	if overflow > 0 {
		out = append(out, store.AuditRecord{Action: store.AuditDenied, Actor: Anonymous, Count: overflow, First: first,
			Detail: clipAudit(fmt.Sprintf("refused calls beyond the %d distinct callers, methods and reasons summed up per flush", maxDenialKeys))})
	}
	// Oldest first, so the log reads in the order the refusals began.
	slices.SortStableFunc(out, func(a, b store.AuditRecord) int { return a.First.Compare(b.First) })
	return out
}

// deny counts a refused call for the audit log, logs it, and returns its
// error.
func (s *Server) deny(ctx context.Context, p *principal, method, bank string, err error) error {
	who := Anonymous
	if p != nil {
		who = p.name
	}
	detail := toStatus(err).Error()
	k := denialKey{actor: clipAudit(who), peer: clipAudit(peerHost(ctx)), method: clipAudit(method), bank: clipAudit(bank), reason: clipAudit(detail)}
	// The first refusal of each kind per flush is a warning; the rest,
	// which an attacker can make by the thousand, are at debug level.
	level := slog.LevelDebug
	if s.denied.add(k, time.Now()) {
		level = slog.LevelWarn
	}
	s.log.Log(ctx, level, "refused call", "actor", who, "peer", peerAddr(ctx), "method", method, "bank", bank, "reason", detail)
	return err
}

// flushDenials writes the refusals held to the audit log.
func (s *Server) flushDenials(ctx context.Context) error {
	recs := s.denied.take()
	if len(recs) == 0 {
		return nil
	}
	ops := make([]store.Op, len(recs))
	for i, r := range recs {
		ops[i] = store.RecordAudit(r)
	}
	ctx, cancel := context.WithTimeout(ctx, denialFlushTimeout)
	defer cancel()
	if _, err := s.st.Commit(ctx, denialActor, ops...); err != nil {
		s.log.Error("could not write refused calls to the audit log", "records", len(recs), "error", err.Error())
		return err
	}
	return nil
}

// flushLoop writes the refusals every interval until the server stops;
// Shutdown writes the last ones.
func (s *Server) flushLoop(interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-s.stopped:
			return
		case <-t.C:
			s.flushDenials(context.Background())
		}
	}
}

// peerHost is the caller's address without its port, which changes with
// every connection, so that one caller's refusals sum up.
func peerHost(ctx context.Context) string {
	addr := peerAddr(ctx)
	if host, _, err := net.SplitHostPort(addr); err == nil {
		return host
	}
	return addr
}
