// The studio's "go live from this browser" part: pick a camera and microphone, preview them,
// publish over WHIP with a publish ticket (the owner's session, never the stream key), stop;
// the room's live state, viewers and chat beside, whatever the source (OBS or this browser).
// While the room is live from anything but this page (OBS over RTMP, another WHIP client), the
// preview is the live stream itself, through the watch page's player, muted until unmuted.

import {api, roomPath} from './js/api.js';
import {$, say, show} from './js/dom.js';
import {ChatView} from './js/chat.js';
import {LivePlayer} from './js/player.js';
import {showSocketErrors, showViewers} from './js/room.js';
import {RoomSocket, socketStatus} from './js/socket.js';
import {unmutePrompt} from './js/unmute.js';
import {whipPublish} from './whep.js';

const STATES = {live: 'LIVE', reconnecting: 'RECONNECTING', offline: 'OFFLINE'};

function setBadge(state) {
  const badge = $('#studio-state');
  badge.textContent = STATES[state] || 'OFFLINE';
  badge.dataset.state = STATES[state] ? state : 'offline';
}

async function listDevices() {
  const devices = await navigator.mediaDevices.enumerateDevices();
  for (const [kind, select] of [['videoinput', $('#camera')], ['audioinput', $('#microphone')]]) {
    const current = select.value;
    select.replaceChildren(...devices.filter((d) => d.kind === kind).map((d, i) => {
      const option = document.createElement('option');
      option.value = d.deviceId;
      option.textContent = d.label || `${kind === 'videoinput' ? 'Camera' : 'Microphone'} ${i + 1}`;
      return option;
    }));
    if (current) select.value = current;
  }
}

/** The room socket: live state, viewer count and chat beside the preview (opened with the page,
 * so a stream from OBS shows as LIVE too). */
function roomSocket(slug, me) {
  show($('#show-status'));
  show($('#studio-chat'));
  const socket = new RoomSocket(slug, {signedIn: Boolean(me)});
  socketStatus(socket, $('#socket-status'));
  showViewers(socket, $('#viewers'));
  showSocketErrors(socket, $('#room-notice'));
  socket.on('snapshot', (data) => { if (data.stream) setBadge(data.stream.state || data.stream); });
  socket.on('stream.state', (data) => setBadge(data.state));
  new ChatView({log: $('#chat-log'), pinned: $('#pinned'), form: $('#chat-form'), input: $('#chat-input'),
    status: $('#chat-status'), note: $('#chat-note')}, {socket, me, moderation: true});
  socket.connect();
  return socket;
}

class BrowserStudio {
  constructor(slug, socket) {
    this.slug = slug;
    this.socket = socket;
    this.stream = null;
    this.session = null;
    this.status = $('#live-status');
    this.publishing = false;  // this page is (or is becoming) the room's source
    this.player = null;  // the live stream's player while the source is elsewhere
  }

  /** The room's stream state from the socket: preview the stream when another source is live. */
  sourceState(state) {
    const elsewhere = (state === 'live' || state === 'reconnecting') && !this.publishing;
    if (elsewhere && !this.player) {
      this.player = new LivePlayer({video: $('#stream-preview'), overlay: $('#stream-preview-overlay'), badge: null},
        {slug: this.slug, socket: this.socket});
      this.player.start();
    } else if (!elsewhere && this.player && (this.publishing || state === 'offline')) {
      this.player.halt('');
      this.player = null;
    }
    document.body.dataset.preview = elsewhere ? 'stream' : 'camera';
    show($('#stream-preview'), elsewhere);
    show($('#preview'), !elsewhere);
    if (!elsewhere) {
      show($('#stream-preview-overlay'), false);
      show($('#stream-unmute'), false);
    }
  }

  async preview() {
    if (this.stream) this.stream.getTracks().forEach((t) => t.stop());
    const camera = $('#camera').value;
    const microphone = $('#microphone').value;
    this.stream = await navigator.mediaDevices.getUserMedia({
      video: camera ? {deviceId: {exact: camera}, width: 1280, height: 720} : {width: 1280, height: 720},
      audio: microphone ? {deviceId: {exact: microphone}} : true,
    });
    $('#preview').srcObject = this.stream;
    await listDevices();
  }

  async goLive() {
    $('#go-live').disabled = true;
    say(this.status, 'Connecting…');
    this.publishing = true;
    try {
      if (!this.stream) await this.preview();
      const {ticket} = await api(roomPath(this.slug, '/publish-ticket'), {method: 'POST'});
      this.session = await whipPublish(this.slug, this.stream, ticket);
      this.session.pc.addEventListener('connectionstatechange', () => {
        if (this.session && this.session.pc.connectionState === 'failed') this.lost();
      });
      $('#stop-live').disabled = false;
      setBadge('live');
      say(this.status, 'You are live.');
      document.body.dataset.live = 'true';
    } catch (err) {
      this.publishing = false;
      $('#go-live').disabled = false;
      const text = err.status === 403 ? 'Only the room’s owner can go live here.'
        : err.status === 409 ? 'This room is already live from another source (OBS?).' : err.message;
      say(this.status, `Could not go live: ${text}`, 'error');
    }
  }

  lost() {
    this.session = null;
    this.publishing = false;
    $('#go-live').disabled = false;
    $('#stop-live').disabled = true;
    document.body.dataset.live = 'false';
    say(this.status, 'The connection was lost. Press “Go live” to reconnect.', 'error');
  }

  async stop() {
    $('#stop-live').disabled = true;
    if (this.session) await this.session.stop();
    this.session = null;
    this.publishing = false;
    $('#go-live').disabled = false;
    setBadge('offline');
    document.body.dataset.live = 'false';
    say(this.status, 'The stream has ended.');
  }
}

/** Show the browser studio for the room's owner; ``me`` is the signed-in user (or null). */
export function browserStudio(room, me) {
  const slug = room.slug;
  show($('#browser-live'));
  const studio = new BrowserStudio(slug, roomSocket(slug, me));
  studio.socket.on('snapshot', (data) => {
    if (data.stream) studio.sourceState(typeof data.stream === 'string' ? data.stream : data.stream.state);
  });
  studio.socket.on('stream.state', (data) => studio.sourceState(data.state));
  unmutePrompt($('#stream-preview'), $('#stream-unmute'));
  if (!navigator.mediaDevices || !window.RTCPeerConnection) {
    say(studio.status, 'This browser cannot go live over WebRTC; use OBS with the settings above.', 'error');
    $('#go-live').disabled = true;
    return studio;
  }
  listDevices().catch(() => {});
  const onChange = () => studio.preview().catch((err) => say(studio.status, `Camera: ${err.message}`, 'error'));
  $('#camera').addEventListener('change', onChange);
  $('#microphone').addEventListener('change', onChange);
  studio.preview().catch((err) => say(studio.status, `Camera or microphone unavailable: ${err.message}`, 'error'));
  $('#live-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    studio.goLive();
  });
  $('#stop-live').addEventListener('click', () => studio.stop());
  window.addEventListener('pagehide', () => { if (studio.session) studio.session.stop(); });
  return studio;
}
