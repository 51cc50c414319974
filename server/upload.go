package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/mediamatch/mediamatch/media"
)

// Budgets of streamed uploads, each with the reason for its value.
const (
	// DefaultMaxUploadBytes bounds the bytes of all uploads the server
	// holds at once: four of the largest videos, or hundreds of photos;
	// without it every stream could hold a video's budget (six streams
	// of 256 MB took 3.4 GB).
	DefaultMaxUploadBytes = 2 << 30
	// DefaultStreamIdleTimeout is the longest an upload stream may send
	// nothing, its header included: far longer than any pause of a client
	// that is sending, short enough that held-open streams do not pile up.
	DefaultStreamIdleTimeout = 30 * time.Second
	// DefaultUploadTimeout bounds the receiving of one upload: a video's
	// 512 MiB at a little under 1 MB/s.
	DefaultUploadTimeout = 10 * time.Minute
	// sniffBytes is what an upload's type is judged from, at least: the
	// brands of an ISO media file's ftyp box (media.Sniff).
	sniffBytes = 512
)

// Errors of uploads.
var (
	// errUploadTimeout reports an upload stream that sent nothing for the
	// idle timeout, or took longer than the upload timeout.
	errUploadTimeout = errors.New("upload timed out")
	// errUploadBusy reports an upload of undeclared size that does not
	// fit the server's budget of upload bytes in flight.
	errUploadBusy = errors.New("upload budget in use")
)

// recvWithin calls recv, giving up when it has not returned within idle
// or when ctx ends: a stream's Recv cannot be interrupted, so it runs in
// a goroutine of its own, which the end of the call ends.
func recvWithin[T any](ctx context.Context, idle time.Duration, recv func() (T, error)) (T, error) {
	type result struct {
		v   T
		err error
	}
	ch := make(chan result, 1)
	go func() {
		v, err := recv()
		ch <- result{v, err}
	}()
	t := time.NewTimer(idle)
	defer t.Stop()
	select {
	case r := <-ch:
		return r.v, r.err
	case <-t.C:
		var zero T
		return zero, fmt.Errorf("%w: nothing received for %v (the stream idle timeout)", errUploadTimeout, idle)
	case <-ctx.Done():
		var zero T
		if errors.Is(context.Cause(ctx), errUploadTimeout) {
			return zero, context.Cause(ctx)
		}
		return zero, ctx.Err()
	}
}

// recvHeader receives an upload stream's first message within the idle
// timeout.
func recvHeader[T any](s *Server, ctx context.Context, recv func() (T, error)) (T, error) {
	m, err := recvWithin(ctx, s.opts.StreamIdleTimeout, recv)
	if err != nil && !errors.Is(err, errUploadTimeout) && ctx.Err() == nil {
		return m, fmt.Errorf("%w: reading the header: %v", errInvalidRequest, err)
	}
	return m, err
}

// streamHeader receives a stream's first message, which must be its
// header, and returns the header and the bank its parent names.
func streamHeader[M any, H interface {
	comparable
	GetParent() string
}](s *Server, ctx context.Context, recv func() (M, error), header func(M) H) (H, string, error) {
	var none H
	first, err := recvHeader(s, ctx, recv)
	if err != nil {
		return none, "", err
	}
	h := header(first)
	if h == none {
		return none, "", fmt.Errorf("%w: the first message must be the header", errInvalidRequest)
	}
	bank, err := parseBankName(h.GetParent(), false)
	return h, bank, err
}

// receiveChunks gathers an upload's chunks until the client closes its
// side, within the budgets: the size of its type (image or video, judged
// from its first bytes), the idle and total timeouts, and the server's
// bytes of uploads in flight. declared is the size the client announced,
// 0 if unknown: a declared upload waits for its bytes in the budget (in
// arrival order, until its deadline) before it is read; an undeclared one
// takes them as its chunks come and fails when they are not there. The
// caller calls release once it no longer needs the data.
func (s *Server) receiveChunks(ctx context.Context, declared int64, next func() ([]byte, error)) (data []byte, release func(), err error) {
	images, videos := s.uploadLimits()
	largest := max(images, videos)
	if declared < 0 {
		return nil, nil, fmt.Errorf("%w: negative size", errInvalidRequest)
	}
	if declared > largest {
		return nil, nil, fmt.Errorf("%w: the media is %d bytes, the limit is %d", errTooLarge, declared, largest)
	}
	ctx, cancel := context.WithTimeoutCause(ctx, s.opts.UploadTimeout,
		fmt.Errorf("%w: the upload took longer than %v (the upload timeout)", errUploadTimeout, s.opts.UploadTimeout))
	defer cancel()
	var reserved int64
	free := func() {
		s.uploads.release(reserved)
		reserved = 0
	}
	defer func() {
		if err != nil {
			free()
		}
	}()
	if declared > 0 {
		if err := s.uploads.acquire(ctx, declared, "this upload"); err != nil {
			if ctx.Err() != nil {
				return nil, nil, fmt.Errorf("waiting for room in the server's upload budget of %d MiB: %w", s.opts.MaxUploadBytes>>20, contextError(ctx))
			}
			return nil, nil, err
		}
		reserved = declared
	}
	// A declared upload goes into one buffer of its size, which is
	// reserved; an undeclared one is kept as its chunks, joined at the end.
	var chunks [][]byte
	if declared > 0 {
		chunks = [][]byte{make([]byte, 0, declared)}
	}
	var total int64
	limit, typed := largest, false
	for n := 0; ; n++ {
		if n > maxStreamChunks {
			return nil, nil, fmt.Errorf("%w: more than %d messages in one upload", errInvalidRequest, maxStreamChunks)
		}
		chunk, err := recvWithin(ctx, s.opts.StreamIdleTimeout, next)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, nil, err
		}
		total += int64(len(chunk))
		if declared > 0 && total > declared {
			return nil, nil, fmt.Errorf("%w: more than the %d bytes the header declared", errInvalidRequest, declared)
		}
		if declared == 0 {
			if 2*total > s.opts.MaxUploadBytes { // the chunks and their copy
				return nil, nil, fmt.Errorf("%w: an upload of over %d bytes, more than the server's upload budget of %d MiB holds; declare its size", errTooLarge, total, s.opts.MaxUploadBytes>>20)
			}
			if !s.uploads.tryAcquire(int64(len(chunk))) {
				return nil, nil, fmt.Errorf("%w: the server's budget of %d MiB for uploads in flight is taken; declare size_bytes in the header to wait for room, or retry",
					errUploadBusy, s.opts.MaxUploadBytes>>20)
			}
			reserved += int64(len(chunk))
		}
		if declared > 0 {
			chunks[0] = append(chunks[0], chunk...)
		} else {
			chunks = append(chunks, chunk)
		}
		if !typed && total >= sniffBytes {
			limit, typed = s.typeLimit(chunks, images, videos), true
		}
		if total > limit {
			return nil, nil, s.overLimit(chunks, limit)
		}
	}
	if !typed {
		if limit = s.typeLimit(chunks, images, videos); total > limit {
			return nil, nil, s.overLimit(chunks, limit)
		}
	}
	switch len(chunks) {
	case 0:
		return nil, free, nil
	case 1:
		return chunks[0], free, nil
	}
	// One buffer of the exact size; the chunks are garbage after the copy,
	// so the copy's bytes are reserved while both exist.
	if !s.uploads.tryAcquire(total) {
		return nil, nil, fmt.Errorf("%w: the server's budget of %d MiB for uploads in flight is taken; declare size_bytes in the header to wait for room, or retry",
			errUploadBusy, s.opts.MaxUploadBytes>>20)
	}
	reserved += total
	data = make([]byte, 0, total)
	for _, c := range chunks {
		data = append(data, c...)
	}
	s.uploads.release(reserved - total) // the chunks'
	reserved = total
	return data, free, nil
}

// holdMessage accounts the media bytes of a unary call (at most
// Options.MaxMessageBytes, already received) in the budget of uploads in
// flight for as long as the call needs them, and refuses the call when
// they do not fit: without it, calls waiting for decode memory would each
// hold their message, however many came.
func (s *Server) holdMessage(data []byte) (release func(), err error) {
	n := int64(len(data))
	if !s.uploads.tryAcquire(n) {
		return nil, fmt.Errorf("%w: the server's budget of %d MiB for uploads in flight is taken; retry", errUploadBusy, s.opts.MaxUploadBytes>>20)
	}
	return func() { s.uploads.release(n) }, nil
}

// contextError is ctx's error, or the cause it was given (the upload
// timeout).
func contextError(ctx context.Context) error {
	if c := context.Cause(ctx); errors.Is(c, errUploadTimeout) {
		return c
	}
	return ctx.Err()
}

// typeLimit is the upload limit for the media the chunks begin: the video
// budget for a video container, the image budget for anything else.
func (s *Server) typeLimit(chunks [][]byte, images, videos int64) int64 {
	if media.Sniff(head(chunks, sniffBytes)).IsVideo() {
		return videos
	}
	return images
}

// overLimit says which limit an upload is over.
func (s *Server) overLimit(chunks [][]byte, limit int64) error {
	kind := "an image"
	if f := media.Sniff(head(chunks, sniffBytes)); f.IsVideo() {
		kind = "a video"
	}
	return fmt.Errorf("%w: the media is over the limit of %d bytes for %s", errTooLarge, limit, kind)
}

// head is the first n bytes of the chunks, or all of them.
func head(chunks [][]byte, n int) []byte {
	var out []byte
	for _, c := range chunks {
		out = append(out, c[:min(len(c), n-len(out))]...)
		if len(out) == n {
			break
		}
	}
	return out
}

// uploadLimits are the largest image and video uploads.
func (s *Server) uploadLimits() (images, videos int64) {
	images, videos = s.opts.Media.MaxBytes, s.opts.Media.MaxVideoBytes
	if images <= 0 {
		images = media.DefaultMaxBytes
	}
	if videos <= 0 {
		videos = media.DefaultMaxVideoBytes
	}
	return images, videos
}

// nextChunk adapts an upload stream's Recv to receiveChunks: every message
// after the header must be a chunk.
func nextChunk[T interface{ GetChunk() []byte }](recv func() (T, error), isHeader func(T) bool) func() ([]byte, error) {
	return func() ([]byte, error) {
		msg, err := recv()
		if err != nil {
			return nil, err
		}
		if isHeader(msg) {
			return nil, fmt.Errorf("%w: a second header", errInvalidRequest)
		}
		return msg.GetChunk(), nil
	}
}
