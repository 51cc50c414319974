// Package server implements the mediamatch.v1 gRPC services over an
// index.Index: MatchService (Hash, Match, MatchStream) for upload
// pipelines and BankService (banks and their content) for trust & safety
// teams, with gRPC health and reflection beside them.
//
// # Usage
//
//	idx, err := index.Open("mediamatch.db", index.Options{})
//	srv := server.New(idx, server.Options{Metrics: server.NewMetrics()})
//	go srv.GRPC().Serve(listener)
//	...
//	srv.Shutdown(10 * time.Second) // health NOT_SERVING, drain, stop
//	idx.Close()
//
// # Errors
//
// Handlers return the errors of the packages below, wrapped with context;
// one table (errors.go) maps them to status codes: malformed input to
// InvalidArgument, budgets to ResourceExhausted, unknown banks and entries
// to NotFound, duplicate banks to AlreadyExists. Anything unexpected is
// logged and reported as Internal without details.
//
// # Limits
//
// Every request has a budget: message size, concurrent streams per
// connection, concurrent decodes, the media budgets of package media, and
// bounded upload streams. Logs carry method, code, duration and peer,
// never payloads.
package server
