// The chat panel: messages, tips (highlighted), the pinned message, notices and the send form.
// Every user-supplied string is set with textContent (through el()), never as HTML.

import {clear, clock, el, say} from './dom.js';
import {formatAmount} from './money.js';

const MAX_MESSAGES = 300;
const ROLE_LABELS = {owner: 'artist', host: 'host'};  // the badge beside a staff member's name
const ROLE_TITLES = {owner: 'The room owner, performing', host: 'A host: moderates this room'};
const TIMEOUT_S = 300;

function asMessage(value) {
  if (!value || typeof value !== 'object') return null;
  if (value.message && typeof value.message === 'object') return value.message;
  return typeof value.text === 'string' ? value : null;
}

function userName(user) {
  if (!user) return 'someone';
  if (typeof user === 'string') return user;
  return user.name || user.username || 'someone';
}

export class ChatView {
  /**
   * parts: {log, pinned, form, input, status, note}; options: {socket, me, moderation}
   * `moderation` adds delete / pin / time out / ban buttons to each message.
   */
  constructor(parts, {socket, me = null, moderation = false}) {
    Object.assign(this, parts);
    this.socket = socket;
    this.me = me;
    this.moderation = moderation;
    this.messages = new Map();
    this.settings = {};
    this.closed = null;  // why this fan may not chat now (banned, timed out), or null
    if (this.form) this.form.addEventListener('submit', (ev) => this.submit(ev));
    if (this.input) this.input.addEventListener('input', () => say(this.status, ''));
    this.listen();
    this.updateForm();
  }

  listen() {
    this.socket.on('snapshot', (data, frame) => this.snapshot(data, frame));
    this.socket.on('chat.message', (data) => this.add(data));
    this.socket.on('chat.hidden', (data) => this.hide(data));
    this.socket.on('chat.pinned', (data) => this.pin(data));
    this.socket.on('mod.notice', (data) => this.notice(data));
    this.socket.on('room.settings', (data) => this.applySettings(data.settings || data));
    this.socket.on('tip', (data) => this.addTip(data));
    this.socket.on('tip.hidden', (data) => this.tipChanged(data.id, (node) => {
      node.dataset.hidden = 'true';
      for (const text of node.querySelectorAll('.text')) text.remove();
    }));
    this.socket.on('tip.refunded', (data) => this.tipChanged(data.id, (node) => this.markRefunded(node)));
  }

  snapshot(data, frame) {
    const chat = Array.isArray(data.chat) ? data.chat : [];
    if (!frame.recovered) {
      clear(this.log);
      this.messages.clear();
    }
    // Tips and messages each come in order; merged by time (a tip first on a tie).
    const tips = Array.isArray(data.tips) ? data.tips : [];
    const items = [...tips.map((tip) => ({ts: tip.ts || 0, tip})), ...chat.map((message) => ({ts: message.ts || 0, message}))];
    items.sort((a, b) => a.ts - b.ts);
    for (const item of items) {
      if (item.tip) this.addTip(item.tip);
      else this.add(item.message);
    }
    if ('pinned' in data) this.pin(Array.isArray(data.pinned) ? data.pinned.find(asMessage) || null : data.pinned);
    if (data.settings) this.applySettings(data.settings);
  }

  add(message) {
    if (!message || typeof message.text !== 'string') return;
    const id = message.id === undefined ? `local${this.messages.size}` : String(message.id);
    this.append(id, message, () => this.render(id, message));
  }

  /** A paid tip, highlighted: "fay tipped $5.00" and the message (unless a host hid it). */
  addTip(tip) {
    if (!tip || tip.id === undefined || !(tip.amount > 0)) return;
    const id = `tip:${tip.id}`;
    this.append(id, tip, () => {
      const item = el('li', {class: 'msg tip', dataset: {id, tip: String(tip.id), hidden: String(!!tip.hidden)}},
        el('span', {class: 'meta'},
          el('strong', {class: 'name', text: tip.from || 'Anonymous'}),
          el('span', {class: 'badge tip', text: 'tipped'}),
          el('span', {class: 'amount', text: formatAmount(tip.amount, tip.currency)})),
        tip.message && !tip.hidden ? el('span', {class: 'text', text: tip.message}) : null);
      if (tip.refunded) this.markRefunded(item);
      if (this.moderation) {
        item.append(el('span', {class: 'actions'}, el('button', {type: 'button', class: 'small secondary',
          text: 'Hide', 'aria-label': `Hide the tip message from ${tip.from}`,
          onclick: () => this.run('tip.hide', {tip_id: String(tip.id)})})));
      }
      return item;
    });
  }

  tipChanged(rawId, change) {
    for (const node of this.log.querySelectorAll('li.tip')) {
      if (node.dataset.tip === String(rawId)) change(node);
    }
  }

  markRefunded(node) {
    if (node.dataset.refunded === 'true') return;
    node.dataset.refunded = 'true';
    node.querySelector('.meta').append(el('span', {class: 'badge refunded', text: 'refunded'}));
  }

  append(id, value, render) {
    if (this.messages.has(id)) return;
    const stick = this.nearBottom();
    this.messages.set(id, value);
    this.log.append(render());
    while (this.log.children.length > MAX_MESSAGES) {
      const first = this.log.firstElementChild;
      this.messages.delete(first.dataset.id);
      first.remove();
    }
    if (stick) this.log.scrollTop = this.log.scrollHeight;
  }

  render(id, message) {
    const user = message.user || {};
    const name = userName(user);
    const role = ROLE_LABELS[user.role];
    const item = el('li', {class: 'msg', dataset: {id, user: name}},
      el('span', {class: 'meta'},
        el('strong', {class: 'name', text: name}),
        role ? el('span', {class: `badge ${user.role}`, text: role, title: ROLE_TITLES[user.role]}) : null,
        el('time', {class: 'time', text: clock(message.ts)})),
      el('span', {class: 'text', text: message.text}));
    if (this.moderation) item.append(this.actions(id, name));
    return item;
  }

  actions(id, name) {
    const act = (label, aria, op, fields) => el('button', {
      type: 'button', class: 'small secondary', text: label, 'aria-label': `${aria} ${name}`,
      onclick: () => this.run(op, fields),
    });
    return el('span', {class: 'actions'},
      act('Delete', 'Delete message from', 'chat.delete', {message_id: id}),
      act('Pin', 'Pin message from', 'chat.pin', {message_id: id}),
      act('Time out', `Time out for ${TIMEOUT_S / 60} minutes:`, 'mod.timeout', {user: name, seconds: TIMEOUT_S}),
      act('Ban', 'Ban', 'mod.ban', {user: name}));
  }

  async run(op, fields) {
    try {
      await this.socket.send(op, fields);
      say(this.status, '');
    } catch (err) {
      say(this.status, err.message, 'error');
    }
  }

  hide(data) {
    const ids = Array.isArray(data.message_ids) ? data.message_ids : [data.message_id];
    for (const raw of ids) {
      if (raw === undefined || raw === null) continue;
      const id = String(raw);
      this.messages.delete(id);
      for (const node of this.log.querySelectorAll('li.msg')) {
        if (node.dataset.id === id) node.remove();
      }
      if (this.pinned && this.pinned.dataset.id === id) this.pin(null);
    }
  }

  pin(data) {
    if (!this.pinned) return;
    let message = asMessage(data);
    if (!message && data && data.message_id !== undefined && data.message_id !== null) {
      message = this.messages.get(String(data.message_id)) || null;
    }
    clear(this.pinned);
    this.pinned.hidden = !message;
    this.pinned.dataset.id = message && message.id !== undefined ? String(message.id) : '';
    if (!message) return;
    this.pinned.append(el('span', {class: 'label', text: 'Pinned'}),
      el('strong', {class: 'name', text: userName(message.user)}),
      el('span', {class: 'text', text: message.text}));
    if (this.moderation) {
      this.pinned.append(el('button', {type: 'button', class: 'small secondary', text: 'Unpin',
        onclick: () => this.run('chat.pin', {message_id: null})}));
    }
  }

  notice(data) {
    if (this.me && data.user_id === this.me.id && data.action === 'timeout' && data.until) {
      this.closeChat(`You are timed out until ${clock(data.until)}: you can watch, but not chat.`, data.until * 1000);
    }
    const who = userName(data.user || data.user_name || data.username);
    const action = data.action || data.kind || '';
    const verbs = {ban: 'was banned', unban: 'was unbanned', timeout: 'was timed out'};
    let text = data.message || data.text || `${who} ${verbs[action] || action}`.trim();
    if (action === 'timeout' && data.seconds) text += ` for ${data.seconds} s`;
    const stick = this.nearBottom();
    this.log.append(el('li', {class: 'notice', dataset: {id: `notice-${Date.now()}`}, text}));
    if (stick) this.log.scrollTop = this.log.scrollHeight;
  }

  applySettings(settings) {
    if (!settings || typeof settings !== 'object') return;
    this.settings = {...this.settings, ...settings};
    this.updateForm();
  }

  updateForm() {
    if (!this.form) return;
    const notes = this.closed ? [this.closed] : [];
    if (!this.me) notes.push('Sign in to chat.');
    const slow = Number(this.settings.slow_mode_s || 0);
    if (slow > 0) notes.push(`Slow mode: one message every ${slow} s.`);
    if (this.settings.chat === 'signed_in') notes.push('Only signed-in fans may chat.');
    if (this.note) say(this.note, notes.join(' '));
    for (const control of this.form.elements) control.disabled = !this.me || Boolean(this.closed);
  }

  /** Close the chat form to this fan, saying why; reopened at ``untilMs`` (epoch ms) if given. */
  closeChat(reason, untilMs = null) {
    this.closed = reason;
    say(this.status, '');
    this.updateForm();
    clearTimeout(this.reopen);
    if (untilMs) {
      this.reopen = setTimeout(() => {
        this.closed = null;
        this.updateForm();
      }, Math.max(0, untilMs - Date.now()));
    }
  }

  async submit(ev) {
    ev.preventDefault();
    const text = this.input.value.trim();
    if (!text) return;
    const button = this.form.querySelector('button');
    button.disabled = true;
    try {
      await this.socket.send('chat.send', {text});
      this.input.value = '';
      say(this.status, '');
    } catch (err) {
      say(this.status, err.message, 'error');
    } finally {
      button.disabled = !this.me || Boolean(this.closed);
      this.input.focus();
    }
  }

  nearBottom() {
    return this.log.scrollHeight - this.log.scrollTop - this.log.clientHeight < 40;
  }
}
