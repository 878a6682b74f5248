// The JavaScript half of berth/lazy_bindings.py, preloaded into the jsii kernel's node process
// (NODE_OPTIONS=--require, which node processes started by that Python process inherit). The
// kernel loads a provider package with require(require.resolve("@cdktf/provider-aws")), whose
// lib/index.js requires every resource module (seconds for aws). The package ships
// lib/lazy-index.js beside it: the same exports, as getters that require a module on first use.
// This hook resolves a `@cdktf/provider-*` package to that file when it exists and leaves every
// other request alone.
"use strict";

const path = require("path");
const fs = require("fs");
const Module = require("module");

const PROVIDER_PACKAGE = /^@cdktf\/provider-[a-z0-9-]+$/;

const resolve = Module._resolveFilename;
Module._resolveFilename = function resolveProviderLazily(request, ...rest) {
  const resolved = resolve.call(this, request, ...rest);
  if (PROVIDER_PACKAGE.test(request) && path.basename(resolved) === "index.js") {
    const lazy = path.join(path.dirname(resolved), "lazy-index.js");
    if (fs.existsSync(lazy)) {
      return lazy;
    }
  }
  return resolved;
};
