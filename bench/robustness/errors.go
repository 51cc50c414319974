package robustness

import "errors"

// Errors reading corpus images.
var (
	// ErrUndecodable reports a file that is not a PNG or JPEG image Go can
	// decode.
	ErrUndecodable = errors.New("not a decodable PNG or JPEG image")
	// ErrTooLarge reports an image whose header promises more than
	// maxPixels pixels.
	ErrTooLarge = errors.New("image too large")
)

// Errors of a benchmark run.
var (
	// ErrNoOriginals reports a run without a single usable original.
	ErrNoOriginals = errors.New("no usable originals")
	// ErrNoConn reports Options without a connection to a server.
	ErrNoConn = errors.New("no connection to a mediamatch server")
	// ErrServerFailing reports a run abandoned because most Match calls
	// failed: its figures would measure the failures, not the matcher.
	ErrServerFailing = errors.New("the server failed most Match calls")
)

// Errors building a corpus.
var (
	// ErrNotCorpusDir reports an output folder that holds files the corpus
	// builder did not write, which it therefore refuses to replace.
	ErrNotCorpusDir = errors.New("folder holds files other than corpus images")
)

// Errors of the video benchmark.
var (
	// ErrNoFFmpeg reports that ffmpeg, which makes the benchmark's videos,
	// is not installed.
	ErrNoFFmpeg = errors.New("ffmpeg is not installed")
	// ErrUnknownEdit reports a re-edit class the benchmark does not have.
	ErrUnknownEdit = errors.New("unknown video re-edit")
)
