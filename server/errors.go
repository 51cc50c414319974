package server

import (
	"context"
	"errors"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/mediamatch/mediamatch/hashing"
	"github.com/mediamatch/mediamatch/index"
	"github.com/mediamatch/mediamatch/media"
)

// codeTable maps the errors of the packages below the server to gRPC
// codes. It is the only place that does: handlers return errors wrapped
// with context and toStatus classifies them here.
var codeTable = []struct {
	err  error
	code codes.Code
}{
	{media.ErrInvalid, codes.InvalidArgument},
	{media.ErrUnsupported, codes.InvalidArgument},
	{media.ErrTooLarge, codes.ResourceExhausted},
	{media.ErrUnavailable, codes.FailedPrecondition},
	{hashing.ErrBadHex, codes.InvalidArgument},
	{hashing.ErrUnknownType, codes.InvalidArgument},
	{hashing.ErrMismatch, codes.InvalidArgument},
	{hashing.ErrHasher, codes.InvalidArgument},
	{index.ErrInvalid, codes.InvalidArgument},
	{index.ErrBankNotFound, codes.NotFound},
	{index.ErrEntryNotFound, codes.NotFound},
	{index.ErrBankExists, codes.AlreadyExists},
	{index.ErrBankNotEmpty, codes.FailedPrecondition},
	{errInvalidRequest, codes.InvalidArgument},
	{errTooLarge, codes.ResourceExhausted},
	{context.Canceled, codes.Canceled},
	{context.DeadlineExceeded, codes.DeadlineExceeded},
}

// Errors of the server's own checks.
var (
	// errInvalidRequest reports a request that breaks the API's rules.
	errInvalidRequest = errors.New("invalid request")
	// errTooLarge reports an upload over the server's byte budget.
	errTooLarge = errors.New("over the size limit")
)

// toStatus turns an error into a gRPC status. Known errors keep their
// message, which is written for people and holds no internal paths;
// anything else becomes Internal with a generic message (and is logged).
func toStatus(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	for _, row := range codeTable {
		if errors.Is(err, row.err) {
			return status.Error(row.code, err.Error())
		}
	}
	return status.Error(codes.Internal, "internal error")
}
