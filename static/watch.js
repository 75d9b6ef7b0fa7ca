// The fan page: the live video, the chat (with tips), top supporters, the Tip button and
// the song-request queue (with paid boosts) of one room.

import {avatar} from './js/avatar.js';
import {api, roomPath, slugFromPath} from './js/api.js';
import {showBan} from './js/banned.js';
import {$, say} from './js/dom.js';
import {ChatView} from './js/chat.js';
import {NowPlaying} from './js/now-playing.js';
import {offlineInfo} from './js/offline-info.js';
import {LivePlayer} from './js/player.js';
import {QueueView} from './js/queue.js';
import {loadRoom, showSocketErrors, showViewers} from './js/room.js';
import {sessionCorner} from './js/session.js';
import {unmutePrompt} from './js/unmute.js';
import {RoomSocket, socketStatus} from './js/socket.js';
import {PayDialog, TipLedger, supportersStrip} from './js/tips.js';
import {ticketShop} from './js/ticket-shop.js';
import {TAKEN_OVER, currentShow, keepViewing, openViewing} from './js/viewing.js';
import {useRealtime} from './whep.js';

async function main() {
  const slug = slugFromPath();
  const backFromCheckout = new URL(location.href).searchParams.has('paid');
  const me = await sessionCorner($('#session'));
  const room = await loadRoom(slug, $('#room-notice'));
  if (!room) return;
  document.title = `${room.title} · Not a Label Live`;
  $('#room-title').textContent = room.title;
  if (room.owner) $('#room-owner').replaceChildren(avatar(room), `with ${room.owner}`);

  const socket = new RoomSocket(slug, {signedIn: Boolean(me)});
  socketStatus(socket, $('#socket-status'));
  showViewers(socket, $('#viewers'));
  showSocketErrors(socket, $('#room-notice'));
  const chat = new ChatView({log: $('#chat-log'), pinned: $('#pinned'), form: $('#chat-form'), input: $('#chat-input'),
    status: $('#chat-status'), note: $('#chat-note')}, {socket, me});
  const money = await tipSettings(slug);
  const currency = money.currency;
  const pay = payDialog(slug, money);
  const queue = new QueueView({list: $('#queue'), catalog: $('#catalog'), status: $('#queue-status')},
    {socket, slug, me, currency,
      onBoost: (item, title) => pay.open({kind: 'boost', requestId: String(item.id), song: title})});
  showBan(socket, {notice: $('#room-notice'), chat, queue});
  new NowPlaying($('#now-playing'), {socket, slug});
  const ledger = new TipLedger(socket, () => renderSupporters());
  const renderSupporters = supportersStrip($('#supporters'), ledger);
  tipButton(me, pay);
  const player = new LivePlayer({video: $('#video'), overlay: $('#player-overlay'), badge: $('#live-badge')},
    {slug, socket});
  unmutePrompt($('#video'), $('#unmute'));
  offlineInfo({image: $('#room-image'), card: $('#offline-card'), next: $('#next-show'),
    description: $('#room-description')}, {room, slug, player});
  window.nal = {socket, player, queue, ledger};  // for the console and the browser tests
  socket.connect();
  const show = await currentShow(slug);
  if (!show) {  // a free room, as before tickets
    player.start();
    if (room.latency_class === 'realtime') useRealtime(player, slug);  // WebRTC first, LL-HLS fallback
  } else {
    watchShow(show, {me, slug, player, socket, backFromCheckout});
  }
  queue.loadCatalog();
}

const CONFIRM_TRIES = 15;  // back from checkout, the ticket is issued once the payment is confirmed

/** A gated room: play with a viewing session when this fan holds a ticket, else offer the tiers. */
async function watchShow(show, {me, slug, player, socket, backFromCheckout}) {
  let viewing = null;
  for (let i = 0; me && i < (backFromCheckout ? CONFIRM_TRIES : 1); i++) {
    if (i > 0) await new Promise((resolve) => setTimeout(resolve, 2000));
    viewing = await openViewing(show).catch((err) => ({error: err.message}));
    if (viewing) break;
  }
  if (!viewing || viewing.error || viewing === 'declined') {
    player.halt(viewing === 'declined' ? 'Watching on your other device.'
      : viewing && viewing.error ? viewing.error : 'A ticket is needed to watch this show.');
    if (!viewing) ticketShop({box: $('#tickets'), title: $('#tickets-title'), list: $('#tiers'),
      status: $('#tickets-status')}, show, me);
    return;
  }
  const keeper = keepViewing(viewing, {
    onRenew: (fresh) => player.setHlsUrl(fresh.hls_url),
    onLost: () => player.halt('This ticket is now watching on another device.'),
  });
  window.nal.viewing = keeper;  // its token, for the console and the browser tests
  socket.on(TAKEN_OVER, (data) => { if (data.session === viewing.session) keeper.lost('taken_over'); });
  let rejoins = 3;
  socket.on('status', async ({state, code}) => {  // 4001: refused or revoked; the heartbeat tells which
    if (state === 'closed' && code === 4001 && await keeper.check() && rejoins-- > 0) socket.connect();
  });
  if (socket.state === 'closed') socket.connect();  // refused before the ticket was issued
  player.setHlsUrl(viewing.hls_url);
  player.start();
  if (viewing.whep_url) useRealtime(player, slug, {token: () => keeper.token});
}

function payDialog(slug, {currency, tip_min: min, tip_max: max}) {
  $('#pay-currency').textContent = currency;
  return new PayDialog({dialog: $('#pay-dialog'), form: $('#pay-form'), title: $('#pay-title'),
    presets: $('#pay-presets'), amount: $('#pay-amount'), message: $('#pay-message'),
    messageRow: $('#pay-message-row'), anonymous: $('#pay-anonymous'), anonymousRow: $('#pay-anonymous-row'),
    status: $('#pay-status'), send: $('#pay-send'), cancel: $('#pay-cancel')}, {slug, currency, min, max});
}

async function tipSettings(slug) {
  try {
    const money = await api(roomPath(slug, '/tip-settings'));
    if (money && money.currency) return money;
  } catch {
    // the defaults below; the server checks every amount anyway
  }
  return {currency: 'USD', tip_min: 1, tip_max: Infinity};
}

function tipButton(me, pay) {
  const button = $('#tip-open');
  const url = new URL(location.href);
  if (url.searchParams.has('paid')) {
    // Back from checkout: the tip shows in chat once the provider confirms the payment.
    say($('#tip-note'), 'Thank you! Your payment is being confirmed; it shows in the chat in a moment.');
    url.searchParams.delete('paid');
    history.replaceState(null, '', url.pathname + url.search);
  }
  if (!me) {
    button.disabled = true;
    say($('#tip-note'), 'Sign in to tip.');
    return;
  }
  button.addEventListener('click', () => pay.open({kind: 'tip'}));
}

main();
