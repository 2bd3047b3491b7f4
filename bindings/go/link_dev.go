//go:build trinity_dev

package trinity

// -tags trinity_dev: this repository's own builds (mk/go.mk), with CGO_CFLAGS=-I<repo>/include
// and CGO_LDFLAGS="-L<libdir> -Wl,-rpath,<libdir>" pointing at target/debug.

// #cgo LDFLAGS: -ltrinity
import "C"
