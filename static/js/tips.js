// Tips on the room pages: the "top supporters" strip, the studio's list of this show's tips,
// and the Tip / Boost form that opens the payment provider's checkout and comes back here.
// Amounts are integers in minor units (js/money.js); every user string goes in as text.

import {ApiError, api, roomPath} from './api.js';
import {clear, el, say} from './dom.js';
import {formatAmount, minorDigits, parseAmount} from './money.js';

const ANONYMOUS = 'Anonymous';
const TOP = 10;
export const PRESETS = [200, 500, 1000, 2000];

/** Tips as the room shows them: {id: {from, amount, currency, message, hidden, refunded}}. */
export class TipLedger {
  constructor(socket, onChange) {
    this.tips = new Map();
    this.totals = new Map();
    this.onChange = onChange;
    socket.on('snapshot', (data, frame) => this.snapshot(data, frame));
    socket.on('tip', (data) => this.add(data));
    socket.on('tip.refunded', (data) => this.mark(data.id, {refunded: true}));
    socket.on('tip.hidden', (data) => this.mark(data.id, {hidden: true, message: ''}));
  }

  snapshot(data, frame) {
    if (!frame.recovered) this.tips.clear();
    for (const tip of data.tips || []) this.tips.set(String(tip.id), {...tip});
    this.totals = new Map((data.supporters || []).map((s) => [`${s.name}\u0000${s.currency}`, {...s}]));
    this.onChange();
  }

  add(data) {
    const id = String(data.id);
    if (this.tips.has(id) || !(data.amount > 0)) return;
    const tip = {...data, hidden: false, refunded: false};
    this.tips.set(id, tip);
    this.count(tip, tip.amount);
    this.onChange(tip);
  }

  mark(rawId, change) {
    const tip = this.tips.get(String(rawId));
    if (!tip || (change.refunded && tip.refunded)) return;
    if (change.refunded) this.count(tip, -tip.amount);
    Object.assign(tip, change);
    this.onChange(tip);
  }

  count(tip, delta) {
    if (!tip.from || tip.from === ANONYMOUS) return;
    const key = `${tip.from}\u0000${tip.currency}`;
    const entry = this.totals.get(key) || {name: tip.from, amount: 0, currency: tip.currency};
    entry.amount += delta;
    if (entry.amount > 0) this.totals.set(key, entry);
    else this.totals.delete(key);
  }

  supporters() {
    return [...this.totals.values()].sort((a, b) => b.amount - a.amount || a.name.localeCompare(b.name)).slice(0, TOP);
  }

  list() {
    return [...this.tips.values()];
  }
}

/** The "top supporters" strip of the watch page. */
export function supportersStrip(node, ledger) {
  const render = () => {
    const top = ledger.supporters();
    node.hidden = top.length === 0;
    clear(node);
    node.append(el('span', {class: 'label', text: 'Top supporters'}));
    const list = el('ol', {class: 'supporter-list'});
    for (const s of top) {
      list.append(el('li', {class: 'supporter', dataset: {name: s.name}},
        el('strong', {class: 'name', text: s.name}), ' ',
        el('span', {class: 'amount', text: formatAmount(s.amount, s.currency)})));
    }
    node.append(list);
  };
  return render;
}

/** The studio's live list of this show's tips, with the running total. */
export function showTips({list, total}, ledger) {
  return () => {
    const tips = ledger.list();
    clear(list);
    const sums = new Map();
    for (const tip of tips.slice().reverse()) {
      if (!tip.refunded) sums.set(tip.currency, (sums.get(tip.currency) || 0) + tip.amount);
      list.append(el('li', {class: `tip-row${tip.refunded ? ' refunded' : ''}`, dataset: {id: String(tip.id)}},
        el('strong', {class: 'name', text: tip.from}), ' ',
        el('span', {class: 'amount', text: formatAmount(tip.amount, tip.currency)}),
        tip.refunded ? el('span', {class: 'badge', text: 'refunded'}) : null,
        tip.message ? el('span', {class: 'text', text: ` ${tip.message}`}) : null));
    }
    if (tips.length === 0) list.append(el('li', {class: 'empty', text: 'No tips yet this show.'}));
    const parts = [...sums].map(([currency, sum]) => formatAmount(sum, currency));
    total.textContent = `${parts.join(' + ') || formatAmount(0)} from ${tips.length} ${tips.length === 1 ? 'tip' : 'tips'}`;
  };
}

/**
 * The Tip / Boost dialog. parts: {dialog, form, title, presets, amount, message, messageRow,
 * anonymous, anonymousRow, status, send, cancel}; options: {slug, currency, min, max} (the
 * room's smallest and largest amount, minor units).
 */
export class PayDialog {
  constructor(parts, {slug, currency = 'USD', min = 1, max = Infinity}) {
    Object.assign(this, parts);
    this.slug = slug;
    this.currency = currency;
    this.min = min;
    this.max = max;
    this.target = null;
    this.choices = PRESETS.filter((amount) => amount >= min && amount <= max);
    if (this.choices.length === 0) this.choices = [min];
    clear(this.presets);
    for (const amount of this.choices) {
      this.presets.append(el('button', {type: 'button', class: 'secondary preset', text: formatAmount(amount, currency),
        dataset: {amount: String(amount)}, onclick: () => this.pick(amount)}));
    }
    this.form.addEventListener('submit', (ev) => this.submit(ev));
    this.amount.addEventListener('input', () => {
      for (const button of this.presets.children) button.setAttribute('aria-pressed', 'false');
    });
    this.cancel.addEventListener('click', () => this.dialog.close());
  }

  /** target: {kind: 'tip'} or {kind: 'boost', requestId, song} */
  open(target) {
    this.target = target;
    const boost = target.kind === 'boost';
    this.title.textContent = boost ? `Boost “${target.song}”` : 'Tip the artist';
    this.messageRow.hidden = boost;
    this.anonymousRow.hidden = boost;
    this.send.textContent = boost ? 'Boost: continue to payment' : 'Tip: continue to payment';
    say(this.status, '');
    this.pick(this.choices[Math.min(1, this.choices.length - 1)]);
    this.dialog.showModal();
  }

  pick(amount) {
    const digits = minorDigits(this.currency);
    this.amount.value = (amount / 10 ** digits).toFixed(digits);
    for (const button of this.presets.children) button.setAttribute('aria-pressed', String(Number(button.dataset.amount) === amount));
  }

  body() {
    const amount = parseAmount(this.amount.value, this.currency);
    if (!amount) return null;
    // The checkout comes back to this room's watch page by itself (success_url, cancel_url).
    if (this.target.kind === 'boost') return {amount};
    const message = this.message.value.trim();
    return {amount, ...(message ? {message} : {}), anonymous: this.anonymous.checked};
  }

  async submit(ev) {
    ev.preventDefault();
    const body = this.body();
    if (!body) {
      say(this.status, 'Enter an amount, like 5 or 7.50.', 'error');
      return;
    }
    if (body.amount < this.min || body.amount > this.max) {
      const range = `${formatAmount(this.min, this.currency)} to ${formatAmount(this.max, this.currency)}`;
      say(this.status, `The amount must be ${range}.`, 'error');
      return;
    }
    const path = this.target.kind === 'boost'
      ? roomPath(this.slug, `/song-requests/${encodeURIComponent(this.target.requestId)}/boosts`)
      : roomPath(this.slug, '/tips');
    this.send.disabled = true;
    try {
      const answer = await api(path, {method: 'POST', body});
      say(this.status, 'Opening the payment page…');
      location.assign(answer.checkout_url);
    } catch (err) {
      const text = err instanceof ApiError && err.status === 401 ? 'Sign in to pay.'
        : err instanceof ApiError && err.status === 404 && err.code !== 'no_request' ? 'Payments are not available here yet.'
          : err.message;
      say(this.status, text, 'error');
    } finally {
      this.send.disabled = false;
    }
  }
}
