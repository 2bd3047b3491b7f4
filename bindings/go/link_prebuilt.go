//go:build !trinity_pkgconfig && !trinity_dev

package trinity

// The default, as `go get` users have it: the module carries include/trinity.h and a prebuilt
// static libtrinity for linux/amd64 (lib/linux-amd64/libtrinity.a, glibc 2.17 or newer), so
// nothing but a C compiler is needed. Build with -tags trinity_pkgconfig to link an installed
// libtrinity through pkg-config instead (make install, or the libtrinity tarball).

/*
#cgo CFLAGS: -I${SRCDIR}/include
#cgo linux,amd64 LDFLAGS: -L${SRCDIR}/lib/linux-amd64 -ltrinity -lgcc_s -lutil -lrt -lpthread -lm -ldl
*/
import "C"

import (
	// Imported so that `go mod vendor` keeps these directories (it keeps only Go packages).
	_ "example.invalid/trinity-core/bindings/go/include"
	_ "example.invalid/trinity-core/bindings/go/lib/linux-amd64"
)
