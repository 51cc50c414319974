package server

import (
	"context"
	"errors"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/protoadapt"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/mediamatch/mediamatch/exchange"
	"github.com/mediamatch/mediamatch/hashing"
	"github.com/mediamatch/mediamatch/match"
	"github.com/mediamatch/mediamatch/media"
	"github.com/mediamatch/mediamatch/store"
)

// errorDomain is the ErrorInfo domain of mediamatch's errors (AIP-193).
const errorDomain = "mediamatch"

// codeTable maps the errors of the packages below the server to gRPC
// codes and to the machine-readable reason an ErrorInfo detail carries. It
// is the only place that does: handlers return errors wrapped with context
// and toStatus classifies them here, first match first.
var codeTable = []struct {
	err    error
	code   codes.Code
	reason string
}{
	{media.ErrInvalid, codes.InvalidArgument, "MEDIA_INVALID"},
	{media.ErrUnsupported, codes.InvalidArgument, "MEDIA_UNSUPPORTED"},
	{media.ErrTooLarge, codes.ResourceExhausted, "MEDIA_TOO_LARGE"},
	{media.ErrUnavailable, codes.FailedPrecondition, "VIDEO_UNAVAILABLE"},
	{hashing.ErrBadHex, codes.InvalidArgument, "HASH_INVALID"},
	{hashing.ErrUnknownType, codes.InvalidArgument, "HASH_TYPE_UNKNOWN"},
	{hashing.ErrMismatch, codes.InvalidArgument, "HASH_INVALID"},
	{hashing.ErrHasher, codes.InvalidArgument, "MEDIA_INVALID"},
	{match.ErrInvalid, codes.InvalidArgument, "QUERY_INVALID"},
	{match.ErrOverBudget, codes.ResourceExhausted, "MATCH_WORK_BUDGET"},
	{store.ErrInvalid, codes.InvalidArgument, "INVALID_ARGUMENT"},
	{exchange.ErrInvalid, codes.InvalidArgument, "LIST_INVALID"},
	{exchange.ErrUnknownSignal, codes.InvalidArgument, "LIST_INVALID"},
	{store.ErrBankNotFound, codes.NotFound, "BANK_NOT_FOUND"},
	{store.ErrEntryNotFound, codes.NotFound, "ENTRY_NOT_FOUND"},
	{store.ErrBankExists, codes.AlreadyExists, "BANK_EXISTS"},
	{store.ErrBankNotEmpty, codes.FailedPrecondition, "BANK_NOT_EMPTY"},
	{store.ErrCompacted, codes.FailedPrecondition, "REVISION_COMPACTED"},
	{store.ErrSyncConflict, codes.Aborted, "SYNC_CURSOR_MOVED"},
	{store.ErrFutureRevision, codes.OutOfRange, "REVISION_IN_FUTURE"},
	{store.ErrCorrupt, codes.DataLoss, "STORE_DAMAGED"},
	{store.ErrClosed, codes.Unavailable, "SHUTTING_DOWN"},
	{store.ErrTokenNotFound, codes.NotFound, "TOKEN_NOT_FOUND"},
	{store.ErrTokenExists, codes.AlreadyExists, "TOKEN_EXISTS"},
	{errUnauthenticated, codes.Unauthenticated, "UNAUTHENTICATED"},
	{errPermissionDenied, codes.PermissionDenied, "PERMISSION_DENIED"},
	{errInvalidRequest, codes.InvalidArgument, "INVALID_ARGUMENT"},
	{errTooLarge, codes.ResourceExhausted, "UPLOAD_TOO_LARGE"},
	{errUploadBusy, codes.ResourceExhausted, "UPLOAD_BUDGET_IN_USE"},
	{errOverServerBudget, codes.ResourceExhausted, "SERVER_BUDGET"},
	{errGIFTimeout, codes.ResourceExhausted, "MEDIA_TOO_LARGE"},
	{errUploadTimeout, codes.DeadlineExceeded, "UPLOAD_TIMEOUT"},
	{errRateLimited, codes.ResourceExhausted, "RATE_LIMITED"},
	{context.Canceled, codes.Canceled, "CANCELLED"},
	{context.DeadlineExceeded, codes.DeadlineExceeded, "DEADLINE_EXCEEDED"},
}

// Errors of the server's own checks.
var (
	// errInvalidRequest reports a request that breaks the API's rules.
	errInvalidRequest = errors.New("invalid request")
	// errTooLarge reports an upload over the server's byte budget.
	errTooLarge = errors.New("over the size limit")
	// errGIFTimeout reports an animated GIF that took longer than
	// Options.GIFTimeout to decode, as a video over Media.VideoTimeout
	// is media.ErrTooLarge.
	errGIFTimeout = errors.New("decoding took too long")
	// errOverServerBudget reports a decode or an upload that needs more
	// than the whole of a server-wide budget, so could never run.
	errOverServerBudget = errors.New("over the server's budget")
)

// Errors of authentication and authorization.
var (
	// errUnauthenticated reports a call without a valid token: none, an
	// unknown, expired or revoked one, or a certificate without a token.
	errUnauthenticated = errors.New("unauthenticated")
	// errPermissionDenied reports a valid token whose role may not make
	// the call, or that names a bank the token is not granted.
	errPermissionDenied = errors.New("permission denied")
)

// toStatus turns an error into a gRPC status with an ErrorInfo detail.
// Known errors keep their message, which is written for people and holds
// no internal paths; anything else becomes Internal with a generic message
// (and is logged). Damage found in the store is DataLoss: that call fails,
// the server goes on.
func toStatus(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	for _, row := range codeTable {
		if errors.Is(err, row.err) {
			st := status.New(row.code, err.Error())
			details := []protoadapt.MessageV1{&errdetails.ErrorInfo{Reason: row.reason, Domain: errorDomain}}
			var retry *retryError
			if errors.As(err, &retry) {
				details = append(details, &errdetails.RetryInfo{RetryDelay: durationpb.New(retry.after)})
			}
			if d, derr := st.WithDetails(details...); derr == nil {
				st = d
			}
			return st.Err()
		}
	}
	return status.Error(codes.Internal, "internal error")
}
