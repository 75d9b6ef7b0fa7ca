// The studio's tips card (owner only): this show's tips as they come in, the OBS overlay URL
// to copy, a new overlay URL (the old one stops working), and a test alert for the overlay.

import {api, roomPath} from './js/api.js';
import {$, copyButton, say, show} from './js/dom.js';
import {minorDigits, parseAmount} from './js/money.js';
import {RoomSocket} from './js/socket.js';
import {TipLedger, showTips} from './js/tips.js';

function setOverlayUrl(url) {
  $('#overlay-url').textContent = url || '';
}

export function tipsPanel(room) {
  const slug = room.slug;
  show($('#tips-card'));
  setOverlayUrl(room.overlay_url);
  $('#copy-overlay').replaceChildren(copyButton('Copy overlay URL', () => $('#overlay-url').textContent));
  $('#test-alert').addEventListener('click', async () => {
    try {
      await api(roomPath(slug, '/overlay/test-alert'), {method: 'POST', body: {}});
      say($('#overlay-status'), 'Test alert sent: it shows on the overlay now.');
    } catch (err) {
      say($('#overlay-status'), err.message, 'error');
    }
  });
  $('#rotate-overlay').addEventListener('click', async () => {
    try {
      const answer = await api(roomPath(slug, '/overlay-key'), {method: 'POST'});
      setOverlayUrl(answer.overlay_url);
      say($('#overlay-status'), 'New overlay URL ready: paste it into OBS, the old one no longer works.');
    } catch (err) {
      say($('#overlay-status'), err.message, 'error');
    }
  });
  tipSettings(slug);
  const socket = new RoomSocket(slug, {signedIn: true});  // the studio is the owner's
  const ledger = new TipLedger(socket, () => render());
  const render = showTips({list: $('#studio-tips'), total: $('#tips-total')}, ledger);
  socket.connect();
  return {socket, ledger};
}

function major(amount, currency) {
  const digits = minorDigits(currency);
  return (amount / 10 ** digits).toFixed(digits);
}

/** The room's currency and the smallest and largest tip (GET/PUT .../tip-settings). */
async function tipSettings(slug) {
  const status = $('#tip-settings-status');
  const fill = (money) => {
    $('#tip-currency').value = money.currency;
    $('#tip-min').value = major(money.tip_min, money.currency);
    $('#tip-max').value = major(money.tip_max, money.currency);
  };
  $('#tip-settings').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const currency = $('#tip-currency').value.trim().toUpperCase();
    const low = parseAmount($('#tip-min').value, currency);
    const high = parseAmount($('#tip-max').value, currency);
    if (!low || !high) {
      say(status, 'Enter the amounts like 1 or 2.50.', 'error');
      return;
    }
    try {
      fill(await api(roomPath(slug, '/tip-settings'), {method: 'PUT', body: {currency, tip_min: low, tip_max: high}}));
      say(status, 'Saved.');
    } catch (err) {
      say(status, err.message, 'error');
    }
  });
  try {
    fill(await api(roomPath(slug, '/tip-settings')));
  } catch (err) {
    say(status, `Could not load the tip settings: ${err.message}`, 'error');
  }
}
