// /earnings: the signed-in user's balance, lines per room and show, payouts, downloads.
// Every figure comes from GET /api/me/earnings; amounts are minor units, shown formatted.

import {api} from './js/api.js';
import {$, clear, el, say, show} from './js/dom.js';
import {formatAmount} from './js/money.js';
import {sessionCorner} from './js/session.js';

function row(cells) {
  return el('tr', {}, ...cells.map((c) => el('td', {text: c})));
}

function renderAccount(account) {
  $('#account-state').textContent = account.ready ? 'Ready: payouts go to your account.' : `Not ready: ${account.reason}.`;
  show($('#account-open'), !account.ready);
}

function renderBalances(balances) {
  const body = $('#balances tbody');
  clear(body);
  for (const b of balances) {
    const f = (n) => formatAmount(n, b.currency);
    body.append(row([b.currency, f(b.available), f(b.in_hold), f(b.in_transit), f(b.paid)]));
  }
  if (!balances.length) body.append(el('tr', {}, el('td', {colspan: '5', text: 'Nothing earned yet.'})));
}

function renderLines(lines) {
  const body = $('#lines tbody');
  clear(body);
  for (const l of lines) {
    const f = (n) => formatAmount(n, l.currency);
    body.append(row([l.room || '—', l.show || '—', f(l.gross), f(l.fees), f(l.commission), f(l.share),
      f(l.recouped)]));
  }
}

function renderPayouts(payouts) {
  const list = $('#payouts');
  clear(list);
  for (const p of payouts) {
    const when = new Date(p.created_at * 1000).toLocaleDateString();
    const back = p.reversed ? ` (${formatAmount(p.reversed, p.currency)} taken back after a refund)` : '';
    list.append(el('li', {class: `payout ${p.state}`}, `${when}: ${formatAmount(p.amount, p.currency)} — ${p.state}${back}`));
  }
  if (!payouts.length) list.append(el('li', {text: 'No payouts yet.'}));
}

async function load() {
  const data = await api('/api/me/earnings');
  renderAccount(data.payout_account);
  renderBalances(data.balances);
  renderLines(data.lines);
  renderPayouts(data.payouts);
}

async function openAccount() {
  const answer = await api('/api/me/payout-account', {method: 'POST'});
  if (answer.onboarding_url) location.assign(answer.onboarding_url);
  else await load();
}

async function main() {
  const user = await sessionCorner($('#session'));
  if (!user) {
    say($('#status'), 'Sign in to see your earnings.', 'error');
    return;
  }
  $('#account-open').addEventListener('click', () => openAccount().catch((e) => say($('#status'), e.message, 'error')));
  await load().catch((e) => say($('#status'), e.message, 'error'));
}

main();
