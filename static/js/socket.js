// The room socket: one WebSocket to /ws/rooms/{slug}, ops with acks, events in seq order,
// and reconnection with backoff that asks for the missed events (?since=SEQ&epoch=E).
// A signed-in page asks for a single-use socket ticket before every (re)connect and passes it
// as ?ticket=, so no long-lived token ever appears in a URL.
//
// Server frames: {"type":"ack","id"} | {"type":"error","id","code","message"}
//                {"type":"snapshot","seq","epoch","recovered"?,"data"} | {"type","seq","epoch","data"}
//                {"type":"recovered","seq","epoch"} (then exactly the missed events)

import {ApiError, api, roomPath} from './api.js';

const ACK_TIMEOUT_MS = 10000;
const BACKOFF_MS = [500, 1000, 2000, 4000, 8000, 15000];
const RESTART_CODE = 1012;
// Closes after which reconnecting cannot help: the gate refused us, or we were banned.
const FINAL_CODES = {4001: 'you may not join this room', 4003: 'you are banned from this room'};

export class OpError extends Error {
  constructor(code, message) {
    super(message || code);
    this.code = code;
  }
}

export class RoomSocket {
  /** `query`: extra URL parameters for every (re)connect, e.g. {key} for the overlay's read-only socket.
   *  `signedIn`: connect with a socket ticket (POST /api/rooms/{slug}/socket-ticket) as the signed-in user. */
  constructor(slug, {query = {}, signedIn = false} = {}) {
    this.slug = slug;
    this.query = query;
    this.signedIn = signedIn;
    this.ws = null;
    this.seq = null;
    this.epoch = null;
    this.nextId = 1;
    this.pending = new Map();
    this.handlers = new Map();
    this.attempt = 0;
    this.stopped = false;
    this.timer = null;
    this.state = 'idle';
  }

  /** Register fn(data, frame) for an event type, 'snapshot', or '*' (every event). */
  on(type, fn) {
    if (!this.handlers.has(type)) this.handlers.set(type, []);
    this.handlers.get(type).push(fn);
    return this;
  }

  url(ticket = null) {
    const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
    const params = new URLSearchParams(this.query);
    if (ticket) params.set('ticket', ticket);
    if (this.seq !== null && this.epoch !== null) {
      params.set('since', String(this.seq));
      params.set('epoch', String(this.epoch));
    }
    const query = params.toString();
    return `${scheme}://${location.host}/ws/rooms/${encodeURIComponent(this.slug)}${query ? `?${query}` : ''}`;
  }

  async connect() {
    this.stopped = false;
    this.setState('connecting');
    let ticket = null;
    if (this.signedIn) {
      try {
        ticket = (await api(roomPath(this.slug, '/socket-ticket'), {method: 'POST'})).ticket;
      } catch (err) {
        if (!(err instanceof ApiError && err.status === 401)) {
          this.scheduleReconnect(false);
          return;
        }
        this.signedIn = false;  // signed out meanwhile: join as a guest
      }
      if (this.stopped) return;
    }
    let ws;
    try {
      ws = new WebSocket(this.url(ticket));
    } catch {
      this.scheduleReconnect(false);
      return;
    }
    this.ws = ws;
    ws.addEventListener('message', (ev) => this.receive(ev.data));
    ws.addEventListener('close', (ev) => this.closed(ws, ev));
  }

  close() {
    this.stopped = true;
    clearTimeout(this.timer);
    if (this.ws) this.ws.close(1000);
  }

  /** Send an op; resolves on its ack, rejects with OpError on its error. */
  send(op, fields = {}) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) {
      return Promise.reject(new OpError('not_connected', 'not connected to the room, retrying'));
    }
    const id = `c${this.nextId++}`;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new OpError('timeout', 'the server did not answer'));
      }, ACK_TIMEOUT_MS);
      this.pending.set(id, {resolve, reject, timer});
      this.ws.send(JSON.stringify({...fields, op, id}));
    });
  }

  receive(raw) {
    let frame;
    try {
      frame = JSON.parse(raw);
    } catch {
      return;
    }
    if (!frame || typeof frame !== 'object') return;
    if (frame.type === 'ack' || frame.type === 'error') {
      const ours = this.pending.has(frame.id);  // a reply to one of our ops: its caller shows it
      this.settle(frame);
      if (frame.type === 'error' && !ours) this.emit('error', frame, frame);
      return;
    }
    if (frame.type === 'snapshot') {
      this.snapshot(frame);
      return;
    }
    if (frame.type === 'recovered') {
      // History held everything we missed: exactly those events follow, in order.
      this.attempt = 0;
      this.setState('open');
      this.emit('recovered', frame, frame);
      return;
    }
    this.event(frame);
  }

  settle(frame) {
    const waiter = this.pending.get(frame.id);
    if (!waiter) return;
    this.pending.delete(frame.id);
    clearTimeout(waiter.timer);
    if (frame.type === 'ack') waiter.resolve(frame);
    else waiter.reject(new OpError(frame.code || 'error', frame.message));
  }

  snapshot(frame) {
    // A recovered snapshot means the missed events follow; keep our seq so they apply.
    const recovered = frame.recovered === true && frame.epoch === this.epoch;
    if (!recovered && typeof frame.seq === 'number') this.seq = frame.seq;
    if (frame.epoch !== undefined) this.epoch = frame.epoch;
    this.attempt = 0;
    this.setState('open');
    this.emit('snapshot', frame.data || {}, {...frame, recovered});
  }

  event(frame) {
    if (typeof frame.seq === 'number') {
      if (frame.epoch === this.epoch && this.seq !== null && frame.seq <= this.seq) return;
      this.seq = frame.seq;
      if (frame.epoch !== undefined) this.epoch = frame.epoch;
    }
    this.emit(frame.type, frame.data || {}, frame);
    this.emit('*', frame.data || {}, frame);
  }

  emit(type, data, frame) {
    for (const fn of this.handlers.get(type) || []) {
      try {
        fn(data, frame);
      } catch (err) {
        console.error(`handler for ${type} failed`, err);
      }
    }
  }

  closed(ws, ev) {
    if (ws !== this.ws) return;
    this.ws = null;
    for (const waiter of this.pending.values()) {
      clearTimeout(waiter.timer);
      waiter.reject(new OpError('disconnected', 'the connection dropped'));
    }
    this.pending.clear();
    if (this.stopped) {
      this.setState('closed');
      return;
    }
    if (FINAL_CODES[ev.code]) {
      this.stopped = true;
      this.setState('closed', {code: ev.code, reason: ev.reason || FINAL_CODES[ev.code]});
      return;
    }
    this.scheduleReconnect(ev.code === RESTART_CODE, ev);
  }

  scheduleReconnect(soon, ev) {
    const base = soon ? 250 : BACKOFF_MS[Math.min(this.attempt, BACKOFF_MS.length - 1)];
    this.attempt += 1;
    const delay = base + Math.floor(Math.random() * base * 0.3);
    this.setState('reconnecting', {code: ev && ev.code, reason: ev && ev.reason, delay});
    this.timer = setTimeout(() => this.connect(), delay);
  }

  setState(state, detail = {}) {
    this.state = state;
    this.emit('status', {state, ...detail}, null);
  }
}

/** Show the socket's state in a small status element. */
export function socketStatus(socket, node) {
  socket.on('status', ({state, reason, delay, code}) => {
    node.dataset.state = state;
    if (state === 'open') node.textContent = 'Connected';
    else if (state === 'connecting') node.textContent = 'Connecting…';
    else if (state === 'reconnecting') {
      const why = reason ? ` (${reason})` : '';
      node.textContent = `Reconnecting in ${Math.ceil(delay / 1000)} s${why}`;
    } else if (code === 4003) node.textContent = 'Chat closed to you';
    else node.textContent = reason ? `Disconnected: ${reason}` : 'Disconnected';
  });
}
