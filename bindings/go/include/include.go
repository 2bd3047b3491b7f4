// Package include holds trinity.h for the prebuilt build of the Go module; it has no Go code.
// (The Go package exists so that `go mod vendor` keeps this directory.)
package include
