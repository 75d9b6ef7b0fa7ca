// "My tickets" on the front page: GET /api/me/tickets, each with a link to its show's room.

import {api} from './api.js';
import {clear, el, show} from './dom.js';

/** Fill ``list`` with the signed-in user's valid tickets; ``box`` shows only when there are some. */
export async function myTickets(box, list, me) {
  clear(list);
  show(box, false);
  if (!me) return;
  let tickets = [];
  try {
    tickets = (await api('/api/me/tickets')).tickets.filter((t) => t.status === 'valid');
  } catch {
    return;
  }
  for (const ticket of tickets) list.append(ticketRow(ticket));
  show(box, tickets.length > 0);
}

function ticketRow(ticket) {
  const when = ticket.starts_at ? new Date(ticket.starts_at).toLocaleString() : '';
  return el('li', {class: 'ticket', dataset: {ticket: ticket.id}},
    el('a', {href: `/watch/${encodeURIComponent(ticket.room)}`, text: ticket.show_title}),
    el('span', {class: 'hint', text: ` ${ticket.tier_name}${ticket.comp ? ' (guest list)' : ''} · ${when}`}));
}
