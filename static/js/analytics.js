// Shared by the post-show page and the studio's live dashboard: a show's analytics
// (GET /api/shows/{id}/analytics) as plain facts, and its chart images (server-rendered SVG).

import {api} from './api.js';
import {clear, el} from './dom.js';
import {formatAmount} from './money.js';

export function loadAnalytics(showId) {
  return api(`/api/shows/${encodeURIComponent(showId)}/analytics`);
}

export function chartUrl(showId, name) {
  return `/api/shows/${encodeURIComponent(showId)}/analytics/${name}.svg?t=${Date.now()}`;
}

export function duration(seconds) {
  const s = Math.round(seconds || 0);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${s % 60} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

export function time(ts) {
  return ts ? new Date(ts * 1000).toLocaleTimeString([], {hour: '2-digit', minute: '2-digit'}) : '—';
}

export function facts(dl, pairs) {
  clear(dl);
  for (const [name, value] of pairs) {
    dl.append(el('dt', {text: name}), el('dd', {text: String(value)}));
  }
}

export function audienceFacts(a) {
  return [
    ['Peak viewers', a.peak.at ? `${a.peak.viewers} at ${time(a.peak.at)}` : '0'],
    ['Unique viewers', a.unique_viewers],
    ['Signed in / anonymous', `${a.signed_in} / ${a.anonymous}`],
    ['New / returning fans', `${a.new_fans} / ${a.returning_fans}`],
    ['Total watch time', duration(a.watch_s)],
    ['Average watch time', duration(a.average_watch_s)],
  ];
}

export function engagementFacts(e) {
  return [
    ['Chat messages', `${e.chat_messages} (${e.chat_per_minute} a minute)`],
    ['People who chatted', e.distinct_chatters],
    ['Song requests / votes', `${e.song_requests} / ${e.song_votes}`],
    ['Moderation actions', e.moderation_actions],
  ];
}

export function revenueFacts(revenue) {
  const out = [];
  for (const [currency, r] of Object.entries(revenue || {})) {
    const f = (n) => formatAmount(n, currency);
    const tickets = Object.values(r.gross.tickets).reduce((a, b) => a + b, 0);
    out.push([`Gross (${currency})`, f(r.gross_total)],
      ['Tickets / tips / boosts', `${f(tickets)} / ${f(r.gross.tips)} / ${f(r.gross.boosts)}`],
      ['Fees / commission', `${f(r.fees)} / ${f(r.commission)}`],
      ['Refunds / disputes', `${f(r.refunds)} / ${f(r.disputes + r.held)}`],
      ['Net', f(r.net)]);
  }
  if (!out.length) out.push(['Revenue', 'None yet']);
  return out;
}
