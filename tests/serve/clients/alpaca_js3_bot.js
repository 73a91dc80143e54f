// The client scenario with the official JS SDK's 3.x line (@alpacahq/alpaca-trade-api, installed as `alpaca3`),
// unmodified. Run by tests/serve/test_real_clients.py with APCA_API_BASE_URL, APCA_API_KEY_ID and
// APCA_API_SECRET_KEY pointing at a served broker; writes its answer (JSON: round trips,
// events heard, reads) to the file SCENARIO_ANSWER names.
"use strict";
const Alpaca = require("alpaca3");
const { performance } = require("perf_hooks");

const URL = process.env.APCA_API_BASE_URL;
const WAIT_MS = 30000;
const TIMED = 20; // more submits, to measure the round trip
// The one change a 3.x bot makes: where it points (keys from APCA_API_KEY_ID / APCA_API_SECRET_KEY).
const alpaca = new Alpaca({ baseUrl: URL, dataBaseUrl: URL, paper: true });

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
  const stream = alpaca.trade_ws; // ws://<baseUrl>/stream
  const listening = new Promise((resolve) => stream.onConnect(resolve));
  stream.onOrderUpdate(hear);
  stream.connect();
  await listening;
  stream.subscribe(["trade_updates"]);
  const submits = [];
  async function submit(order) {
    const started = performance.now();
    const placed = await alpaca.createOrder(order);
    submits.push(performance.now() - started);
    return placed;
  }
  const reads = { cash: Number((await alpaca.getAccount()).cash) };
  // Orders placed before the server confirms the listen would not be heard: a first order waits for it.
  await new Promise((resolve) => setTimeout(resolve, 50));
  const market = await submit({ symbol: "AAPL", qty: 10, side: "buy", type: "market", time_in_force: "day", client_order_id: "js3-market" });
  await waitFor("new", market.id);
  await waitFor("fill", market.id);
  const limit = await submit({ symbol: "MSFT", qty: 5, side: "buy", type: "limit", limit_price: 1.5, time_in_force: "gtc", client_order_id: "js3-limit" });
  await waitFor("new", limit.id);
  const replaced = await alpaca.replaceOrder(limit.id, { qty: 6, limit_price: 1.75 });
  await waitFor("new", replaced.id);
  await alpaca.cancelOrder(replaced.id);
  await waitFor("canceled", replaced.id);
  const bracket = await submit({
    symbol: "AAPL", qty: 2, side: "buy", type: "market", time_in_force: "gtc", order_class: "bracket",
    take_profit: { limit_price: 1000 }, stop_loss: { stop_price: 10 }, client_order_id: "js3-bracket",
  });
  await waitFor("fill", bracket.id);
  const oco = await submit({
    symbol: "AAPL", qty: 3, side: "sell", type: "limit", time_in_force: "gtc", order_class: "oco",
    take_profit: { limit_price: 1000 }, stop_loss: { stop_price: 10 }, client_order_id: "js3-oco",
  });
  await waitFor("new", oco.id);
  for (let n = 0; n < TIMED; n++) {
    // limit IOC orders far below the market: they expire at once, untouched
    await submit({ symbol: "MSFT", qty: 1, side: "buy", type: "limit", limit_price: 1, time_in_force: "ioc" });
  }
  reads.position_qty = Number((await alpaca.getPosition("AAPL")).qty);
  reads.positions = (await alpaca.getPositions()).map((p) => p.symbol).sort();
  reads.activities = (await alpaca.getAccountActivities({ activityTypes: "FILL" })).length;
  reads.history_points = (await alpaca.getPortfolioHistory({ period: "1D", timeframe: "1Min" })).equity.length;
  reads.latest_trade = (await alpaca.getLatestTrade("AAPL")).Price;
  const quote = await alpaca.getLatestQuote("AAPL");
  reads.latest_quote = [quote.BidPrice, quote.AskPrice];
  reads.latest_bar = (await alpaca.getLatestBar("AAPL")).ClosePrice;
  let bars = 0;
  for await (const bar of alpaca.getBarsV2("AAPL", { timeframe: "1Min", limit: 50 })) bars += bar.ClosePrice > 0 ? 1 : 0;
  reads.bars = bars;
  reads.snapshot = (await alpaca.getSnapshot("AAPL")).LatestTrade.Price;
  stream.disconnect();
  const version = require("alpaca3/package.json").version;
  const ids = { market: market.id, limit: limit.id, replaced: replaced.id, bracket: bracket.id, oco: oco.id };
  const answer = { client: "@alpacahq/alpaca-trade-api", version, submit_ms: submits, heard, ids, reads };
  require("fs").writeFileSync(process.env.SCENARIO_ANSWER, JSON.stringify(answer));
}

main().then(() => process.exit(0), (error) => {
  console.error(error && error.stack ? error.stack : error);
  process.exit(1);
}); // exit at once: the SDK's keep-alive sockets and stream timers would keep node up
