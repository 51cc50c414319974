package server

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"

	pb "github.com/mediamatch/mediamatch/proto/mediamatch/v1"
	"github.com/mediamatch/mediamatch/store"
)

// Update masks (AIP-134, with map keys as AIP-161 writes them): paths of
// the resource's fields, a map's key after a dot, quoted in backticks when
// it is not a plain word, and "*" for every settable field.

// maskPath is one parsed update path: a field and, for a map, a key.
type maskPath struct {
	field string
	key   string
	keyed bool
}

func parseMaskPath(p string) (maskPath, error) {
	field, key, keyed := strings.Cut(p, ".")
	if !keyed {
		return maskPath{field: p}, nil
	}
	if strings.HasPrefix(key, "`") {
		if len(key) < 2 || !strings.HasSuffix(key, "`") {
			return maskPath{}, fmt.Errorf("%w: update path %q: unterminated backtick", errInvalidRequest, store.Clip(p))
		}
		key = strings.ReplaceAll(key[1:len(key)-1], "``", "`")
	}
	if key == "" {
		return maskPath{}, fmt.Errorf("%w: update path %q names no key", errInvalidRequest, store.Clip(p))
	}
	return maskPath{field: field, key: key, keyed: true}, nil
}

// QuoteMaskKey returns a map key as an update path writes it.
func QuoteMaskKey(key string) string {
	plain := key != ""
	for _, c := range key {
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			plain = false
			break
		}
	}
	if plain {
		return key
	}
	return "`" + strings.ReplaceAll(key, "`", "``") + "`"
}

// maskRules says, for one resource, which fields an update may name: the
// settable ones (with whether they are maps), the output-only ones (ignored
// in a mask, as AIP-134 says) and the immutable ones (refused).
type maskRules struct {
	settable   map[string]bool // field -> is a map
	outputOnly []string
	immutable  []string
	resource   string
	storeField map[string]string // the store's name of a field, where it differs
}

var bankMask = maskRules{
	settable:   map[string]bool{"description": false, "labels": true, "enabled": false, "thresholds": true, "false_match_budget": false},
	outputOnly: []string{"entry_count", "create_time", "update_time", "creator", "revision"},
	immutable:  []string{"name"},
	resource:   "bank",
	storeField: map[string]string{"enabled": store.FieldDisabled},
}

var entryMask = maskRules{
	settable:   map[string]bool{"labels": true, "note": false},
	outputOnly: []string{"create_time", "update_time", "creator", "updater", "revision"},
	immutable:  []string{"name", "media", "source"},
	resource:   "entry",
}

// storePaths checks a mask and returns its paths as the store names them;
// implied lists the fields the request sets, for a request without a mask.
// A mask that names nothing to change is refused.
func (r maskRules) storePaths(mask []string, implied []string) ([]string, error) {
	if len(mask) == 0 {
		mask = implied
	}
	var out []string
	add := func(mp maskPath) {
		field := cmp.Or(r.storeField[mp.field], mp.field)
		if mp.keyed {
			field += "." + mp.key
		}
		out = append(out, field)
	}
	for _, p := range mask {
		if p == "*" {
			for _, f := range slices.Sorted(maps.Keys(r.settable)) {
				add(maskPath{field: f})
			}
			continue
		}
		mp, err := parseMaskPath(p)
		if err != nil {
			return nil, err
		}
		isMap, ok := r.settable[mp.field]
		switch {
		case ok && (isMap || !mp.keyed):
			add(mp)
		case slices.Contains(r.outputOnly, mp.field):
			// Output only: ignored.
		case slices.Contains(r.immutable, mp.field):
			return nil, fmt.Errorf("%w: %s field %q cannot be changed", errInvalidRequest, r.resource, mp.field)
		default:
			return nil, fmt.Errorf("%w: %s has no field %q to update (use %s)", errInvalidRequest, r.resource, store.Clip(p), strings.Join(slices.Sorted(maps.Keys(r.settable)), ", "))
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: the update changes nothing: name fields in update_mask or set them in %s", errInvalidRequest, r.resource)
	}
	return out, nil
}

// bankUpdate turns an UpdateBank request into the store's update: the new
// values and the store's paths.
func bankUpdate(req *pb.UpdateBankRequest) (store.Bank, []string, error) {
	in := req.GetBank()
	var implied []string
	if in.GetDescription() != "" {
		implied = append(implied, "description")
	}
	if len(in.GetLabels()) > 0 {
		implied = append(implied, "labels")
	}
	if in.Enabled != nil {
		implied = append(implied, "enabled")
	}
	if len(in.GetThresholds()) > 0 {
		implied = append(implied, "thresholds")
	}
	if in.FalseMatchBudget != nil {
		implied = append(implied, "false_match_budget")
	}
	paths, err := bankMask.storePaths(req.GetUpdateMask().GetPaths(), implied)
	if err != nil {
		return store.Bank{}, nil, err
	}
	th, err := thresholdsFromProto(in.GetThresholds())
	if err != nil {
		return store.Bank{}, nil, err
	}
	return store.Bank{Description: in.GetDescription(), Labels: in.GetLabels(), Disabled: in.Enabled != nil && !in.GetEnabled(), Thresholds: th,
		FalseMatchBudget: in.GetFalseMatchBudget()}, paths, nil
}

// entryUpdate is bankUpdate for UpdateEntry.
func entryUpdate(req *pb.UpdateEntryRequest) (store.Entry, []string, error) {
	in := req.GetEntry()
	var implied []string
	if len(in.GetLabels()) > 0 {
		implied = append(implied, "labels")
	}
	if in.GetNote() != "" {
		implied = append(implied, "note")
	}
	paths, err := entryMask.storePaths(req.GetUpdateMask().GetPaths(), implied)
	if err != nil {
		return store.Entry{}, nil, err
	}
	return store.Entry{Labels: in.GetLabels(), Note: in.GetNote()}, paths, nil
}

// maskFromStore turns a change's store paths back into API paths.
func maskFromStore(paths []string) []string {
	out := make([]string, 0, len(paths))
	for _, p := range paths {
		field, key, keyed := strings.Cut(p, ".")
		if field == store.FieldDisabled {
			field = "enabled"
		}
		if keyed {
			field += "." + QuoteMaskKey(key)
		}
		out = append(out, field)
	}
	return out
}
