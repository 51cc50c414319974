// Package server implements the mediamatch.v1 gRPC services over a
// store.Store and the index.Index that follows it: MatchService (Hash,
// Match, MatchStream) for upload pipelines and BankService (banks, entries
// and the change log) for trust & safety teams, with gRPC health and
// reflection beside them.
//
// # Usage
//
//	st, err := bolt.Open("mediamatch.db", bolt.Options{})
//	idx, err := index.New(ctx, st, index.Options{})
//	srv := server.New(st, idx, server.Options{Metrics: server.NewMetrics()})
//	go srv.GRPC().Serve(listener)
//	...
//	srv.Shutdown(10 * time.Second) // health NOT_SERVING, drain, stop
//	idx.Close()
//	st.Close()
//
// # Resources
//
// Banks are "banks/{bank}", entries "banks/{bank}/entries/{entry}" (names.go);
// updates take field masks (masks.go); lists are pages bounded by count and
// bytes with opaque tokens. Writes go to the store, which records them in
// its change log; a write returns once the index shows it, so the next
// match sees it.
//
// # Errors
//
// Handlers return the errors of the packages below, wrapped with context;
// one table (errors.go) maps them to status codes and ErrorInfo reasons:
// malformed input to InvalidArgument, budgets to ResourceExhausted, unknown
// banks and entries to NotFound, duplicate banks to AlreadyExists, a
// compacted revision to FailedPrecondition, a damaged record to DataLoss.
// Anything unexpected is logged and reported as Internal without details.
//
// # Authentication and authorization
//
// Calls carry a bearer token or a verified TLS client certificate
// (auth.go); one table (authz.go) says which roles may call each method
// and which banks a request names, enforced by one unary and one stream
// interceptor. Refused calls are written to the store's audit log.
// TokenService manages tokens; Offline does the same on a store without a
// server, for bootstrapping the first admin.
//
// # Limits
//
// Every request has a budget: message size, concurrent streams per
// connection, concurrent decodes, the media budgets of package media, and
// bounded upload streams. Logs carry method, code, duration and peer,
// never payloads.
package server
