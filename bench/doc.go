// Package bench holds the benchmarks of lisa-go against the hand-written
// baseline ("bare": what a careful engineer writes from the API docs' Go
// sample) and against the limits under both (raw SHA-256, a loopback round
// trip). Run them with
//
//	go test -bench . ./bench/
//
// and compare with bench/compare.sh, which alternates SDK and baseline in one
// process over several rounds and prints median ratios.
package bench
