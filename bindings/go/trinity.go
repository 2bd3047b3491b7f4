// Package trinity is the Go binding of trinity-core: the LLM client (Chat, ChatStream with
// context cancellation), the mock provider server, the model registry, exact token counts for
// OpenAI encodings, config parsing, and run guards for agent loops (RunGuard), through
// libtrinity's C ABI (include/trinity.h).
//
// How libtrinity is linked (link_*.go): by default the module's own prebuilt static library for
// linux/amd64 (as `go get` delivers it); -tags trinity_pkgconfig for an installed libtrinity found
// through pkg-config; -tags trinity_dev for this repository's builds, with CGO_CFLAGS=-I<repo>/include
// and CGO_LDFLAGS="-L<libdir> -Wl,-rpath,<libdir>" (mk/go.mk sets both). Everything here converts
// Go values and calls C; the logic is in the core.
// All functions and Client, MockServer, Registry and RunGuard methods are safe for concurrent
// use; a Stream is read by one goroutine.
package trinity

/*
#include "trinity.h"
*/
import "C"

// Version is the version of the linked libtrinity, e.g. "0.1.0".
func Version() string { return C.GoString(C.trinity_version()) }

// ABIVersion is the C ABI version of the linked libtrinity.
func ABIVersion() uint32 { return uint32(C.trinity_abi_version()) }

// HeaderABIVersion is the ABI version of the header this package was compiled against;
// it differs from ABIVersion only when the library on the load path is another build.
const HeaderABIVersion = uint32(C.TRINITY_ABI_VERSION)
