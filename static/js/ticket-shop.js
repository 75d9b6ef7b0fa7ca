// The show's tiers with their prices and a Buy button, for a fan without a ticket: Buy holds
// a ticket (POST /api/shows/{id}/orders) and opens the checkout, which returns to the room.

import {api} from './api.js';
import {clear, el, say, show as showNode} from './dom.js';
import {formatAmount} from './money.js';

/** parts: {box, title, list, status}; me: the signed-in user or null. */
export function ticketShop({box, title, list, status}, show, me) {
  title.textContent = `Tickets: ${show.title}`;
  clear(list);
  for (const tier of show.tiers) list.append(tierRow(tier, show, me, status));
  if (!me) say(status, 'Sign in to buy a ticket.');
  showNode(box);
}

function tierRow(tier, show, me, status) {
  const price = tier.price === 0 ? 'Free' : formatAmount(tier.price, show.currency);
  const buy = el('button', {type: 'button', 'aria-label': `Buy ${tier.name} (${price})`, text: 'Buy'});
  buy.disabled = !me || !tier.on_sale || tier.remaining === 0;
  buy.addEventListener('click', () => purchase(tier, show, buy, status));
  const note = !tier.on_sale ? 'not on sale' : tier.remaining === 0 ? 'sold out'
    : tier.latency_class === 'realtime' ? 'real time' : '';
  return el('li', {class: 'tier', dataset: {tier: tier.id}},
    el('span', {class: 'name', text: tier.name}), el('span', {class: 'amount', text: price}),
    note ? el('span', {class: 'hint', text: note}) : null, buy);
}

async function purchase(tier, show, button, status) {
  button.disabled = true;
  say(status, 'Holding your ticket…');
  try {
    const order = await api(`/api/shows/${encodeURIComponent(show.id)}/orders`,
      {method: 'POST', body: {tier_id: tier.id}});
    if (order.checkout_url) location.assign(order.checkout_url);
    else location.reload();  // a free ticket is issued at once
  } catch (err) {
    say(status, err.message, 'error');
    button.disabled = false;
  }
}
