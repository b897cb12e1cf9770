"use strict";
// src/core is the pure domain: it may import only other files under src/core. Anything else
// (npm packages, node builtins, adapters, services) is I/O or framework and belongs outside.
const path = require("node:path");

function coreRootOf(filename) {
  const norm = filename.split(path.sep).join("/");
  const idx = norm.lastIndexOf("/src/core/");
  return idx === -1 ? null : norm.slice(0, idx + "/src/core".length);
}

module.exports = {
  meta: {
    type: "problem",
    docs: { description: "src/core may import only from src/core" },
    schema: [],
    messages: {
      outside:
        "src/core must stay pure: '{{source}}' is outside src/core (move the I/O behind a port in src/adapters).",
    },
  },
  create(context) {
    const filename = context.filename ?? context.getFilename();
    const coreRoot = coreRootOf(filename);
    if (!coreRoot) return {};
    function check(node, source) {
      if (typeof source !== "string") return;
      if (!source.startsWith(".")) {
        context.report({ node, messageId: "outside", data: { source } });
        return;
      }
      const resolved = path.posix.normalize(
        path.posix.join(path.posix.dirname(filename.split(path.sep).join("/")), source),
      );
      if (resolved !== coreRoot && !resolved.startsWith(coreRoot + "/")) {
        context.report({ node, messageId: "outside", data: { source } });
      }
    }
    return {
      ImportDeclaration: (node) => check(node, node.source.value),
      ExportNamedDeclaration: (node) => node.source && check(node, node.source.value),
      ExportAllDeclaration: (node) => check(node, node.source.value),
      ImportExpression: (node) => node.source.type === "Literal" && check(node, node.source.value),
      CallExpression: (node) => {
        if (
          node.callee.type === "Identifier" &&
          node.callee.name === "require" &&
          node.arguments[0]?.type === "Literal"
        ) {
          check(node, node.arguments[0].value);
        }
      },
    };
  },
};
