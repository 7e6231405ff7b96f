// A graphql-codegen plugin (clients/codegen.yml): the trusted documents' manifest, the SHA-256
// of each document a client sends -> that document. The server reads it
// (http_runtime/persisted_documents.py): a client may send a document's hash alone, and with
// FOODGRAPH_TRUSTED_DOCUMENTS=1 nothing else runs.
//
// A client sends one operation with the fragments it uses (graphql's separateOperations), printed
// by graphql's print. Each is listed twice when they differ: as written, and as Apollo Client's
// InMemoryCache sends it, with __typename added to every selection set (the hash Apollo's
// PersistedQueryLink sends is of that text).
const { createHash } = require("node:crypto");
const { concatAST, print, separateOperations } = require("graphql");
const { addTypenameToDocument } = require("@apollo/client/utilities");

module.exports = {
  plugin(_schema, documents) {
    const files = [...documents].sort((a, b) => a.location.localeCompare(b.location));
    const operations = separateOperations(concatAST(files.map((file) => file.document)));
    const manifest = new Map();
    for (const document of Object.values(operations)) {
      for (const form of [document, addTypenameToDocument(document)]) {
        const text = print(form);
        manifest.set(createHash("sha256").update(text).digest("hex"), text);
      }
    }
    const sorted = [...manifest.entries()].sort(([a], [b]) => (a < b ? -1 : 1));
    return `${JSON.stringify(Object.fromEntries(sorted), null, 2)}\n`;
  },
};
