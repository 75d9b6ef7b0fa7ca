// The studio's "Restream" card (owner only): the room's restream targets with their live state,
// a form to add YouTube, Twitch or custom RTMP(S) targets, enable/disable and remove.
//
// Keys are write-only: the server answers with `key_masked` (****wxyz) and never the key; the
// key field is cleared as soon as the target is added. State comes from GET every few seconds
// and, when the studio has its room socket open, from `restream.state` events at once.

import {api, roomPath} from './js/api.js';
import {$, el, say, show} from './js/dom.js';

const POLL_MS = 5000;
const TICK_MS = 1000;
const PLATFORMS = {youtube: 'YouTube', twitch: 'Twitch', custom: 'Custom RTMP(S)'};
// Ingest choices per platform (the server resolves them; see relay/presets.py).
const INGESTS = {
  youtube: [['rtmp', 'RTMP (default)'], ['rtmps', 'RTMPS'], ['backup', 'Backup server']],
  twitch: [['auto', 'Auto (closest)'], ['rtmps', 'RTMPS']],
};
const STATES = {idle: 'IDLE', connecting: 'CONNECTING', live: 'LIVE', retrying: 'RETRYING', failed: 'FAILED'};

function bitrate(bits) {
  if (!bits) return '–';
  if (bits >= 1e6) return `${(bits / 1e6).toFixed(1)} Mbit/s`;
  return `${Math.round(bits / 1e3)} kbit/s`;
}

function duration(seconds) {
  const s = Math.max(0, Math.floor(seconds || 0));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const pad = (n) => String(n).padStart(2, '0');
  return h ? `${h}:${pad(m)}:${pad(s % 60)}` : `${m}:${pad(s % 60)}`;
}

/** One target as shown: the row from GET, its status merged with later events. */
class Target {
  constructor(row) {
    this.update(row);
  }

  update(row) {
    this.row = row;
    this.setStatus(row.status || {state: 'idle'});
  }

  setStatus(status) {
    this.status = status;
    this.seenAt = Date.now();
  }

  uptime() {
    const base = this.status.uptime || 0;
    return this.status.state === 'live' ? base + (Date.now() - this.seenAt) / 1000 : base;
  }

  /** "reason · next attempt in 3 s" for retrying and failed targets, "" otherwise. */
  detail() {
    const {state, reason, next_attempt_at: next} = this.status;
    const parts = [];
    if (reason && (state === 'retrying' || state === 'failed')) parts.push(reason);
    if (state === 'retrying') {
      if (typeof next === 'number') {
        const wait = Math.ceil(next - Date.now() / 1000);
        parts.push(wait > 0 ? `next attempt in ${wait} s` : 'trying again now');
      } else parts.push('trying again soon');
    }
    if (state === 'failed') parts.push('fix the key or URL, or disable and enable the target to try again');
    return parts.join(' · ');
  }
}

class RestreamPanel {
  constructor(slug, socketOf) {
    this.slug = slug;
    this.socketOf = socketOf;
    this.targets = new Map();
    this.items = new Map();
    this.socket = null;
    this.loading = false;
    this.pollFailed = false;
    // Bumped by every local change and event: a GET that was sent before one is stale.
    this.version = 0;
    this.list = $('#restream-list');
    this.status = $('#restream-status');
  }

  path(rest = '') {
    return roomPath(this.slug, `/restreams${rest}`);
  }

  start() {
    show($('#restreams'));
    this.form();
    this.refresh();
    setInterval(() => { if (!document.hidden) this.refresh(); }, POLL_MS);
    document.addEventListener('visibilitychange', () => { if (!document.hidden) this.refresh(); });
    setInterval(() => {
      this.follow();
      this.tick();
    }, TICK_MS);
  }

  // -- the studio's socket ---------------------------------------------------------------

  /** Listen to the studio's room socket once it exists (it opens when the owner goes live). */
  follow() {
    const socket = this.socketOf();
    if (!socket || socket === this.socket) return;
    this.socket = socket;
    socket.on('restream.state', (data) => this.event(data));
    socket.on('snapshot', () => this.refresh());
  }

  event(data) {
    const target = this.targets.get(data.id);
    if (!target) {
      this.refresh();  // added elsewhere (another tab): fetch the full row
      return;
    }
    const {id, ...status} = data;
    this.version += 1;
    // Room events carry only the public part (state); the details come from the owner-only API.
    const changed = status.state !== target.status.state;
    target.setStatus(changed ? status : {...target.status, ...status});
    this.render(target);
    const item = this.items.get(id);
    item.dataset.events = String(Number(item.dataset.events || 0) + 1);  // how it was told, for tests
    this.refresh();
  }

  // -- reading -------------------------------------------------------------------------

  async refresh() {
    if (this.loading) return;
    this.loading = true;
    const version = this.version;
    try {
      const {restreams} = await api(this.path());
      if (version === this.version) this.replace(restreams);
      if (this.pollFailed) say(this.status, '');
      this.pollFailed = false;
    } catch (err) {
      say(this.status, `Could not load the restream targets: ${err.message}`, 'error');
      this.pollFailed = true;
    } finally {
      this.loading = false;
    }
  }

  replace(rows) {
    const seen = new Set();
    for (const row of rows) {
      seen.add(row.id);
      const known = this.targets.get(row.id);
      if (known) known.update(row);
      else this.targets.set(row.id, new Target(row));
      this.render(this.targets.get(row.id));
    }
    for (const id of [...this.targets.keys()]) {
      if (!seen.has(id)) this.forget(id);
    }
    show($('#restream-empty'), this.targets.size === 0);
  }

  forget(id) {
    this.targets.delete(id);
    const item = this.items.get(id);
    if (item) item.remove();
    this.items.delete(id);
    show($('#restream-empty'), this.targets.size === 0);
  }

  // -- drawing -------------------------------------------------------------------------

  item(target) {
    const id = target.row.id;
    let item = this.items.get(id);
    if (item) return item;
    const name = `${PLATFORMS[target.row.platform] || target.row.platform} target ${id}`;
    const toggle = el('input', {type: 'checkbox', role: 'switch', class: 'enabled', 'aria-label': `Enabled: ${name}`});
    toggle.addEventListener('change', () => this.toggle(target, toggle));
    const remove = el('button', {type: 'button', class: 'small secondary remove', text: 'Remove',
      'aria-label': `Remove ${name}`});
    remove.addEventListener('click', () => this.remove(target, remove));
    const figure = (label, cls) => el('div', {}, el('dt', {text: label}), el('dd', {class: cls}));
    item = el('li', {class: 'restream', dataset: {id: String(id)}},
      el('div', {class: 'restream-head'},
        el('span', {class: 'platform'}),
        el('span', {class: 'live-badge restream-badge'}),
        el('span', {class: 'restream-off muted', text: 'Disabled'}),
        el('span', {class: 'restream-actions'},
          el('label', {class: 'choice switch'}, toggle, 'Enabled'), remove)),
      el('div', {class: 'restream-where'},
        el('code', {class: 'ingest'}), ' ',
        el('span', {class: 'muted', text: 'key'}), ' ', el('code', {class: 'key'})),
      el('p', {class: 'restream-detail'}),
      el('dl', {class: 'restream-figures'},
        figure('Bitrate', 'bitrate'), figure('Uptime', 'uptime'),
        figure('Reconnects', 'reconnects'), figure('Drops', 'drops')));
    this.items.set(id, item);
    this.list.append(item);
    return item;
  }

  render(target) {
    const item = this.item(target);
    const {row, status} = target;
    const state = STATES[status.state] ? status.state : 'idle';
    item.dataset.state = state;
    item.dataset.enabled = String(row.enabled);
    $('.platform', item).textContent = PLATFORMS[row.platform] || row.platform;
    const badge = $('.restream-badge', item);
    badge.textContent = STATES[state];
    badge.dataset.state = state;
    show($('.restream-off', item), !row.enabled);
    $('.enabled', item).checked = row.enabled;
    $('.ingest', item).textContent = row.url || '';
    $('.key', item).textContent = row.key_masked || '****';
    this.figures(target, item);
  }

  figures(target, item) {
    const detail = target.detail();
    const line = $('.restream-detail', item);
    line.textContent = detail;
    show(line, Boolean(detail));
    $('.bitrate', item).textContent = target.status.state === 'live' ? bitrate(target.status.bitrate) : '–';
    $('.uptime', item).textContent = target.status.state === 'live' ? duration(target.uptime()) : '–';
    $('.reconnects', item).textContent = String(target.status.reconnects || 0);
    $('.drops', item).textContent = String(target.status.drops || 0);
  }

  /** Count down the next attempt and up the uptime between updates. */
  tick() {
    for (const target of this.targets.values()) {
      const item = this.items.get(target.row.id);
      if (item) this.figures(target, item);
    }
  }

  // -- changing ------------------------------------------------------------------------

  async toggle(target, box) {
    const enabled = box.checked;
    box.disabled = true;
    try {
      const row = await api(this.path(`/${target.row.id}`), {method: 'PATCH', body: {enabled}});
      this.version += 1;
      target.update(row);
      this.render(target);
      say(this.status, `${PLATFORMS[row.platform] || row.platform} target ${enabled ? 'enabled' : 'disabled'}.`);
    } catch (err) {
      box.checked = !enabled;
      say(this.status, `Could not change the target: ${err.message}`, 'error');
    } finally {
      box.disabled = false;
    }
  }

  async remove(target, button) {
    button.disabled = true;
    try {
      await api(this.path(`/${target.row.id}`), {method: 'DELETE'});
      this.version += 1;
      this.forget(target.row.id);
      say(this.status, 'Target removed.');
    } catch (err) {
      button.disabled = false;
      say(this.status, `Could not remove the target: ${err.message}`, 'error');
    }
  }

  form() {
    const platform = $('#restream-platform');
    const ingest = $('#restream-ingest');
    const url = $('#restream-url');
    const choose = () => {
      const custom = platform.value === 'custom';
      show($('#restream-url-field'), custom);
      url.required = custom;
      show($('#restream-ingest-field'), !custom);
      ingest.replaceChildren(...(INGESTS[platform.value] || []).map(
        ([value, label]) => el('option', {value, text: label})));
    };
    platform.addEventListener('change', choose);
    choose();
    $('#restream-form').addEventListener('submit', (ev) => {
      ev.preventDefault();
      this.add();
    });
  }

  async add() {
    const platform = $('#restream-platform').value;
    const key = $('#restream-key').value.trim();
    const body = {platform, key, enabled: true};
    if (platform === 'custom') body.url = $('#restream-url').value.trim();
    else body.ingest = $('#restream-ingest').value;
    const button = $('#restream-add');
    button.disabled = true;
    try {
      const row = await api(this.path(), {method: 'POST', body});
      this.version += 1;
      $('#restream-key').value = '';
      $('#restream-url').value = '';
      this.targets.set(row.id, new Target(row));
      this.render(this.targets.get(row.id));
      show($('#restream-empty'), false);
      say(this.status, `${PLATFORMS[row.platform] || row.platform} target added. Its key is shown masked from now on.`);
    } catch (err) {
      say(this.status, `Could not add the target: ${err.message}`, 'error');
    } finally {
      button.disabled = false;
    }
  }
}

/** Show the Restream card for the room's owner. `socketOf()` returns the studio's room socket
 * once one is open (or null): its `restream.state` events then update the list at once. */
export function restreamPanel(room, socketOf = () => null) {
  const panel = new RestreamPanel(room.slug, socketOf);
  panel.start();
  return panel;
}
