// The reference for the room fan-out benchmark: a minimal `ws` broadcast server.
//
// It speaks just enough of our contract for loadtest/fanout.py to drive it unchanged:
//   POST /api/accounts -> 201, POST /api/sessions -> {"token"}, POST /api/rooms -> {"slug"}
//   GET /ws/rooms/{slug}[?token=T]: first frame a snapshot; each {"op":"chat.send"} is acked
//   and broadcast to every socket in the room as {"type":"chat.message","seq","epoch","data"}.
// No auth, no rate limit, no slow-consumer handling, no history: it is the floor.
//
// Usage: node server.js [PORT] [HOST]   (prints "listening PORT" when ready)
"use strict";

const http = require("http");
const crypto = require("crypto");
const { WebSocketServer } = require("ws");

const port = Number(process.argv[2] || 8090);
const host = process.argv[3] || "127.0.0.1";
const epoch = crypto.randomBytes(4).toString("hex");
const rooms = new Map(); // slug -> {seq, sockets: Set}
let nextRoom = 1;
let nextMessage = 1;

function room(slug) {
  let r = rooms.get(slug);
  if (!r) {
    r = { seq: 0, sockets: new Set() };
    rooms.set(slug, r);
  }
  return r;
}

function json(res, status, body) {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
  res.end(text);
}

const server = http.createServer((req, res) => {
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
      const slug = "ref-" + nextRoom++;
      room(slug);
      return json(res, 201, { slug });
    }
    if (path === "/readyz" || path === "/healthz") return json(res, 200, { status: "ok" });
    return json(res, 404, { error: "not found" });
  });
});

const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false });

server.on("upgrade", (req, socket, head) => {
  const url = new URL(req.url, "http://x");
  const m = url.pathname.match(/^\/ws\/rooms\/([^/]+)$/);
  if (!m) { socket.destroy(); return; }
  wss.handleUpgrade(req, socket, head, (ws) => join(ws, room(m[1]), url.searchParams.get("token")));
});

function join(ws, r, token) {
  r.sockets.add(ws);
  ws.send(JSON.stringify({ type: "snapshot", seq: r.seq, epoch, data: { chat: [], viewers: r.sockets.size } }));
  ws.on("close", () => r.sockets.delete(ws));
  ws.on("error", () => r.sockets.delete(ws));
  ws.on("message", (data, isBinary) => {
    let frame;
    try { frame = JSON.parse(data.toString()); } catch (e) {
      ws.send(JSON.stringify({ type: "error", id: null, code: "invalid_json", message: "not JSON" }));
      return;
    }
    if (frame.op !== "chat.send" || !token) {
      ws.send(JSON.stringify({ type: "error", id: frame.id, code: "forbidden", message: "only chat.send, signed in" }));
      return;
    }
    ws.send(JSON.stringify({ type: "ack", id: frame.id }));
    r.seq += 1;
    const event = Buffer.from(JSON.stringify({
      type: "chat.message", seq: r.seq, epoch,
      data: { id: String(nextMessage++), user: { name: token, role: "fan" }, text: String(frame.text), ts: Date.now() / 1000 },
    }));
    for (const peer of r.sockets) peer.send(event, { binary: false });
  });
}

server.listen(port, host, () => console.log("listening " + server.address().port));
