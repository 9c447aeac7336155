'use strict'

// Loads the native addon that `npm run build` (napi build) puts beside this file.
// All behaviour lives in Rust (src/lib.rs over the root `freya` crate); see index.d.ts.
module.exports = require('./freya.node')
