// The OBS browser source at /overlay/{slug}?key=OVERLAY_KEY: alerts for tips and song
// boosts (and the studio's test alerts), optionally the recent chat, on a transparent page.
//
// Query parameters: key (required), display (seconds an alert stays, default 6), gap
// (seconds between alerts, default 1), min (minor units; smaller amounts show no alert,
// default 0), chat=1 (show the recent chat), playing=0 (hide "now playing": the song a host
// marked playing, with its writers). The socket is read-only (the key grants no op).

import {clear, el} from './js/dom.js';
import {AlertQueue} from './js/alerts.js';
import {formatAmount} from './js/money.js';
import {NowPlaying} from './js/now-playing.js';
import {RoomSocket} from './js/socket.js';

const CHAT_LINES = 8;

function number(params, name, fallback, lo, hi) {
  const value = Number(params.get(name));
  return params.has(name) && Number.isFinite(value) ? Math.min(hi, Math.max(lo, value)) : fallback;
}

function options() {
  const params = new URLSearchParams(location.search);
  return {
    key: params.get('key') || '',
    displayMs: number(params, 'display', 6, 1, 120) * 1000,
    gapMs: number(params, 'gap', 1, 0, 60) * 1000,
    min: number(params, 'min', 0, 0, 1e9),
    chat: params.get('chat') === '1',
    playing: params.get('playing') !== '0',
  };
}

function tipAlert(data) {
  return {id: `tip:${data.id}`, kind: 'tip', from: data.from || 'Anonymous', amount: data.amount,
    currency: data.currency || 'USD', verb: 'tipped', message: data.message || ''};
}

class Overlay {
  constructor(slug, opts) {
    this.alertsNode = document.getElementById('alerts');
    this.chatNode = document.getElementById('overlay-chat');
    this.songs = new Map();
    this.alerts = new AlertQueue({displayMs: opts.displayMs, gapMs: opts.gapMs, min: opts.min,
      show: (alert) => this.draw(alert), hide: (alert) => this.undraw(alert)});
    this.socket = new RoomSocket(slug, {query: {key: opts.key}});
    this.chat = opts.chat;
    this.chatNode.hidden = !opts.chat;
    if (opts.playing) this.playing = new NowPlaying(document.getElementById('now-playing'), {socket: this.socket, slug});
    this.listen();
  }

  listen() {
    const s = this.socket;
    s.on('snapshot', (data) => this.snapshot(data));
    s.on('tip', (data) => this.alerts.offer(tipAlert(data)));
    s.on('alert.test', (data) => this.alerts.offer({...tipAlert(data), id: `test:${data.id}`, kind: 'test',
      verb: 'tipped (test)'}));
    s.on('song.boost', (data) => this.alerts.offer({id: `boost:${data.boost_id}`, kind: 'boost',
      from: data.from || 'Anonymous', amount: data.amount, currency: data.currency || 'USD',
      verb: 'boosted', message: this.songs.get(String(data.request_id)) || 'a song request'}));
    s.on('tip.refunded', (data) => this.alerts.drop(`tip:${data.id}`));
    s.on('tip.hidden', (data) => this.hideMessage(`tip:${data.id}`));
    s.on('song.queue', (data) => this.learnSongs(data.queue));
    s.on('chat.message', (data) => this.say(data));
    s.on('chat.hidden', (data) => this.unsay(data.message_ids || []));
  }

  snapshot(data) {
    // What the snapshot holds already happened: it never alerts, now or after a reconnect.
    for (const tip of data.tips || []) this.alerts.remember(`tip:${tip.id}`);
    this.learnSongs(data.queue);
    if (!this.chat) return;
    clear(this.chatNode);
    for (const message of (data.chat || []).slice(-CHAT_LINES)) this.say(message);
  }

  learnSongs(queue) {
    for (const item of Array.isArray(queue) ? queue : []) {
      if (item && item.song) this.songs.set(String(item.id), `“${item.song.title || 'a song'}”`);
    }
  }

  draw(alert) {
    clear(this.alertsNode);
    this.alertsNode.append(el('div', {class: 'alert', dataset: {id: alert.id, kind: alert.kind}},
      el('span', {class: 'title'}, `${alert.from} ${alert.verb} `,
        el('span', {class: 'amount', text: formatAmount(alert.amount, alert.currency)})),
      alert.message ? el('span', {class: 'message', text: alert.message}) : null));
  }

  undraw(alert) {
    for (const node of this.alertsNode.querySelectorAll('.alert')) {
      if (node.dataset.id === alert.id) node.remove();
    }
  }

  hideMessage(id) {
    const alert = this.alerts.update(id, (a) => { a.message = ''; });
    if (alert && this.alerts.current === alert) {
      for (const node of this.alertsNode.querySelectorAll('.alert .message')) node.remove();
    }
  }

  say(message) {
    if (!this.chat || !message || typeof message.text !== 'string') return;
    const user = message.user || {};
    this.chatNode.append(el('li', {dataset: {id: String(message.id)}},
      el('span', {class: 'name', text: user.name || 'someone'}), el('span', {class: 'text', text: message.text})));
    while (this.chatNode.children.length > CHAT_LINES) this.chatNode.firstElementChild.remove();
  }

  unsay(ids) {
    const gone = new Set(ids.map(String));
    for (const node of [...this.chatNode.children]) if (gone.has(node.dataset.id)) node.remove();
  }
}

function main() {
  const slug = decodeURIComponent(location.pathname.split('/').filter(Boolean)[1] || '');
  const overlay = new Overlay(slug, options());
  window.nal = {socket: overlay.socket, overlay, alerts: overlay.alerts};  // for the console and the tests
  overlay.socket.connect();
}

main();
