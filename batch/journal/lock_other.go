//go:build !unix

package journal

import "os"

// lock does nothing where flock is not available.
func lock(f *os.File) (func(), error) { return func() {}, nil }
