package server

import (
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"

	"github.com/mediamatch/mediamatch/store"
)

// Resource names (AIP-122): "banks/{bank}" and
// "banks/{bank}/entries/{entry}", with "-" for any bank where a parent or
// an entry's bank is asked for.
const (
	banksCollection   = "banks/"
	entriesCollection = "/entries/"
	anyBank           = "-"
)

func bankName(id string) string { return banksCollection + id }

func entryName(bank string, id uint64) string {
	return banksCollection + bank + entriesCollection + strconv.FormatUint(id, 10)
}

// parseBankName returns the ID in "banks/{bank}". With wildcard set,
// "banks/-" is accepted and returns "-".
func parseBankName(name string, wildcard bool) (string, error) {
	id, ok := strings.CutPrefix(name, banksCollection)
	if !ok || strings.Contains(id, "/") {
		return "", fmt.Errorf("%w: bank name %q: want banks/{bank}", errInvalidRequest, store.Clip(name))
	}
	if id == anyBank && wildcard {
		return id, nil
	}
	if !store.ValidBankName(id) {
		return "", fmt.Errorf("%w: bank name %q: a bank ID is 1-%d letters, digits, '.', '_' or '-', starting with a letter or digit", errInvalidRequest, store.Clip(name), store.MaxBankNameLen)
	}
	return id, nil
}

// parseEntryName returns the bank ID ("-" for any) and the entry ID in
// "banks/{bank}/entries/{entry}".
func parseEntryName(name string) (bank string, id uint64, err error) {
	rest, ok := strings.CutPrefix(name, banksCollection)
	b, e, ok2 := strings.Cut(rest, entriesCollection)
	if !ok || !ok2 {
		return "", 0, fmt.Errorf("%w: entry name %q: want banks/{bank}/entries/{entry}", errInvalidRequest, store.Clip(name))
	}
	if b != anyBank && !store.ValidBankName(b) {
		return "", 0, fmt.Errorf("%w: entry name %q: the bank ID is not valid", errInvalidRequest, store.Clip(name))
	}
	id, perr := strconv.ParseUint(e, 10, 64)
	if perr != nil || id == 0 || strconv.FormatUint(id, 10) != e {
		return "", 0, fmt.Errorf("%w: entry name %q: the entry ID is not one this server issued", errInvalidRequest, store.Clip(name))
	}
	return b, id, nil
}

// Page tokens are opaque to clients: the list they continue (a kind, with
// the request's parameters) and the position to resume after, so that a
// token used with another request is refused (AIP-158).
func pageToken(kind, parent, after string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(kind + "\x00" + parent + "\x00" + after))
}

// parsePageToken returns the position in a token of the list kind of
// parent; "" for no token.
func parsePageToken(token, kind, parent string) (string, error) {
	if token == "" {
		return "", nil
	}
	bad := fmt.Errorf("%w: page_token did not come from this request (a token only continues the list it came from)", errInvalidRequest)
	raw, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil {
		return "", bad
	}
	parts := strings.Split(string(raw), "\x00")
	if len(parts) != 3 || parts[0] != kind || parts[1] != parent || parts[2] == "" {
		return "", bad
	}
	return parts[2], nil
}

// parseUintToken is parsePageToken for a numeric position; 0 for no token.
func parseUintToken(token, kind, parent string) (uint64, error) {
	pos, err := parsePageToken(token, kind, parent)
	if err != nil || pos == "" {
		return 0, err
	}
	v, err := strconv.ParseUint(pos, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: page_token did not come from this request", errInvalidRequest)
	}
	return v, nil
}

// Page bounds of the List calls.
const (
	defaultPageSize = 100
	maxPageSize     = 1000
	// maxPageBytes bounds one page's encoded size: half the default
	// 4 MiB message limit, so a page always fits a response whatever the
	// client's limit is, with room to spare.
	maxPageBytes = 2 << 20
)

func pageSize(n int32) (int, error) {
	switch {
	case n < 0:
		return 0, fmt.Errorf("%w: negative page_size", errInvalidRequest)
	case n == 0:
		return defaultPageSize, nil
	}
	return min(int(n), maxPageSize), nil
}
