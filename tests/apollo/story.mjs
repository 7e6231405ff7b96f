// The client story with Apollo Client 4, as a frontend runs it, against a running foodgraph:
// `node tests/apollo/story.mjs` with FOODGRAPH_URL (…/graphql) and a manager's
// FOODGRAPH_MANAGER_USERNAME / FOODGRAPH_MANAGER_PASSWORD (tests/test_apollo_client.py sets
// them, with a short JWT_ACCESS_TOKEN_LIFETIME on the server).
//
// After each step the cache, read without a refetch, must equal what the server answers to
// the same query sent fresh (a new client, network-only). Every step runs even when an
// earlier one failed; each failure prints what went over the wire during that step. The exit
// status is 1 when any step failed.

import assert from "node:assert/strict";
import { createHash } from "node:crypto";

import {
  ApolloClient,
  ApolloLink,
  CombinedGraphQLErrors,
  HttpLink,
  InMemoryCache,
  ServerError,
  gql,
} from "@apollo/client";
import { SetContextLink } from "@apollo/client/link/context";
import { ErrorLink } from "@apollo/client/link/error";
import { PersistedQueryLink } from "@apollo/client/link/persisted-queries";
import { relayStylePagination } from "@apollo/client/utilities";
import { from, mergeMap } from "rxjs";

const ENDPOINT = process.env.FOODGRAPH_URL;
const MANAGER = {
  username: process.env.FOODGRAPH_MANAGER_USERNAME,
  password: process.env.FOODGRAPH_MANAGER_PASSWORD,
};
assert.ok(ENDPOINT && MANAGER.username && MANAGER.password, "FOODGRAPH_URL and a manager");

// Documents.

const MENU_PAGE = gql`
  query MenuPage($first: Int!, $after: String, $order: MenuItemOrder) {
    menuItems(first: $first, after: $after, order: $order) {
      totalCount
      edges { cursor node { id title price category { id title } } }
      pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    }
  }
`;
const HOME = gql`
  query Home { me { id } categories { title } cart { total } }
`;
const CATEGORIES = gql`
  query Categories { categories { id slug title } }
`;
// Sent by the persisted-query step only, so that its first request is the server's first.
const CATEGORY_LIST = gql`
  query CategoryList { categories { id title } }
`;
const ME = gql`
  query Me { me { id username email roles } }
`;
const CART_FIELDS = gql`
  fragment CartFields on Cart {
    id itemCount total
    items { id quantity unitPrice lineTotal menuItem { id title price } }
  }
`;
const CART = gql`
  query MyCart { cart { ...CartFields } }
  ${CART_FIELDS}
`;
const MESSAGES = "... on OperationInfo { messages { kind code field message } }";
const ADD_TO_CART = gql`
  mutation AddToCart($menuItemId: ID!, $quantity: Int!) {
    addToCart(menuItemId: $menuItemId, quantity: $quantity) {
      __typename ...CartFields ${MESSAGES}
    }
  }
  ${CART_FIELDS}
`;
const UPDATE_CART_ITEM = gql`
  mutation ChangeCartQuantity($itemId: ID!, $quantity: Int!) {
    updateCartItem(itemId: $itemId, quantity: $quantity) { __typename ...CartFields ${MESSAGES} }
  }
  ${CART_FIELDS}
`;
const REMOVE_FROM_CART = gql`
  mutation RemoveFromCart($itemId: ID!) {
    removeFromCart(itemId: $itemId) { __typename ...CartFields ${MESSAGES} }
  }
  ${CART_FIELDS}
`;
const ORDER_FIELDS = gql`
  fragment OrderFields on Order {
    id status total createdAt
    items { id title quantity unitPrice lineTotal }
  }
`;
const PLACE_ORDER = gql`
  mutation PlaceOrder {
    createOrderFromCart {
      __typename
      ...OrderFields
      ... on Order { placedFromCart { id itemCount total items { id } } }
      ${MESSAGES}
    }
  }
  ${ORDER_FIELDS}
`;
const ORDER = gql`
  query OrderDetail($id: ID!) { order(id: $id) { ...OrderFields } }
  ${ORDER_FIELDS}
`;
const MY_ORDERS = gql`
  query MyOrders($first: Int!, $after: String) {
    orders(first: $first, after: $after, order: { createdAt: DESC }) {
      totalCount
      edges { cursor node { ...OrderFields } }
      pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    }
  }
  ${ORDER_FIELDS}
`;
const REGISTER = gql`
  mutation SignUp($input: RegisterInput!) {
    register(input: $input) { __typename ... on User { id username } ${MESSAGES} }
  }
`;
const SIGN_IN = gql`
  mutation LogIn($username: String!, $password: String!) {
    tokenAuth(username: $username, password: $password) {
      token refreshToken user { id username }
    }
  }
`;
const REFRESH = gql`
  mutation RefreshToken($refreshToken: String!) {
    refreshToken(refreshToken: $refreshToken) { token refreshToken }
  }
`;
const CREATE_MENU_ITEM = gql`
  mutation CreateMenuItem($input: CreateMenuItemInput!) {
    createMenuItem(input: $input) { __typename ... on MenuItem { id title } ${MESSAGES} }
  }
`;

// What went over the wire, for the checks on requests and for the failure reports.

const wire = [];

function recordingFetch(clientName) {
  return async (url, init) => {
    const request = JSON.parse(init.body);
    const response = await fetch(url, init);
    wire.push({
      client: clientName,
      operationName: request.operationName,
      fullQuery: typeof request.query === "string",
      persistedQuery: request.extensions?.persistedQuery,
      authorization: new Headers(init.headers).get("authorization"),
      status: response.status,
      contentType: response.headers.get("content-type"),
      answer: await response.clone().text(),
    });
    return response;
  };
}

// The client: cache, links, refresh.

// The codes that mean "sign in again or refresh": the token is stale or not ours.
const AUTH_ERROR_CODES = new Set(["TOKEN_EXPIRED", "UNAUTHENTICATED"]);

/** One user's tokens, shared by every client of that user (tabs, the reference client). */
class Session {
  token = null;
  refreshToken = null;
  refreshing = null;

  signIn({ token, refreshToken }) {
    this.token = token;
    this.refreshToken = refreshToken;
  }

  /** Single flight: every request that failed with `staleToken` waits for the same
   * refreshToken call; one that failed with an older token retries at once. */
  refresh(staleToken, client) {
    if (staleToken !== this.token) return Promise.resolve();
    this.refreshing ??= client
      .mutate({
        mutation: REFRESH,
        variables: { refreshToken: this.refreshToken },
        context: { anonymous: true },
      })
      .then(({ data }) => this.signIn(data.refreshToken))
      .finally(() => {
        this.refreshing = null;
      });
    return this.refreshing;
  }

  /** When the access token expires, in ms since the epoch (its `exp` claim). */
  expiresAt() {
    const claims = JSON.parse(Buffer.from(this.token.split(".")[1], "base64url").toString());
    return claims.exp * 1000;
  }
}

function createCache() {
  return new InMemoryCache({
    typePolicies: {
      Query: {
        fields: {
          menuItems: relayStylePagination(["filters", "order"]),
          orders: relayStylePagination(["filters", "order"]),
        },
      },
    },
  });
}

function createClient(session, { name, persistedQueries = true }) {
  // Retries an operation once after a refresh when its token was stale.
  const refreshLink = new ErrorLink(({ error, operation, forward }) => {
    const { anonymous, refreshed, token } = operation.getContext();
    const stale =
      CombinedGraphQLErrors.is(error) &&
      error.errors.some((e) => AUTH_ERROR_CODES.has(e.extensions?.code));
    if (!stale || anonymous || refreshed || !token || !session.refreshToken) return;
    return from(session.refresh(token, client)).pipe(
      mergeMap(() => {
        operation.setContext({ refreshed: true });
        return forward(operation);
      }),
    );
  });
  // Runs again on a retry, so the retry carries the new token.
  const authLink = new SetContextLink(({ headers, anonymous }) =>
    anonymous || !session.token
      ? { token: null }
      : { token: session.token, headers: { ...headers, authorization: `JWT ${session.token}` } },
  );
  const persistedQueryLink = new PersistedQueryLink({
    sha256: (query) => createHash("sha256").update(query).digest("hex"),
  });
  const httpLink = new HttpLink({ uri: ENDPOINT, fetch: recordingFetch(name) });
  const client = new ApolloClient({
    cache: createCache(),
    link: ApolloLink.from(
      [refreshLink, authLink, persistedQueries && persistedQueryLink, httpLink].filter(Boolean),
    ),
  });
  return client;
}

// Checks.

/** What the server answers to `query` sent fresh: a new client and cache, network-only (the
 * same type policies, so that a connection reads as one page does). */
async function fresh(session, query, variables) {
  const reference = createClient(session, { name: "reference", persistedQueries: false });
  try {
    return await reference.query({
      query,
      variables,
      fetchPolicy: "network-only",
      errorPolicy: "all",
    });
  } finally {
    reference.stop();
  }
}

/** The fresh answer's data, which must come without errors. */
async function freshData(session, query, variables) {
  const { data, error } = await fresh(session, query, variables);
  if (error) throw error;
  return data;
}

/** The cache holds what the server answers now, read without a refetch. */
async function assertCacheIsFresh(client, session, query, variables) {
  const cached = client.readQuery({ query, variables });
  const answer = await freshData(session, query, variables);
  assert.deepStrictEqual(cached, answer, `the cache's ${operationName(query)} is the server's`);
}

/** A watched query and the results it has delivered. */
function watch(client, query, variables) {
  const observable = client.watchQuery({ query, variables });
  const results = [];
  const subscription = observable.subscribe({
    next: (result) => results.push(result),
    error: (error) => results.push({ error }),
  });
  return {
    observable,
    latest: () => results.at(-1),
    /** The data of its first complete answer; its error if it failed. */
    async loaded() {
      await eventually(() => assert.ok(results.some((result) => !result.loading)));
      const result = results.find((result) => !result.loading);
      if (result.error) throw result.error;
      return result.data;
    },
    stop: () => subscription.unsubscribe(),
  };
}

/** Retries `check` until it passes, or throws its last failure after `ms`. */
async function eventually(check, ms = 2000) {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      return check();
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await sleep(20);
    }
  }
}

/** The watched query's data once it is `expected` (it may take a tick to deliver). */
async function assertWatched(watched, expected, what) {
  await eventually(() => {
    const result = watched.latest();
    if (result?.error) throw result.error;
    assert.deepStrictEqual(result?.data, expected, `the watched ${what} shows the server's`);
  });
}

/** The payload of a mutation answering `Type | OperationInfo`, which must be a `typename`. */
function payload(data, field, typename) {
  const answer = data[field];
  assert.equal(answer.__typename, typename, `${field} answered ${JSON.stringify(answer)}`);
  return answer;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const cents = (decimal) => Math.round(Number(decimal) * 100);
const money = (amount) => (amount / 100).toFixed(2);
const operationName = (document) =>
  document.definitions.find((d) => d.kind === "OperationDefinition").name.value;

// The story.

const customer = new Session();
const client = createClient(customer, { name: "customer" });
const anonymous = new Session();
const steps = [];
const step = (name, run) => steps.push({ name, run });

step("anonymous menu: two pages with fetchMore, merged in the cache", async () => {
  const menu = watch(client, MENU_PAGE, { first: 5 });
  try {
    const { endCursor } = (await menu.loaded()).menuItems.pageInfo;
    await menu.observable.fetchMore({ variables: { after: endCursor } });
    // Two pages of 5 in the cache are the first 10 on the server.
    const cached = client.readQuery({ query: MENU_PAGE, variables: { first: 5 } });
    const answer = await freshData(anonymous, MENU_PAGE, { first: 10 });
    assert.deepStrictEqual(cached, answer, "the two merged pages are the server's first 10");
    await assertWatched(menu, answer, "menu");
  } finally {
    menu.stop();
  }
});

step("anonymous home screen: the menu, with me and cart null", async () => {
  const { data, error } = await client.query({ query: HOME, errorPolicy: "all" });
  const { categories } = await freshData(anonymous, CATEGORIES);
  assert.deepStrictEqual(
    data,
    {
      me: null,
      categories: categories.map(({ title }) => ({ __typename: "Category", title })),
      cart: null,
    },
    `the home screen keeps the menu (errors: ${JSON.stringify(error?.errors)})`,
  );
  assert.ok(CombinedGraphQLErrors.is(error), `the cart's refusal is a GraphQL error: ${error}`);
  assert.deepStrictEqual(
    error.errors.map((e) => [e.path, e.extensions?.code]),
    [[["cart"], "UNAUTHENTICATED"]],
  );
  const answer = await fresh(anonymous, HOME);
  assert.deepStrictEqual(client.readQuery({ query: HOME }), answer.data, "the cache's Home");
});

const credentials = {
  username: `apollo${Date.now()}`,
  password: "Apollo-story-passw0rd",
};

step("register and tokenAuth: signed in, me in the cache", async () => {
  const { data: registered } = await client.mutate({
    mutation: REGISTER,
    variables: { input: { ...credentials, email: `${credentials.username}@example.com` } },
  });
  const user = payload(registered, "register", "User");
  const { data } = await client.mutate({ mutation: SIGN_IN, variables: credentials });
  customer.signIn(data.tokenAuth);
  assert.equal(data.tokenAuth.user.id, user.id);
  // As an app does on signing in: nothing cached as the anonymous caller stays.
  await client.resetStore();
  const { data: me } = await client.query({ query: ME });
  assert.equal(me.me.username, credentials.username);
  await assertCacheIsFresh(client, customer, ME);
});

// The cart screen, watched from adding the first item to placing the order.
let cartScreen;
// Two menu items: the first goes into the order, the second is added and removed again.
let dishes;

step("addToCart: the watched cart shows the new lines, count and total", async () => {
  const menu = await freshData(anonymous, MENU_PAGE, { first: 2 });
  dishes = menu.menuItems.edges.map(({ node }) => node);
  cartScreen = watch(client, CART);
  assert.equal((await cartScreen.loaded()).cart.itemCount, 0, "a new customer's cart is empty");
  for (const [dish, quantity] of [
    [dishes[0], 2],
    [dishes[1], 1],
  ]) {
    const { data } = await client.mutate({
      mutation: ADD_TO_CART,
      variables: { menuItemId: dish.id, quantity },
    });
    payload(data, "addToCart", "Cart");
  }
  const answer = await freshData(customer, CART);
  assert.equal(answer.cart.itemCount, 3);
  assert.equal(answer.cart.total, money(2 * cents(dishes[0].price) + cents(dishes[1].price)));
  await assertWatched(cartScreen, answer, "cart");
  await assertCacheIsFresh(client, customer, CART);
});

function cartLine(cart, dish) {
  const line = cart.items.find((item) => item.menuItem.id === dish.id);
  assert.ok(line, `a line of ${dish.title} in ${JSON.stringify(cart)}`);
  return line;
}

function assertCartAddsUp(cart) {
  const count = cart.items.reduce((sum, item) => sum + item.quantity, 0);
  const total = cart.items.reduce((sum, item) => sum + cents(item.lineTotal), 0);
  assert.equal(cart.itemCount, count, "itemCount is the lines' quantities added up");
  assert.equal(cart.total, money(total), "total is the lines' totals added up");
}

step("updateCartItem: line quantity, cart total and count agree", async () => {
  const line = cartLine((await freshData(customer, CART)).cart, dishes[0]);
  const { data } = await client.mutate({
    mutation: UPDATE_CART_ITEM,
    variables: { itemId: line.id, quantity: 4 },
  });
  payload(data, "updateCartItem", "Cart");
  const answer = await freshData(customer, CART);
  assert.equal(cartLine(answer.cart, dishes[0]).quantity, 4);
  assertCartAddsUp(answer.cart);
  await assertWatched(cartScreen, answer, "cart");
  assertCartAddsUp(cartScreen.latest().data.cart);
  await assertCacheIsFresh(client, customer, CART);
});

step("removeFromCart: the line goes, count and total follow", async () => {
  const line = cartLine((await freshData(customer, CART)).cart, dishes[1]);
  const { data } = await client.mutate({
    mutation: REMOVE_FROM_CART,
    variables: { itemId: line.id },
  });
  payload(data, "removeFromCart", "Cart");
  const answer = await freshData(customer, CART);
  assert.deepStrictEqual(
    answer.cart.items.map((item) => item.menuItem.id),
    [dishes[0].id],
  );
  assertCartAddsUp(answer.cart);
  await assertWatched(cartScreen, answer, "cart");
  await assertCacheIsFresh(client, customer, CART);
});

step("createOrderFromCart: the order, and the emptied cart it answers with", async () => {
  try {
    const { data } = await client.mutate({ mutation: PLACE_ORDER });
    const order = payload(data, "createOrderFromCart", "Order");
    assert.equal(order.total, money(4 * cents(dishes[0].price)));
    assert.equal(order.placedFromCart.itemCount, 0, "the returned cart is empty");
    const cachedOrder = client.readFragment({
      id: client.cache.identify(order),
      fragment: ORDER_FIELDS,
    });
    const { order: answer } = await freshData(customer, ORDER, { id: order.id });
    assert.deepStrictEqual(cachedOrder, answer, "the cache's order is the server's");
    const cart = await freshData(customer, CART);
    assert.equal(cart.cart.itemCount, 0);
    assert.equal(cart.cart.total, "0.00");
    await assertWatched(cartScreen, cart, "cart");
    await assertCacheIsFresh(client, customer, CART);
    await client.query({ query: MY_ORDERS, variables: { first: 5 } });
    await assertCacheIsFresh(client, customer, MY_ORDERS, { first: 5 });
  } finally {
    cartScreen?.stop();
  }
});

step("the access token expires: two queries at once, one refresh, both answered", async () => {
  assert.ok(customer.token, "signed in by the tokenAuth step");
  await sleep(customer.expiresAt() + 1000 - Date.now());
  const before = wire.length;
  const staleToken = customer.token;
  const [me, orders] = await Promise.allSettled([
    client.query({ query: ME, fetchPolicy: "network-only" }),
    client.query({ query: MY_ORDERS, variables: { first: 5 }, fetchPolicy: "network-only" }),
  ]);
  for (const result of [me, orders]) if (result.status === "rejected") throw result.reason;
  const sent = wire.slice(before);
  // Answered ones: PersistedQueryLink may send a refresh twice (its hash, then the query).
  const refreshes = sent.filter(
    (exchange) => exchange.operationName === "RefreshToken" && exchange.status === 200,
  );
  assert.equal(refreshes.length, 1, "one refreshToken call for both");
  const stale = sent.filter((exchange) => exchange.authorization === `JWT ${staleToken}`);
  assert.deepStrictEqual(
    stale.map((exchange) => exchange.operationName).sort(),
    ["Me", "MyOrders"],
    "both went out with the expired token first",
  );
  for (const exchange of stale) {
    const codes = JSON.parse(exchange.answer).errors?.map((e) => e.extensions?.code);
    assert.deepStrictEqual(codes, ["TOKEN_EXPIRED"], `the expired token: ${exchange.answer}`);
  }
  assert.notEqual(customer.token, staleToken);
  assert.equal(me.value.data.me.username, credentials.username);
  assert.deepStrictEqual(orders.value.data, await freshData(customer, MY_ORDERS, { first: 5 }));
  await assertCacheIsFresh(client, customer, ME);
});

// Public screens, on a visitor's client (signed in or not, the menu is the same).
const visitor = createClient(anonymous, { name: "visitor" });

step("a manager adds a menu item between two pages: fetchMore shows no item twice", async () => {
  const order = { title: "ASC" };
  const menu = watch(visitor, MENU_PAGE, { first: 5, order });
  try {
    const firstPage = (await menu.loaded()).menuItems;
    // The manager, on their own client, adds an item that sorts into the page already seen.
    const manager = new Session();
    const managerClient = createClient(manager, { name: "manager" });
    const { data: signedIn } = await managerClient.mutate({
      mutation: SIGN_IN,
      variables: MANAGER,
    });
    manager.signIn(signedIn.tokenAuth);
    const category = firstPage.edges[0].node.category.id;
    const { data } = await managerClient.mutate({
      mutation: CREATE_MENU_ITEM,
      variables: { input: { title: "Aaa apollo special", price: "9.99", category } },
    });
    payload(data, "createMenuItem", "MenuItem");
    managerClient.stop();

    await menu.observable.fetchMore({ variables: { after: firstPage.pageInfo.endCursor } });
    const cached = visitor.readQuery({ query: MENU_PAGE, variables: { first: 5, order } });
    const ids = cached.menuItems.edges.map(({ node }) => node.id);
    assert.deepStrictEqual(
      ids.filter((id, index) => ids.indexOf(id) !== index),
      [],
      "no item twice in the merged list",
    );
    const secondPage = await freshData(anonymous, MENU_PAGE, {
      first: 5,
      after: firstPage.pageInfo.endCursor,
      order,
    });
    assert.deepStrictEqual(
      cached.menuItems.edges,
      [...firstPage.edges, ...secondPage.menuItems.edges],
      "the merged list is the first page, then the server's page after its end",
    );
  } finally {
    menu.stop();
  }
});

step("PersistedQueryLink: hash only, the full query once, then hash only", async () => {
  const before = wire.length;
  const answers = [];
  for (let i = 0; i < 3; i++) {
    const { data } = await visitor.query({ query: CATEGORY_LIST, fetchPolicy: "network-only" });
    answers.push(data);
  }
  const sent = wire
    .slice(before)
    .filter((exchange) => exchange.operationName === "CategoryList")
    .map(({ fullQuery, persistedQuery }) => ({
      fullQuery,
      hashed: /^[0-9a-f]{64}$/.test(persistedQuery?.sha256Hash),
    }));
  assert.deepStrictEqual(
    sent,
    [
      { fullQuery: false, hashed: true },
      { fullQuery: true, hashed: true },
      { fullQuery: false, hashed: true },
      { fullQuery: false, hashed: true },
    ],
    "requests of the new document",
  );
  const answer = await freshData(anonymous, CATEGORY_LIST);
  for (const data of answers) assert.deepStrictEqual(data, answer);
  await assertCacheIsFresh(visitor, anonymous, CATEGORY_LIST);
});

// Reports.

function describe(error) {
  if (CombinedGraphQLErrors.is(error)) {
    return `GraphQL errors ${JSON.stringify(error.errors)}, data ${JSON.stringify(error.data)}`;
  }
  if (ServerError.is(error)) return `${error.message}: ${error.bodyText}`;
  if (error instanceof assert.AssertionError) return error.message;
  return error?.stack ?? String(error);
}

function describeExchange(exchange) {
  const { fullQuery, persistedQuery, authorization, answer } = exchange;
  const sent = [fullQuery && "query", persistedQuery && "hash", authorization && "token"]
    .filter(Boolean)
    .join("+");
  const body = answer.length > 800 ? `${answer.slice(0, 800)}…` : answer;
  const { client: name, operationName: operation, status, contentType } = exchange;
  return `${name} ${operation} (${sent}) -> ${status} ${contentType}\n  ${body}`;
}

const indent = (text, prefix) => text.replace(/^/gm, prefix);

let failed = 0;
for (const { name, run } of steps) {
  const before = wire.length;
  try {
    await run();
    console.log(`ok    ${name}`);
  } catch (error) {
    failed += 1;
    console.log(`FAIL  ${name}\n${indent(describe(error), "    ")}`);
    const exchanges = wire.slice(before).map(describeExchange);
    if (exchanges.length) console.log(`  on the wire:\n${indent(exchanges.join("\n"), "    ")}`);
  }
}
console.log(`${steps.length - failed} of ${steps.length} steps passed`);
client.stop();
visitor.stop();
process.exit(failed ? 1 : 0);
