#!/usr/bin/env node
// The `trinity` command of @pi-builder/core: the Rust CLI (crate cli/, the same code as the
// `trinity` binary and the Python wheel's console script) run through the addon.
'use strict';
const { runCli } = require('../native/index.js');
process.exitCode = runCli(['trinity', ...process.argv.slice(2)]);
