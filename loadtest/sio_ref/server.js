// The cross-node reference for the room fan-out benchmark: Socket.IO with its Redis adapter,
// what a team building chat would pick instead of us.
//
// It speaks the benchmark's minimal HTTP contract (as node_ref/server.js does):
//   POST /api/accounts -> 201, POST /api/sessions -> {"token"}, POST /api/rooms -> {"slug"}
// and Socket.IO at /socket.io/ with the room and token in the handshake's query
// (?EIO=4&transport=websocket&room=SLUG&token=T). A socket joins its room and gets one
// "event" {"type":"snapshot"}; each "chat.send" {"id","text"} from a signed-in socket is
// acknowledged {"type":"ack","id"} and broadcast to the room, on every node, as "event"
// {"type":"chat.message","epoch","data":{"id","text","user","ts"}} with
// io.to(room).emit (the Redis adapter publishes it for the other nodes).
// No auth, no rate limit, no history: like the ws reference, it is the floor of what a chat
// server does, here with Socket.IO's protocol and cross-node fan-out.
//
// Usage: REDIS_URL=redis://127.0.0.1:6379 SIO_KEY=prefix node server.js [PORT] [HOST]
// (without REDIS_URL: one node, in-memory adapter). Prints "listening PORT" when ready.
"use strict";

const http = require("http");
const crypto = require("crypto");
const { Server } = require("socket.io");

const port = Number(process.argv[2] || 8091);
const host = process.argv[3] || "127.0.0.1";
const epoch = crypto.randomBytes(4).toString("hex");
let nextRoom = 1;

function json(res, status, body) {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
  res.end(text);
}

const server = http.createServer((req, res) => {
  if (req.url.startsWith("/socket.io/")) return; // Socket.IO answers its own requests
  let body = "";
  req.on("data", (chunk) => { body += chunk; });
  req.on("end", () => {
    const path = req.url.split("?")[0];
    if (req.method === "POST" && path === "/api/accounts") return json(res, 201, {});
    if (req.method === "POST" && path === "/api/sessions") {
      let name = "user";
      try { name = JSON.parse(body).username || name; } catch (e) { /* keep default */ }
      return json(res, 200, { token: name });
    }
    if (req.method === "POST" && path === "/api/rooms") {
      return json(res, 201, { slug: `sio-${process.pid}-${nextRoom++}` });
    }
    if (path === "/readyz" || path === "/healthz") return json(res, 200, { status: "ok" });
    return json(res, 404, { error: "not found" });
  });
});

const io = new Server(server, { transports: ["websocket"], perMessageDeflate: false, serveClient: false });

io.on("connection", (socket) => {
  const room = String(socket.handshake.query.room || "");
  const token = socket.handshake.query.token;
  socket.join(room);
  socket.emit("event", { type: "snapshot", epoch, data: { chat: [] } });
  socket.on("chat.send", (frame, ack) => {
    const reply = typeof ack === "function" ? ack : () => {};
    if (!token || !frame || typeof frame.text !== "string") {
      reply({ type: "error", id: frame && frame.id, code: "forbidden", message: "only chat.send, signed in" });
      return;
    }
    reply({ type: "ack", id: frame.id });
    io.to(room).emit("event", {
      type: "chat.message", epoch,
      data: { id: frame.id, text: frame.text, user: token, ts: Date.now() / 1000 },
    });
  });
});

async function main() {
  if (process.env.REDIS_URL) {
    const { createClient } = require("redis");
    const { createAdapter } = require("@socket.io/redis-adapter");
    const pub = createClient({ url: process.env.REDIS_URL });
    const sub = pub.duplicate();
    await Promise.all([pub.connect(), sub.connect()]);
    io.adapter(createAdapter(pub, sub, { key: process.env.SIO_KEY || "socket.io" }));
  }
  server.listen(port, host, () => console.log(`listening ${port}`));
}

main().catch((err) => { console.error(err); process.exit(1); });
