package etcd

import (
	"context"
	"encoding/hex"
	"fmt"
	"strings"

	"go.etcd.io/etcd/api/v3/mvccpb"

	"github.com/mediamatch/mediamatch/store"
)

// Check implements store.Checker: at one committed revision it decodes
// every record and checks that the keys agree with each other (every
// entry a member of its bank and found by its identity, counts right,
// chunks complete, the change log consecutive, the head's counters
// right), so that what a commit or a rollback left half done shows.
func (s *Store) Check(ctx context.Context) error {
	return s.read(ctx, func(ctx context.Context, rd *reader) error {
		if err := rd.check(ctx); err != nil {
			return fmt.Errorf("%w: %v", store.ErrCorrupt, err)
		}
		return nil
	})
}

func (rd *reader) check(ctx context.Context) error {
	s := rd.s
	all := map[string]map[string]*mvccpb.KeyValue{}
	from, end := s.p, s.p+"\xff"
	err := rd.scan(ctx, from, end, false, func(kv *mvccpb.KeyValue) (bool, error) {
		rest := strings.TrimPrefix(string(kv.Key), s.p)
		fam, name, ok := strings.Cut(rest, "/")
		if !ok {
			return false, fmt.Errorf("key %q outside the layout", kv.Key)
		}
		if all[fam] == nil {
			all[fam] = map[string]*mvccpb.KeyValue{}
		}
		all[fam][name] = kv
		return true, nil
	})
	if err != nil {
		return err
	}
	for fam := range all {
		switch fam {
		case "meta", "banks", "counts", "entries", "bulk", "members", "idents", "changes", "tokens", "revoked", "subjects", "audit":
		default:
			return fmt.Errorf("unknown key family %q", fam)
		}
	}
	h := rd.h
	if uint64(len(all["banks"])) != h.banks || len(all["counts"]) != len(all["banks"]) {
		return fmt.Errorf("%d banks and %d counts, the head says %d", len(all["banks"]), len(all["counts"]), h.banks)
	}
	if uint64(len(all["tokens"])) != h.tokens {
		return fmt.Errorf("%d tokens, the head says %d", len(all["tokens"]), h.tokens)
	}
	members := map[string]int{}
	for name := range all["members"] {
		bank, _, _ := strings.Cut(name, "/")
		members[bank]++
	}
	for name, kv := range all["banks"] {
		b, err := s.decodeBank(kv, all["counts"][name])
		if err != nil {
			return err
		}
		if b.Entries != int64(members[name]) {
			return fmt.Errorf("bank %q counts %d entries and has %d members", name, b.Entries, members[name])
		}
		delete(members, name)
	}
	for bank := range members {
		return fmt.Errorf("members of bank %q, which does not exist", bank)
	}
	bulk := map[string]int{}
	for name := range all["bulk"] {
		id, _, _ := strings.Cut(name, "/")
		bulk[id]++
	}
	for name, kv := range all["entries"] {
		id, err := idOf(kv.Key, s.p+"entries/")
		if err != nil {
			return err
		}
		if id > h.lastID {
			return fmt.Errorf("entry %d beyond the last id given, %d", id, h.lastID)
		}
		e, identity, n, err := s.decodeMain(kv, id)
		if err != nil {
			return err
		}
		if n != bulk[name] {
			return fmt.Errorf("entry %d has %d chunks of its %d", id, bulk[name], n)
		}
		delete(bulk, name)
		if _, ok := all["members"][e.Bank+"/"+name]; !ok {
			return fmt.Errorf("entry %d is not a member of its bank %q", id, e.Bank)
		}
		ik, ok := all["idents"][e.Bank+"/"+hex.EncodeToString(identity[:])]
		if !ok {
			return fmt.Errorf("entry %d's identity is not recorded", id)
		}
		if v, err := s.decodeUint(ik); err != nil || v != id {
			return fmt.Errorf("entry %d's identity names entry %d (%v)", id, v, err)
		}
	}
	for id := range bulk {
		return fmt.Errorf("chunks of entry %s, which does not exist", id)
	}
	if len(all["idents"]) != len(all["entries"]) || len(all["members"]) != len(all["entries"]) {
		return fmt.Errorf("%d entries, %d identities, %d members", len(all["entries"]), len(all["idents"]), len(all["members"]))
	}
	if want := h.rev - h.compacted; uint64(len(all["changes"])) != want {
		return fmt.Errorf("%d change records, want %d (revisions %d to %d)", len(all["changes"]), want, h.compacted+1, h.rev)
	}
	for _, kv := range all["changes"] {
		c, err := s.decodeChange(kv)
		if err != nil {
			return err
		}
		if string(kv.Key) != s.changeKey(uint64(c.Revision)) || uint64(c.Revision) <= h.compacted || uint64(c.Revision) > h.rev {
			return fmt.Errorf("change record %q holds revision %d", kv.Key, c.Revision)
		}
	}
	for _, kv := range all["tokens"] {
		t, err := s.decodeToken(kv)
		if err != nil {
			return err
		}
		if err := store.ValidateToken(&t); err != nil {
			return fmt.Errorf("token %q breaks the data model: %v", t.Name, err)
		}
		if t.Subject != "" {
			if sk, ok := all["subjects"][hex.EncodeToString([]byte(t.Subject))]; !ok || string(sk.Value) != t.Name {
				return fmt.Errorf("token %q's certificate subject is not recorded", t.Name)
			}
		}
	}
	for _, kv := range all["audit"] {
		a, err := s.decodeAudit(kv)
		if err != nil {
			return err
		}
		if a.Seq > h.auditSeq {
			return fmt.Errorf("audit record %d beyond the log's number %d", a.Seq, h.auditSeq)
		}
	}
	return nil
}
