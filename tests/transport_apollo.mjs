// GraphQL over HTTP as Apollo Client 4 meets it: its default Accept, PersistedQueryLink over
// POST and GET, the legacy media type, errors, and trusted documents. tests/test_transport.py
// runs it against two servers on one database: FOODGRAPH_URL (every document allowed) and
// FOODGRAPH_TRUSTED_URL (FOODGRAPH_TRUSTED_DOCUMENTS=1). It prints one JSON object: what each
// check saw (results, and the requests that went over the wire); the test asserts on it.

import { createHash } from "node:crypto";
import { readFileSync, readdirSync } from "node:fs";

import { ApolloClient, CombinedGraphQLErrors, HttpLink, InMemoryCache, gql } from "@apollo/client";
import { PersistedQueryLink } from "@apollo/client/link/persisted-queries";
import { parse, separateOperations } from "graphql";

const sha256 = (text) => createHash("sha256").update(text).digest("hex");

// The shipped operations, as an app built from clients/operations sends them.
const OPERATIONS_DIR = new URL("../clients/operations/", import.meta.url);
const SHIPPED = separateOperations(
  parse(
    readdirSync(OPERATIONS_DIR)
      .filter((name) => name.endsWith(".graphql"))
      .sort()
      .map((name) => readFileSync(new URL(name, OPERATIONS_DIR), "utf8"))
      .join("\n"),
  ),
);

// A client of `uri`, and the log of its requests: method, status, media type, caching, and
// whether the document itself was sent.
function client(uri, { persisted = false, get = false, accept } = {}) {
  const requests = [];
  async function loggedFetch(url, init) {
    const response = await fetch(url, init);
    const sent = init.method === "GET" ? new URL(url).searchParams.get("query") : JSON.parse(init.body).query;
    requests.push({
      method: init.method,
      status: response.status,
      mediaType: response.headers.get("content-type"),
      cacheControl: response.headers.get("cache-control"),
      withQuery: Boolean(sent),
    });
    return response;
  }
  let link = new HttpLink({ uri, fetch: loggedFetch, headers: accept ? { accept } : {} });
  if (persisted) {
    link = new PersistedQueryLink({ sha256, useGETForHashedQueries: get }).concat(link);
  }
  return { apollo: new ApolloClient({ link, cache: new InMemoryCache() }), requests };
}

// The outcome of one query: its data, or its error's kind and codes.
async function run({ apollo, requests }, query, variables) {
  try {
    const { data } = await apollo.query({ query, variables, fetchPolicy: "network-only" });
    return { data, requests };
  } catch (error) {
    const codes = CombinedGraphQLErrors.is(error)
      ? error.errors.map((e) => e.extensions?.code)
      : null;
    return { error: error.name, codes, requests };
  }
}

const open = process.env.FOODGRAPH_URL;
const trusted = process.env.FOODGRAPH_TRUSTED_URL;
// A document per check, so that each first request is the server's first sight of it.
const names = (n) => gql(`query Names${n} { categories { title } }`);

const report = {
  apq: await run(client(open, { persisted: true }), names(1)),
  apqAgain: await run(client(open, { persisted: true }), names(1)),
  apqLegacy: await run(client(open, { persisted: true, accept: "application/json" }), names(2)),
  apqGet: await run(client(open, { persisted: true, get: true }), names(3)),
  apqGetAgain: await run(client(open, { persisted: true, get: true }), names(3)),
  invalid: await run(client(open), gql`query Invalid { categories { nope } }`),
  invalidLegacy: await run(client(open, { accept: "application/json" }), gql`query Invalid { categories { nope } }`),
  trustedByHash: await run(client(trusted, { persisted: true }), SHIPPED.MenuCategories),
  trustedByText: await run(client(trusted), SHIPPED.BrowseMenu, { first: 2 }),
  trustedGet: await run(client(trusted, { persisted: true, get: true }), SHIPPED.BrowseMenu, {
    first: 2,
  }),
  untrusted: await run(client(trusted, { persisted: true }), names(4)),
};
console.log(JSON.stringify(report));
