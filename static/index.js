// The front page: sign up, log in, create a room (showing its stream key once) and list rooms.

import {api, logIn, signUp, whoami} from './js/api.js';
import {avatar} from './js/avatar.js';
import {$, clear, copyButton, el, say, show} from './js/dom.js';
import {myTickets} from './js/my-tickets.js';
import {render as renderSession} from './js/session.js';

let me = null;

function setUser(user) {
  me = user;
  renderSession($('#session'), me, setUser);
  show($('#account'), !me);
  show($('#create'), Boolean(me));
  if (!me) show($('#new-room'), false);
  myTickets($('#my-tickets'), $('#ticket-list'), me);
  loadRooms();
}

/** ``?next=``: the page of this site that sent the visitor here to sign in (only a local path). */
function nextPath() {
  const next = new URLSearchParams(location.search).get('next') || '';
  return /^\/(?![/\\])[^\s]*$/.test(next) ? next : '';
}

function formValues(form) {
  return Object.fromEntries(new FormData(form).entries());
}

async function accountSubmit(ev, action) {
  ev.preventDefault();
  const form = ev.currentTarget;
  const {username, password} = formValues(form);
  const button = form.querySelector('button');
  button.disabled = true;
  try {
    await action(username.trim(), password);
    form.reset();
    say($('#account-status'), '');
    const next = nextPath();
    if (next) {
      location.assign(next);
      return;
    }
    setUser(await whoami());
  } catch (err) {
    say($('#account-status'), err.message, 'error');
  } finally {
    button.disabled = false;
  }
}

async function createRoom(ev) {
  ev.preventDefault();
  const form = ev.currentTarget;
  const button = form.querySelector('button');
  button.disabled = true;
  try {
    const values = formValues(form);
    const body = {title: values.title.trim(), latency_class: values.latency_class || 'standard'};
    const room = await api('/api/rooms', {method: 'POST', body});
    form.reset();
    say($('#create-status'), '');
    showNewRoom(room);
    loadRooms();
  } catch (err) {
    say($('#create-status'), err.message, 'error');
  } finally {
    button.disabled = false;
  }
}

function showNewRoom(room) {
  const ingest = room.ingest || {};
  const rtmp = ingest.rtmp || {};
  const server = rtmp.server || rtmp.url || '';
  const whip = (ingest.whip && ingest.whip.url) || '';
  const playback = room.playback || {};
  $('#new-room-title').textContent = room.title || room.slug;
  $('#new-rtmp-server').textContent = server;
  $('#new-stream-key').textContent = room.stream_key || '';
  $('#new-whip-url').textContent = whip;
  $('#copy-server').replaceChildren(copyButton('Copy', () => server));
  $('#copy-key').replaceChildren(copyButton('Copy', () => room.stream_key || ''));
  $('#new-watch').href = localPath(playback.watch, `/watch/${room.slug}`);
  $('#new-studio').href = localPath(room.studio, `/studio/${room.slug}`);
  $('#new-moderate').href = localPath(room.moderate, `/moderate/${room.slug}`);
  show($('#new-room'));
}

/** Use the path of an absolute URL from the API, so links work behind any host name. */
function localPath(url, fallback) {
  try {
    return url ? new URL(url, location.href).pathname : fallback;
  } catch {
    return fallback;
  }
}

async function loadRooms() {
  const list = $('#rooms');
  let rooms = [];
  try {
    rooms = (await api('/api/rooms')).rooms || [];
  } catch (err) {
    clear(list);
    list.append(el('li', {class: 'empty', text: `Could not load rooms: ${err.message}`}));
    return;
  }
  clear(list);
  rooms.sort((a, b) => Number(Boolean(b.live)) - Number(Boolean(a.live)));  // live rooms first
  if (rooms.length === 0) list.append(el('li', {class: 'empty', text: 'No rooms yet.'}));
  for (const room of rooms) list.append(roomItem(room));
}

function roomItem(room) {
  const slug = encodeURIComponent(room.slug);
  const mine = me && room.owner === me.username;
  const state = room.stream_state === 'reconnecting' ? 'reconnecting' : room.live ? 'live' : 'offline';
  const viewers = Number(room.viewers || 0);
  return el('li', {class: 'room', dataset: {slug: room.slug, state}},
    el('a', {class: 'thumb-link', href: `/watch/${slug}`, tabindex: '-1', 'aria-hidden': 'true'},
      roomPicture(room, state)),
    el('span', {class: 'room-title'},
      el('span', {class: 'live-badge', dataset: {state}, text: state.toUpperCase()}), ' ',
      el('a', {href: `/watch/${slug}`, text: room.title || room.slug}),
      room.owner ? el('span', {class: 'by'}, ' by ', avatar(room), room.owner) : null,
      state !== 'offline' ? el('span', {class: 'viewers', text: ` · ${viewers} watching`}) : null),
    el('span', {class: 'links'},
      el('a', {href: `/watch/${slug}`, text: 'Watch'}),
      mine ? el('a', {href: `/studio/${slug}`, text: 'Studio'}) : null,
      mine ? el('a', {href: `/moderate/${slug}`, text: 'Moderate'}) : null));
}

const THUMB_REFRESH_MS = 10000;

/** A live room: a still of its stream (GET /api/rooms/{slug}/thumbnail.jpg, refreshed every
 * few seconds); an offline one: its image, else (or a live one with no still yet) a placeholder. */
function roomPicture(room, state) {
  const placeholder = () => el('span', {class: 'thumb placeholder', dataset: {state},
    text: state === 'offline' ? 'Offline' : 'Live'});
  if (state === 'offline') {
    if (!room.image_url) return placeholder();
    const url = new URL(room.image_url, location.href);  // the room's own image, same origin (CSP)
    return el('img', {class: 'thumb room-picture', alt: '', width: '160', height: '90', src: url.pathname + url.search,
      dataset: {state}});
  }
  const img = still(thumbnailUrl(room.slug), state);
  img.addEventListener('error', () => img.replaceWith(placeholder()), {once: true});
  return img;
}

function still(src, state) {
  return el('img', {class: 'thumb', alt: '', width: '160', height: '90', src, dataset: {state}});
}

function thumbnailUrl(slug) {
  return `/api/rooms/${encodeURIComponent(slug)}/thumbnail.jpg?t=${Math.floor(Date.now() / THUMB_REFRESH_MS)}`;
}

/** Newer stills of the live rooms (the server makes one per room every few seconds at most),
 * swapped in once loaded: no flash, and a failure keeps what was there. */
function refreshThumbnails() {
  for (const node of document.querySelectorAll('#rooms .thumb:not([data-state="offline"])')) {
    const slug = node.closest('li.room').dataset.slug;
    const next = new Image();
    next.addEventListener('load', () => {
      if (node.tagName === 'IMG') node.src = next.src;
      else node.replaceWith(still(next.src, node.dataset.state));
    }, {once: true});
    next.src = thumbnailUrl(slug);
  }
}

async function main() {
  $('#signup-form').addEventListener('submit', (ev) => accountSubmit(ev, signUp));
  $('#login-form').addEventListener('submit', (ev) => accountSubmit(ev, logIn));
  $('#create-form').addEventListener('submit', createRoom);
  show($('#account-next'), Boolean(nextPath()));
  $('#refresh-rooms').addEventListener('click', loadRooms);
  setInterval(refreshThumbnails, THUMB_REFRESH_MS);
  let user = null;
  try {
    user = await whoami();
  } catch {
    user = null;
  }
  setUser(user);
}

main();
