// Copies GraphiQL's browser files from node_modules (installed by `npm ci` from package-lock.json)
// into graphiql/dist/, which Django's staticfiles serves as static/graphiql/ (STATICFILES_DIRS).
// foodgraph/templates/graphql/graphiql.html loads them from there, so the page needs no CDN.
// Run by `make graphiql-assets` and by the Dockerfile's assets stage; the output is not committed.
import { copyFileSync, mkdirSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const require = createRequire(import.meta.url);
const target = join(dirname(fileURLToPath(import.meta.url)), "dist");

// [package, file in the package, name in dist/]. The source maps go along because
// the minified files name them, and Django's manifest storage refuses a reference to a missing file.
const assets = [
  ["react", "umd/react.production.min.js", "react.production.min.js"],
  ["react-dom", "umd/react-dom.production.min.js", "react-dom.production.min.js"],
  ["graphiql", "graphiql.min.js", "graphiql.min.js"],
  ["graphiql", "graphiql.min.js.map", "graphiql.min.js.map"],
  ["graphiql", "graphiql.min.css", "graphiql.min.css"],
  ["graphiql", "graphiql.min.css.map", "graphiql.min.css.map"],
  ["@graphiql/plugin-explorer", "dist/index.umd.js", "plugin-explorer.umd.js"],
  ["@graphiql/plugin-explorer", "dist/style.css", "plugin-explorer.css"],
];

rmSync(target, { recursive: true, force: true });
mkdirSync(target, { recursive: true });
for (const [name, file, copy] of assets) {
  const packageDir = dirname(require.resolve(`${name}/package.json`));
  copyFileSync(join(packageDir, file), join(target, copy));
}
console.log(`GraphiQL assets: ${assets.length} files in ${target}`);
