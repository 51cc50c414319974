//go:build !race

package server

// raceDetector: see race_test.go.
const raceDetector = false
