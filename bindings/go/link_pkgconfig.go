//go:build trinity_pkgconfig && !trinity_dev

package trinity

// -tags trinity_pkgconfig: the libtrinity installed on the system (`make install`, or the
// libtrinity tarball with PKG_CONFIG_PATH pointing at its lib/pkgconfig), found through pkg-config.

// #cgo pkg-config: trinity
import "C"
