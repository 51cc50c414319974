//go:build !race

package media

// raceDetector: see race_test.go.
const raceDetector = false
