// The subscribers of the subscription benchmark (bench/subscriptions.py drives them): npm
// graphql-ws clients, one WebSocket each, as apps hold them.
//
//   node bench/subscribers.mjs     (FOODGRAPH_BENCH names its plan, a JSON file)
//
// Lines on stdin say what to do; each answer is a JSON line on stdout:
//   warm      open one connection and close it, so that the worker has loaded what they need
//   idle      open the idle connections (OrderTracking of an order nothing changes); "ready"
//   active    open the active ones (OrderFeed), each hearing its own orders; "ready"
//   fanout    open the fan-out ones (OrderFeed of the manager: every change); "ready"
//   report    the events heard since the last report: [order id, sequence, received at (ms
//             since the epoch, performance.timeOrigin + performance.now())], and the closes
//   exit

import { readFileSync } from "node:fs";
import { createInterface } from "node:readline";

import { createClient } from "graphql-ws";
import WebSocket from "ws";

const plan = JSON.parse(readFileSync(process.env.FOODGRAPH_BENCH, "utf8"));
const say = (line) => process.stdout.write(JSON.stringify(line) + "\n");
const now = () => performance.timeOrigin + performance.now();

let heard = [];
const closes = [];

function connect(token, query, variables, onEvent) {
  return new Promise((resolve) => {
    const client = createClient({
      url: `ws://${plan.server}/graphql`,
      webSocketImpl: WebSocket,
      connectionParams: { Authorization: `JWT ${token}` },
      lazy: false,
      retryAttempts: 0,
      onNonLazyError: () => {},
      on: {
        connected: () => resolve(client),
        closed: (event) => closes.push(event.code),
      },
    });
    client.subscribe(
      { query, variables },
      {
        next: (result) => onEvent(result),
        error: (error) => closes.push(Array.isArray(error) ? JSON.stringify(error) : error.code),
        complete: () => {},
      },
    );
  });
}

// Opens them a few at a time: a thousand handshakes at once would measure the accept queue.
async function open(subscribers, query, variables, onEvent) {
  for (let start = 0; start < subscribers.length; start += 50) {
    await Promise.all(
      subscribers
        .slice(start, start + 50)
        .map((subscriber) => connect(subscriber.token, query, variables(subscriber), onEvent)),
    );
  }
}

const record = (result) => {
  const event = result.data?.orderEvents;
  if (event) heard.push([event.order?.id, event.sequence, now()]);
};

for await (const line of createInterface({ input: process.stdin })) {
  const command = line.trim();
  if (command === "warm") {
    const [first] = plan.idle;
    const client = await connect(first.token, plan.operations.OrderTracking, { id: first.order }, () => {});
    await new Promise((resolve) => setTimeout(resolve, 500));
    await client.dispose();
    await new Promise((resolve) => setTimeout(resolve, 500));
    closes.length = 0; // its own close, on purpose
  } else if (command === "idle") {
    await open(plan.idle, plan.operations.OrderTracking, (s) => ({ id: s.order }), () => {});
  } else if (command === "active") {
    await open(plan.active, plan.operations.OrderFeed, () => ({}), record);
  } else if (command === "fanout") {
    await open(plan.fanout, plan.operations.OrderFeed, () => ({}), record);
  } else if (command === "report") {
    say({ heard, closes });
    heard = [];
    continue;
  } else if (command === "exit") {
    process.exit(0);
  }
  say({ ready: command, closes: closes.length, codes: closes.slice(-5) });
}
