// The client scenario with the official JS/TS SDK's 4.x line (@alpacahq/alpaca-trade-api, installed as
// `alpaca4`), unmodified. Run by tests/serve/test_real_clients.py with APCA_API_BASE_URL, APCA_API_KEY_ID and
// APCA_API_SECRET_KEY pointing at a served broker; writes its answer (JSON: round trips,
// events heard, reads) to the file SCENARIO_ANSWER names.
"use strict";
const { Alpaca } = require("alpaca4");
const { performance } = require("perf_hooks");

const URL = process.env.APCA_API_BASE_URL;
const WS = URL.replace(/^http/, "ws");
const WAIT_MS = 30000;
const TIMED = 20; // more submits, to measure the round trip
// 4.x takes no base URL on its facade: a request middleware sends every REST call to the server instead of
// Alpaca's hosts (keys from APCA_API_KEY_ID / APCA_API_SECRET_KEY), and each stream takes its own `url`.
const toServer = { pre: async ({ url, init }) => ({ url: url.replace(/^https:\/\/[^/]+/, URL), init }) };
const alpaca = new Alpaca({ middleware: [toServer], retry: false, rateLimit: false });

const heard = [];
const waiters = [];
function hear(update) {
  heard.push([update.event, update.order.id]);
  for (const waiter of waiters.splice(0)) waiter();
}
function waitFor(event, orderId) {
  const seen = () => heard.some(([e, id]) => e === event && id === orderId);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${event} for ${orderId}; heard ${JSON.stringify(heard)}`)), WAIT_MS);
    const check = () => (seen() ? (clearTimeout(timer), resolve()) : waiters.push(check));
    check();
  });
}

async function main() {
  const updates = alpaca.trading.stream({ url: `${WS}/stream` });
  const listening = new Promise((resolve) => updates.on("subscription", resolve));
  updates.onTradeUpdate(hear);
  updates.onConnect(() => updates.subscribeTradeUpdates());
  updates.connect();
  await listening;
  const orders = alpaca.trading.orders;
  const submits = [];
  async function submit(place, order) {
    const started = performance.now();
    const placed = await place(order);
    submits.push(performance.now() - started);
    return placed;
  }
  const reads = { cash: Number((await alpaca.trading.account.getAccount()).cash) };
  const market = await submit((o) => orders.market(o), { symbol: "AAPL", qty: 10, side: "buy", clientOrderId: "js4-market" });
  await waitFor("new", market.id);
  await waitFor("fill", market.id);
  const limit = await submit((o) => orders.limit(o), {
    symbol: "MSFT", qty: 5, side: "buy", limitPrice: 1.5, timeInForce: "gtc", clientOrderId: "js4-limit",
  });
  await waitFor("new", limit.id);
  const replaced = await orders.patchOrderByOrderId({ orderId: limit.id, patchOrderRequest: { qty: "6", limitPrice: "1.75" } });
  await waitFor("new", replaced.id);
  await orders.deleteOrderByOrderID({ orderId: replaced.id });
  await waitFor("canceled", replaced.id);
  const bracket = await submit((o) => orders.bracket(o), {
    symbol: "AAPL", qty: 2, side: "buy", timeInForce: "gtc", takeProfit: { limitPrice: 1000 }, stopLoss: { stopPrice: 10 },
    clientOrderId: "js4-bracket",
  });
  await waitFor("fill", bracket.id);
  const oco = await submit((o) => orders.oco(o), {
    symbol: "AAPL", qty: 3, side: "sell", timeInForce: "gtc", takeProfit: { limitPrice: 1000 }, stopLoss: { stopPrice: 10 },
    clientOrderId: "js4-oco",
  });
  await waitFor("new", oco.id);
  for (let n = 0; n < TIMED; n++) {
    // limit IOC orders far below the market: they expire at once, untouched
    await submit((o) => orders.limit(o), { symbol: "MSFT", qty: 1, side: "buy", limitPrice: 1, timeInForce: "ioc" });
  }
  const positions = alpaca.trading.positions;
  reads.position_qty = Number((await positions.getOpenPosition({ symbolOrAssetId: "AAPL" })).qty);
  reads.positions = (await positions.getAllOpenPositions()).map((p) => p.symbol).sort();
  reads.activities = (await alpaca.trading.accountActivities.getAccountActivities({ activityTypes: ["FILL"] })).length;
  const history = await alpaca.trading.portfolioHistory.getAccountPortfolioHistory({ period: "1D", timeframe: "1Min" });
  reads.history_points = history.equity.length;
  const stocks = alpaca.marketData.stocks;
  reads.latest_trade = await alpaca.marketData.getLatestPrice("AAPL");
  const quote = (await stocks.stockLatestQuoteSingle({ symbol: "AAPL" })).quote;
  reads.latest_quote = [Number(quote.bp), Number(quote.ap)];
  reads.latest_bar = Number((await stocks.stockLatestBarSingle({ symbol: "AAPL" })).bar.c);
  reads.bars = (await stocks.stockBarSingle({ symbol: "AAPL", timeframe: "1Min", limit: 50 })).bars.length;
  reads.snapshot = Number((await stocks.stockSnapshotSingle({ symbol: "AAPL" })).latestTrade.p);
  reads.clock_v3 = (await alpaca.trading.clock.clock()).clocks[0].market.acronym; // /v3/clock
  reads.calendar_v3 = (await alpaca.trading.calendar.calendar({ market: "NASDAQ", start: new Date("2024-01-02"), end: new Date("2024-01-03") })).calendar.length;
  updates.disconnect();
  const version = require("alpaca4/package.json").version;
  const ids = { market: market.id, limit: limit.id, replaced: replaced.id, bracket: bracket.id, oco: oco.id };
  const answer = { client: "@alpacahq/alpaca-trade-api", version, submit_ms: submits, heard, ids, reads };
  require("fs").writeFileSync(process.env.SCENARIO_ANSWER, JSON.stringify(answer));
}

main().then(() => process.exit(0), (error) => {
  console.error(error && error.stack ? error.stack : error);
  process.exit(1);
}); // exit at once: the SDK's keep-alive sockets and stream timers would keep node up
