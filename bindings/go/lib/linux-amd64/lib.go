// Package linuxamd64 holds the prebuilt static libtrinity.a for linux/amd64 in the published
// module (the repository does not commit it; make dist and make test-packages add it). It has no
// Go code: the Go package exists so that `go mod vendor` keeps this directory.
package linuxamd64
