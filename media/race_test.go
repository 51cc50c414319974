//go:build race

package media

// raceDetector is set when the tests run with -race, under which the
// heap is no measure of a decode: sync.Pool drops what it holds at random
// and the instrumented code allocates differently, so memory bounds are
// checked in ordinary runs only.
const raceDetector = true
