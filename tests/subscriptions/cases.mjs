// Subscriptions as clients run them: the npm graphql-ws client (what Apollo Client's
// GraphQLWsLink wraps), and the `ws` WebSocket for what no real client sends (malformed
// messages). Run by tests/test_subscriptions.py against running foodgraph servers:
//
//   node tests/subscriptions/cases.mjs <case>     (the case's settings in FOODGRAPH_CASE, JSON)
//
// Each case prints JSON lines: what it saw, for the test to check. A case that needs the
// server's subscriptions in place before it writes prints {"subscribed": ...} and waits for a
// line on stdin (the test sees them in Redis first).

import { createInterface } from "node:readline";

import { createClient } from "graphql-ws";
import WebSocket from "ws";

const config = JSON.parse(process.env.FOODGRAPH_CASE ?? "{}");
// The test's lines, read only by the cases that wait for one.
const lines = { next: () => createInterface({ input: process.stdin })[Symbol.asyncIterator]().next() };

const say = (line) => process.stdout.write(JSON.stringify(line) + "\n");
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// GraphQL over HTTP, for the writes and sign-ins around the subscriptions.
async function gql(server, query, variables = {}, token = null) {
  const headers = { "Content-Type": "application/json" };
  if (token) headers.Authorization = `JWT ${token}`;
  const response = await fetch(`http://${server}/graphql`, {
    method: "POST",
    headers,
    body: JSON.stringify({ query, variables }),
  });
  const body = await response.json();
  if (body.errors) throw new Error(`${query}: ${JSON.stringify(body.errors)}`);
  return body.data;
}

async function signIn(server, [username, password]) {
  const data = await gql(
    server,
    "mutation($u: String!, $p: String!) { tokenAuth(username: $u, password: $p) { token refreshToken payload } }",
    { u: username, p: password },
  );
  return data.tokenAuth;
}

// A new order of the customer whose token this is: one item in the cart, checked out.
async function placeOrder(server, token) {
  const menu = await gql(
    server,
    "{ menuItems(first: 1, filters: {available: true}) { edges { node { id } } } }",
  );
  await gql(
    server,
    "mutation($id: ID!) { addToCart(menuItemId: $id, quantity: 2) { __typename } }",
    { id: menu.menuItems.edges[0].node.id },
    token,
  );
  const placed = await gql(
    server,
    "mutation { createOrderFromCart { ... on Order { id } } }",
    {},
    token,
  );
  return placed.createOrderFromCart.id;
}

// A graphql-ws client; `token` goes in connection_init's payload, as Apollo's link sends it.
function client(server, token, options = {}) {
  return createClient({
    url: `ws://${server}/graphql`,
    webSocketImpl: WebSocket,
    connectionParams: token ? { Authorization: `JWT ${token}` } : undefined,
    retryAttempts: 0,
    ...options,
  });
}

// A subscription and what it receives: each `next`'s payload, its `error` (the errors, or the
// close that ended it), whether it completed.
function watch(graphqlWs, query, variables = {}) {
  const seen = { events: [], errors: null, closed: null, completed: false };
  graphqlWs.subscribe(
    { query, variables },
    {
      next: (result) => seen.events.push(result),
      error: (error) => {
        if (Array.isArray(error)) seen.errors = error;
        else seen.closed = { code: error.code, reason: error.reason };
      },
      complete: () => {
        seen.completed = true;
      },
    },
  );
  return seen;
}

async function until(condition, ms = 10000) {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) return false;
    await sleep(20);
  }
  return true;
}

// A raw WebSocket: the messages it receives, its close (code, reason), or its refused handshake.
function raw(server, { headers = {}, protocol = "graphql-transport-ws", path = "/graphql" } = {}) {
  const socket = new WebSocket(`ws://${server}${path}`, protocol ? [protocol] : [], { headers });
  const seen = { messages: [], closed: null, refused: null, opened: false, socket };
  seen.open = new Promise((resolve) => {
    socket.on("open", () => {
      seen.opened = true;
      resolve(true);
    });
    socket.on("unexpected-response", (request, response) => {
      seen.refused = response.statusCode;
      resolve(false);
    });
    socket.on("error", () => resolve(false));
  });
  socket.on("message", (data) => seen.messages.push(JSON.parse(data.toString())));
  seen.done = new Promise((resolve) => {
    socket.on("close", (code, reason) => {
      seen.closed = { code, reason: reason.toString() };
      resolve();
    });
    socket.on("unexpected-response", () => resolve());
  });
  return seen;
}

// The apps' own subscriptions (clients/operations/tracking.graphql), as the test hands them over;
// the cases that test the server's limits and refusals send documents of their own.
const { OrderTracking: ORDER_UPDATED, OrderFeed: ORDER_EVENTS } = config.operations;

const cases = {
  // The story: two servers sharing Redis; the customer on one, the manager and the
  // courier on the other; another customer on both.
  async story({ a, b, users, newCustomer }) {
    const customer = await signIn(a, users.customer);
    const manager = await signIn(b, users.manager);
    const courier = await signIn(b, users.courier);
    await gql(
      a,
      "mutation($input: RegisterInput!) { register(input: $input) { ... on User { id } } }",
      { input: newCustomer },
    );
    const other = await signIn(a, [newCustomer.username, newCustomer.password]);
    const order = await placeOrder(a, customer.token);
    const courierId = (await gql(b, "{ me { id } }", {}, courier.token)).me.id;

    const onA = client(a, customer.token);
    const seen = {
      updates: watch(onA, ORDER_UPDATED, { id: order }),
      customerEvents: watch(onA, ORDER_EVENTS),
      otherUpdates: watch(client(a, other.token), ORDER_UPDATED, { id: order }),
      otherEvents: watch(client(b, other.token), ORDER_EVENTS),
      courierEvents: watch(client(b, courier.token), ORDER_EVENTS),
      managerEvents: watch(client(a, manager.token), ORDER_EVENTS),
    };
    const sub = (tokenAuth) => tokenAuth.payload.sub;
    say({
      subscribed: {
        order,
        customer: sub(customer),
        other: sub(other),
        courier: sub(courier),
      },
    });
    await lines.next();

    await gql(
      b,
      "mutation($o: ID!, $c: ID!) { assignOrder(orderId: $o, deliveryCrewId: $c) { ... on Order { status } } }",
      { o: order, c: courierId },
      manager.token,
    );
    await until(() => seen.courierEvents.events.length === 1);
    await gql(
      b,
      "mutation($o: ID!) { markDelivered(orderId: $o) { ... on Order { status } } }",
      { o: order },
      courier.token,
    );
    await until(() =>
      ["updates", "customerEvents", "courierEvents", "managerEvents"].every(
        (name) => seen[name].events.length >= 2,
      ),
    );
    await sleep(500); // for anything late, to the other customer above all
    say({ seen, order, courierId });
  },

  // A token past its expiry at connection_init, a bad one, a malformed header.
  async refusedTokens({ server, tokens }) {
    const closes = {};
    for (const [name, token] of Object.entries(tokens)) {
      const socket = raw(server);
      await socket.open;
      socket.socket.send(JSON.stringify({ type: "connection_init", payload: { Authorization: token } }));
      await socket.done;
      closes[name] = socket.closed;
    }
    say({ closes });
  },

  // The token in the upgrade request's header, not in connection_init.
  async headerToken({ server, token }) {
    const socket = raw(server, { headers: { Authorization: `JWT ${token}` } });
    await socket.open;
    socket.socket.send(JSON.stringify({ type: "connection_init" }));
    socket.socket.send(
      JSON.stringify({ id: "1", type: "subscribe", payload: { query: "subscription { orderEvents { kind } }" } }),
    );
    await sleep(500);
    say({ messages: socket.messages, closed: socket.closed });
    socket.socket.close();
  },

  // A connection open past its token's expiry is closed with 4403; the client refreshes its
  // token and reconnects (as the README's Apollo setup does), and hears the next change.
  async expiry({ server, users }) {
    let session = await signIn(server, users.customer);
    const closes = [];
    const started = Date.now();
    const graphqlWs = createClient({
      url: `ws://${server}/graphql`,
      webSocketImpl: WebSocket,
      // Asked again at each connection: a fresh token once the last one expired.
      connectionParams: async () => {
        if (closes.length) {
          const data = await gql(
            server,
            "mutation($r: String!) { refreshToken(refreshToken: $r) { token refreshToken } }",
            { r: session.refreshToken },
          );
          session = { ...session, ...data.refreshToken };
        }
        return { Authorization: `JWT ${session.token}` };
      },
      retryAttempts: 3,
      retryWait: () => sleep(100),
      shouldRetry: (event) => event.code === 4403,
      on: { closed: (event) => closes.push({ code: event.code, reason: event.reason, at: Date.now() - started }) },
    });
    const order = await placeOrder(server, session.token);
    const seen = watch(graphqlWs, ORDER_EVENTS);
    await until(() => closes.length >= 1, 15000);
    await sleep(1000); // reconnected meanwhile, with the refreshed token
    const manager = await signIn(server, users.manager); // tokens are short-lived here
    await gql(
      server,
      "mutation($o: ID!) { cancelOrder(orderId: $o) { ... on Order { status } } }",
      { o: order },
      manager.token,
    );
    await until(() => seen.events.length >= 1);
    say({ closes, seen });
  },

  // The limits: subscriptions per connection, connections per user, per address.
  async perConnection({ server, token, most }) {
    const graphqlWs = client(server, token);
    const subscriptions = Array.from({ length: most + 1 }, () => watch(graphqlWs, ORDER_EVENTS));
    await until(() => subscriptions.some((seen) => seen.errors));
    say({ errors: subscriptions.map((seen) => seen.errors) });
  },

  async perUser({ server, token, most }) {
    const subscriptions = [];
    for (let n = 0; n <= most; n++) {
      const graphqlWs = client(server, token, { lazy: false });
      subscriptions.push(watch(graphqlWs, ORDER_EVENTS));
      await sleep(100);
    }
    await until(() => subscriptions.some((seen) => seen.closed));
    say({ closed: subscriptions.map((seen) => seen.closed) });
  },

  async perAddress({ server, most }) {
    const sockets = [];
    for (let n = 0; n <= most; n++) {
      const socket = raw(server);
      await socket.open;
      sockets.push(socket);
    }
    say({ opened: sockets.filter((s) => s.opened).length, refused: sockets.map((s) => s.refused) });
  },

  // No connection_init: closed with 4408 after the timeout.
  async initTimeout({ server }) {
    const started = Date.now();
    const socket = raw(server);
    await socket.open;
    await socket.done;
    say({ closed: socket.closed, seconds: (Date.now() - started) / 1000 });
  },

  // Each malformed message on a connection of its own (after connection_init where it is
  // one past the handshake); the close it got.
  async malformed({ server, token, messages, maxBytes }) {
    const closes = {};
    const init = JSON.stringify({ type: "connection_init", payload: { Authorization: `JWT ${token}` } });
    const all = { ...messages, oversized: "x".repeat(maxBytes + 1), binary: null };
    for (const [name, { before = [init], message }] of Object.entries(
      Object.fromEntries(Object.entries(all).map(([n, m]) => [n, typeof m === "object" && m ? m : { message: m }])),
    )) {
      const socket = raw(server);
      await socket.open;
      for (const text of before) socket.socket.send(text);
      if (before.length) await until(() => socket.messages.length >= 1, 2000);
      if (name === "binary") socket.socket.send(Buffer.from([1, 2, 3]));
      else socket.socket.send(message);
      await Promise.race([socket.done, sleep(3000)]);
      closes[name] = socket.closed;
      socket.socket.terminate();
    }
    say({ closes });
  },

  // Documents over the depth, alias, cost and token limits, a query, anonymous callers...:
  // each document's {query, variables, anonymous}.
  async refusedDocuments({ server, token, documents }) {
    const results = {};
    for (const [name, { query, variables = {}, anonymous = false }] of Object.entries(documents)) {
      const graphqlWs = client(server, anonymous ? null : token);
      const seen = watch(graphqlWs, query, variables);
      await until(() => seen.errors || seen.closed || seen.events.length);
      results[name] = seen;
      await graphqlWs.dispose();
    }
    say({ results });
  },

  // The server's pings on an idle connection, which the client answers.
  async keepalive({ server, token, seconds }) {
    const pings = [];
    const graphqlWs = client(server, token, { lazy: false, on: { ping: (received) => pings.push(received) } });
    await sleep(seconds * 1000);
    say({ pings });
    await graphqlWs.dispose();
  },

  // A subscription that falls too far behind a burst of events is dropped (1013).
  async slowConsumer({ server, users }) {
    const customer = await signIn(server, users.customer);
    const order = await placeOrder(server, customer.token);
    const seen = watch(client(server, customer.token), ORDER_UPDATED, { id: order });
    say({ subscribed: { order, customer: customer.payload.sub } });
    await lines.next(); // the test publishes its burst
    await until(() => seen.closed, 10000);
    say({ seen: { closed: seen.closed, events: seen.events.length } });
  },

  // Handshakes naming another Host, from a browser page of another origin, on another path.
  async handshakes({ server }) {
    const refused = {};
    for (const [name, headers] of Object.entries({
      "other host": { Host: "foodgraph.example" },
      "other origin": { Origin: "https://elsewhere.example" },
      "same origin": { Origin: `http://${server}` },
    })) {
      const socket = raw(server, { headers });
      await socket.open;
      refused[name] = socket.refused;
      socket.socket.terminate();
    }
    const elsewhere = raw(server, { path: "/admin/" });
    await elsewhere.open;
    say({ refused, status: elsewhere.refused });
  },

  // Redis goes away while the customer follows an order, and comes back: the test stops and
  // starts it at each line it is sent.
  async redisAway({ server, users }) {
    const customer = await signIn(server, users.customer);
    const manager = await signIn(server, users.manager);
    const courier = await signIn(server, users.courier);
    const courierId = (await gql(server, "{ me { id } }", {}, courier.token)).me.id;
    const order = await placeOrder(server, customer.token);
    const graphqlWs = client(server, customer.token);
    const updates = watch(graphqlWs, ORDER_UPDATED, { id: order });
    const assign = () =>
      gql(
        server,
        "mutation($o: ID!, $c: ID!) { assignOrder(orderId: $o, deliveryCrewId: $c) { ... on Order { status } } }",
        { o: order, c: courierId },
        manager.token,
      );
    say({ subscribed: { step: "listening", order } });
    await lines.next(); // Redis is down
    const started = Date.now();
    const during = await assign();
    const assignSeconds = (Date.now() - started) / 1000;
    await sleep(1000);
    const heardDuring = updates.events.length;
    const refused = watch(graphqlWs, ORDER_EVENTS);
    await until(() => refused.errors);
    say({ subscribed: { step: "refused" } });
    await lines.next(); // Redis is back
    let tries = 0;
    while (updates.events.length === heardDuring && tries++ < 20) {
      await assign();
      await until(() => updates.events.length > heardDuring, 500);
    }
    say({ during, assignSeconds, heardDuring, refused: refused.errors, after: updates.events });
  },

  // Subscribed when the server is sent SIGTERM: the close the client gets.
  async goingAway({ server, token }) {
    const seen = watch(client(server, token, { lazy: false }), ORDER_EVENTS);
    say({ subscribed: true });
    await until(() => seen.closed, 30000);
    say({ closed: seen.closed });
  },
};

await cases[process.argv[2]](config);
process.exit(0); // its clients' sockets closed with it
