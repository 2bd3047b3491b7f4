// @pi-builder/core's native half. The loader napi-rs generates (loader.js) finds the addon: the
// .node file beside it in a development checkout, or the platform package npm installs as an
// optional dependency (@pi-builder/core-linux-x64-gnu). Without either, this says which package
// is missing, instead of napi's generic message.
'use strict'

try {
  module.exports = require('./loader.js')
} catch (cause) {
  const { version } = require('../../package.json')
  let libc = ''
  if (process.platform === 'linux') {
    const report = process.report && typeof process.report.getReport === 'function' ? process.report.getReport() : null
    libc = report && report.header && report.header.glibcVersionRuntime ? '-gnu' : '-musl'
  }
  const platform = `${process.platform}-${process.arch}${libc}`
  const pkg = `@pi-builder/core-${platform}`
  const supported = platform === 'linux-x64-gnu'
  const error = new Error(
    `@pi-builder/core: the native addon for ${platform} is not installed. It ships in the package ` +
      `${pkg}@${version}, an optional dependency of @pi-builder/core: ` +
      (supported
        ? `install it (npm i ${pkg}@${version}), or reinstall without --omit=optional / --no-optional.`
        : `no prebuilt addon exists for ${platform} yet (prebuilt: linux-x64-gnu).`) +
      ` (${cause && cause.message ? cause.message.split('\n')[0] : cause})`,
    { cause },
  )
  error.code = 'TRINITY_NATIVE_MISSING'
  throw error
}
