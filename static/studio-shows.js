// The studio's show editor (owner only): the room's shows and their ticket tiers (price,
// capacity, what each includes: real-time video, chat, replay), created and changed here, with
// each tier's sales live (sold, held, left, revenue), refreshed every few seconds from
// GET /api/rooms/{slug}/shows, which gives the owner the figures and anyone else the prices.

import {api, roomPath} from './js/api.js';
import {$, clear, el, say, show} from './js/dom.js';
import {formatAmount, minorDigits, parseAmount} from './js/money.js';

const REFRESH_MS = 3000;

/** "2030-05-01T20:00" (the browser's local time, for datetime-local) from an ISO string. */
function localInput(iso) {
  if (!iso) return '';
  const when = new Date(iso);
  const pad = (n) => String(n).padStart(2, '0');
  return `${when.getFullYear()}-${pad(when.getMonth() + 1)}-${pad(when.getDate())}T${pad(when.getHours())}:${pad(when.getMinutes())}`;
}

function isoOf(local) {
  return local ? new Date(local).toISOString() : null;
}

function when(show) {
  const opts = {dateStyle: 'medium', timeStyle: 'short'};
  const start = new Date(show.starts_at).toLocaleString([], opts);
  return show.ends_at ? `${start} – ${new Date(show.ends_at).toLocaleString([], opts)}` : start;
}

function major(amount, currency) {
  const digits = minorDigits(currency);
  return (amount / 10 ** digits).toFixed(digits);
}

export function price(tier, currency) {
  if (tier.pay_what_you_want) {
    return `from ${formatAmount(tier.min_price, currency)} (suggested ${formatAmount(tier.price, currency)})`;
  }
  return tier.price === 0 ? 'Free' : formatAmount(tier.price, currency);
}

/** What a ticket of ``tier`` lets its holder do, in plain words. */
export function includes(tier) {
  const parts = [tier.latency_class === 'realtime' ? 'real-time video (WebRTC) and LL-HLS' : 'LL-HLS video'];
  parts.push(tier.chat ? 'chat' : 'reads chat');
  if (tier.replay) parts.push('replay');
  return parts.join(' · ');
}

function figure(name, text) {
  return el('span', {class: 'figure', dataset: {figure: name}, text});
}

function tierRow(tier, showInfo, editTier) {
  const left = tier.quantity === null ? 'no limit' : `${tier.remaining} left of ${tier.quantity}`;
  const state = !tier.on_sale ? 'not on sale' : tier.remaining === 0 ? 'sold out' : '';
  return el('li', {class: 'tier-sales', dataset: {tier: tier.id}},
    el('div', {class: 'tier-head'},
      el('span', {class: 'name', text: tier.name}),
      el('span', {class: 'amount', text: price(tier, showInfo.currency)}),
      state ? el('span', {class: 'hint sale-state', text: state}) : null,
      el('button', {type: 'button', class: 'small secondary', 'aria-label': `Edit tier ${tier.name}`, text: 'Edit',
        onclick: () => editTier(showInfo, tier)})),
    el('p', {class: 'includes hint', text: includes(tier)}),
    el('p', {class: 'tier-figures'},
      figure('sold', `${tier.sold} sold`), figure('held', `${tier.held} held`), figure('remaining', left),
      figure('revenue', formatAmount(tier.revenue, showInfo.currency))));
}

function showItem(info, {editShow, editTier, addTier}) {
  const sold = info.tiers.reduce((n, t) => n + t.sold, 0);
  const revenue = info.tiers.reduce((n, t) => n + t.revenue, 0);
  const state = info.over ? 'over' : info.on_sale ? 'on sale' : info.tiers.length ? 'not on sale' : 'no tiers yet: free room';
  return el('li', {class: 'show-item', dataset: {show: info.id}},
    el('div', {class: 'show-head'},
      el('strong', {class: 'title', text: info.title}),
      el('span', {class: 'when muted', text: when(info)}),
      el('span', {class: 'hint state', text: state}),
      el('span', {class: 'show-tools'},
        el('button', {type: 'button', class: 'small secondary', 'aria-label': `Edit show ${info.title}`, text: 'Edit',
          onclick: () => editShow(info)}),
        el('button', {type: 'button', class: 'small', 'aria-label': `Add a tier to ${info.title}`, text: 'Add tier',
          onclick: () => addTier(info)}))),
    el('ul', {class: 'tier-list', 'aria-label': `Tiers of ${info.title}`},
      ...info.tiers.map((tier) => tierRow(tier, info, editTier))),
    info.tiers.length ? el('p', {class: 'totals', dataset: {figure: 'total'},
      text: `Total: ${sold} sold · ${formatAmount(revenue, info.currency)}`}) : null);
}

export function showsPanel(room) {
  const slug = room.slug;
  const list = $('#ticket-shows');
  const showForm = $('#show-form');
  const tierForm = $('#tier-form');
  let editingShow = null;  // the show being edited, or null for a new one
  let tierTarget = null;  // {show, tier|null} while the tier form is open
  let seen = '';
  show($('#tickets-card'));

  const render = (shows) => {
    const text = JSON.stringify(shows);
    if (text === seen) return;  // unchanged: keep the buttons that are there
    seen = text;
    clear(list);
    for (const info of shows) list.append(showItem(info, {editShow, editTier, addTier: (s) => editTier(s, null)}));
    show($('#ticket-shows-empty'), shows.length === 0);
  };
  const refresh = async () => {
    try {
      render((await api(roomPath(slug, '/shows'))).shows);
    } catch (err) {
      say($('#shows-status'), `Could not load the shows: ${err.message}`, 'error');
    }
  };
  const poll = async () => {
    if (!document.hidden) await refresh();
    setTimeout(poll, REFRESH_MS);
  };

  function resetShowForm() {
    editingShow = null;
    showForm.reset();
    $('#show-form-title').textContent = 'New show';
    $('#show-submit').textContent = 'Create show';
    show($('#show-cancel'), false);
  }

  function editShow(info) {
    editingShow = info;
    $('#show-title').value = info.title;
    $('#show-starts').value = localInput(info.starts_at);
    $('#show-ends').value = localInput(info.ends_at);
    $('#show-currency').value = info.currency;
    $('#show-replay').value = String(info.replay_hours);
    $('#show-form-title').textContent = `Edit ${info.title}`;
    $('#show-submit').textContent = 'Save show';
    show($('#show-cancel'));
    $('#show-title').focus();
  }

  function editTier(info, tier) {
    tierTarget = {show: info, tier};
    tierForm.reset();
    $('#tier-form-title').textContent = tier ? `Edit ${tier.name} (${info.title})` : `New tier for ${info.title}`;
    $('#tier-submit').textContent = tier ? 'Save tier' : 'Add tier';
    $('#tier-price-label').textContent = `Price (${info.currency})`;
    if (tier) {
      $('#tier-name').value = tier.name;
      $('#tier-price').value = major(tier.price, info.currency);
      $('#tier-floor').value = tier.min_price === null ? '' : major(tier.min_price, info.currency);
      $('#tier-quantity').value = tier.quantity === null ? '' : String(tier.quantity);
      $('#tier-latency').value = tier.latency_class;
      $('#tier-chat').checked = tier.chat;
      $('#tier-replay').checked = tier.replay;
    }
    show(tierForm);
    say($('#tier-status'), '');
    $('#tier-name').focus();
  }

  showForm.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const body = {title: $('#show-title').value.trim(), starts_at: isoOf($('#show-starts').value),
      ends_at: isoOf($('#show-ends').value), replay_hours: Number($('#show-replay').value || 0)};
    const currency = $('#show-currency').value.trim().toUpperCase();
    if (currency) body.currency = currency;
    try {
      if (editingShow) {
        await api(`/api/shows/${encodeURIComponent(editingShow.id)}`, {method: 'PATCH', body});
        say($('#shows-status'), 'Show saved.');
      } else {
        const created = await api(roomPath(slug, '/shows'), {method: 'POST', body});
        say($('#shows-status'), 'Show created. Add its tiers: until it has one, the room stays free.');
        await refresh();
        editTier(created, null);
      }
      resetShowForm();
      await refresh();
    } catch (err) {
      say($('#shows-status'), err.message, 'error');
    }
  });
  $('#show-cancel').addEventListener('click', resetShowForm);

  tierForm.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const {show: info, tier} = tierTarget;
    const amount = parseAmount($('#tier-price').value, info.currency);
    const floorText = $('#tier-floor').value.trim();
    const floor = floorText ? parseAmount(floorText, info.currency) : null;
    if (amount === null || (floorText && floor === null)) {
      say($('#tier-status'), 'Enter the prices like 15 or 12.50.', 'error');
      return;
    }
    const quantity = $('#tier-quantity').value.trim();
    const body = {name: $('#tier-name').value.trim(), price: amount, min_price: floor,
      quantity: quantity === '' ? null : Number(quantity), latency_class: $('#tier-latency').value,
      chat: $('#tier-chat').checked, replay: $('#tier-replay').checked};
    const path = `/api/shows/${encodeURIComponent(info.id)}/tiers`;
    try {
      if (tier) await api(`${path}/${encodeURIComponent(tier.id)}`, {method: 'PATCH', body});
      else await api(path, {method: 'POST', body});
      show(tierForm, false);
      say($('#shows-status'), tier ? `Tier ${body.name} saved.` : `Tier ${body.name} added.`);
      await refresh();
    } catch (err) {
      say($('#tier-status'), err.message, 'error');
    }
  });
  $('#tier-cancel').addEventListener('click', () => show(tierForm, false));
  poll();
}
