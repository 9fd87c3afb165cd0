//go:build race

package template

// raceEnabled is set when the tests run with -race (slower: big tests shrink).
const raceEnabled = true
