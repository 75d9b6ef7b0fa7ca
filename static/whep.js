// WebRTC for the pages: WHIP (RFC 9725) to go live from the browser, WHEP to watch in real time.
// Non-trickle: we wait for ICE gathering to finish, POST the whole offer, and apply the answer.
// The session resource (Location) is DELETEd on stop. ICE servers come from the server's Link
// headers when the page has none of its own.

const GATHER_MS = 3000;
const CONNECT_MS = 10000;

export class WebRtcError extends Error {
  constructor(message, status = 0) {
    super(message);
    this.status = status;
  }
}

function waitForGathering(pc) {
  if (pc.iceGatheringState === 'complete') return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      if (pc.iceGatheringState !== 'complete') return;
      pc.removeEventListener('icegatheringstatechange', done);
      resolve();
    };
    pc.addEventListener('icegatheringstatechange', done);
    setTimeout(resolve, GATHER_MS);  // enough candidates by now; the answer has ours
  });
}

/** Wait until the peer connection is connected; rejects on failure or after CONNECT_MS. */
export function connected(pc) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new WebRtcError('WebRTC did not connect in time')), CONNECT_MS);
    const check = () => {
      if (pc.connectionState === 'connected') {
        clearTimeout(timer);
        resolve();
      } else if (pc.connectionState === 'failed' || pc.connectionState === 'closed') {
        clearTimeout(timer);
        reject(new WebRtcError(`WebRTC connection ${pc.connectionState}`));
      }
    };
    pc.addEventListener('connectionstatechange', check);
    check();
  });
}

/** The sentence of a JSON error answer ({"error", "message"}), or the text as it came. */
function errorText(text) {
  try {
    const body = JSON.parse(text);
    return body.message || body.error || '';
  } catch {
    return text.trim();
  }
}

/** POST our offer to a WHIP/WHEP endpoint, apply the answer; returns the session URL. */
async function exchange(pc, url, token) {
  await pc.setLocalDescription(await pc.createOffer());
  await waitForGathering(pc);
  const headers = {'Content-Type': 'application/sdp'};
  if (token) headers.Authorization = `Bearer ${token}`;
  const response = await fetch(url, {method: 'POST', headers, body: pc.localDescription.sdp});
  const text = await response.text();
  if (response.status !== 201) throw new WebRtcError(errorText(text) || `HTTP ${response.status}`, response.status);
  await pc.setRemoteDescription({type: 'answer', sdp: text});
  return new URL(response.headers.get('Location'), url).href;
}

function preferCodecs(transceiver, kind, order) {
  if (!transceiver.setCodecPreferences || !RTCRtpReceiver.getCapabilities) return;
  const codecs = (RTCRtpSender.getCapabilities(kind) || {codecs: []}).codecs;
  const rank = (c) => {
    const i = order.indexOf(c.mimeType.toLowerCase());
    return i < 0 ? order.length : i;
  };
  const sorted = codecs.filter((c) => rank(c) < order.length || c.mimeType.toLowerCase().endsWith('/rtx'));
  sorted.sort((a, b) => rank(a) - rank(b));
  try {
    transceiver.setCodecPreferences(sorted);
  } catch {
    // keep the browser's defaults
  }
}

/** A WebRTC session we can end: close the peer connection and DELETE the resource. */
class Session {
  constructor(pc, url) {
    this.pc = pc;
    this.url = url;
  }

  async stop() {
    const url = this.url;
    this.url = null;
    this.pc.close();
    if (url) await fetch(url, {method: 'DELETE'}).catch(() => {});
  }
}

/** Go live: publish ``stream`` (camera + microphone) to /whip/{slug} with the stream key. */
export async function whipPublish(slug, stream, token, {iceServers = []} = {}) {
  const pc = new RTCPeerConnection({iceServers});
  for (const track of stream.getTracks()) {
    const transceiver = pc.addTransceiver(track, {direction: 'sendonly', streams: [stream]});
    if (track.kind === 'video') preferCodecs(transceiver, 'video', ['video/h264', 'video/vp8']);
  }
  try {
    const url = await exchange(pc, `${location.origin}/whip/${encodeURIComponent(slug)}`, token);
    await connected(pc);
    return new Session(pc, url);
  } catch (err) {
    pc.close();
    throw err;
  }
}

/** Watch: receive /whep/{slug}; resolves once connected with the session, whose ``stream``
 * the caller shows (``stop()`` ends it). */
export async function whepPlay(slug, {iceServers = [], onEnded = null, token = null} = {}) {
  const pc = new RTCPeerConnection({iceServers});
  const stream = new MediaStream();
  const videoTransceiver = pc.addTransceiver('video', {direction: 'recvonly'});
  preferCodecs(videoTransceiver, 'video', ['video/h264']);
  pc.addTransceiver('audio', {direction: 'recvonly'});
  pc.addEventListener('track', (ev) => stream.addTrack(ev.track));
  try {
    const url = await exchange(pc, `${location.origin}/whep/${encodeURIComponent(slug)}`, token);
    await connected(pc);
    if (onEnded) {
      pc.addEventListener('connectionstatechange', () => {
        if (pc.connectionState === 'failed' || pc.connectionState === 'closed') onEnded();
      });
    }
    const session = new Session(pc, url);
    session.stream = stream;
    return session;
  } catch (err) {
    pc.close();
    throw err;
  }
}

const RETRY_MS = 1000;          // first retry of WHEP while the stream is starting; doubles per failure
const MAX_FAILURES = 4;         // consecutive failures of a live stream before we fall back to LL-HLS
const UPGRADE_MS = 30000;       // then, while on LL-HLS, try WebRTC again after this long (doubling)
const STALL_MS = 8000;          // WebRTC connected but the picture stands still this long: reconnect

/** The room's stream state from the API ('live', 'reconnecting', 'offline'), or null if unknown. */
async function apiState(slug) {
  try {
    const response = await fetch(`/api/rooms/${encodeURIComponent(slug)}/stream`, {cache: 'no-store'});
    return response.ok ? (await response.json()).state || null : null;
  } catch {
    return null;
  }
}

/**
 * The watch page's hook: for a ``realtime`` room, make ``player`` (the LL-HLS LivePlayer) use
 * WebRTC whenever it would start playing. The player's own offline/live detection stays in
 * charge, with one change: WHEP starts as soon as the API says the stream is live, without
 * waiting for LL-HLS to have its first segments (with a browser publisher that takes many
 * seconds, and WebRTC needs none of it).
 *
 * A failed WHEP attempt while the stream is live or starting (not live yet, ICE slow, no
 * picture) is retried with a growing delay. Only after MAX_FAILURES in a row does the page play
 * LL-HLS instead, and it tries WebRTC again later. Every attempt is numbered in
 * ``video.dataset.webrtcTries``; the last error is in ``video.dataset.webrtcError``.
 */
export function useRealtime(player, slug, {token = () => null} = {}) {
  const playHls = player.play.bind(player);
  const stopHls = player.stopPlayback.bind(player);
  const probeHls = player.probe.bind(player);
  let session = null;
  let failures = 0;
  let tries = 0;
  let attempt = 0;        // bumped by every play and stop: a late answer of an old attempt is dropped
  let retryTimer = null;
  let upgradeTimer = null;
  let upgradeMs = UPGRADE_MS;
  let watchdog = null;

  player.probe = async () => {
    if (failures >= MAX_FAILURES) return probeHls();
    const state = await apiState(slug);
    if (state === 'live' || state === 'reconnecting') return 'live';
    return state === null ? probeHls() : 'offline';
  };

  const fallBack = () => {
    playHls();
    clearTimeout(upgradeTimer);
    upgradeTimer = setTimeout(() => {
      failures = 0;
      if (player.mode && player.mode !== 'webrtc') player.restart();
    }, upgradeMs);
    upgradeMs = Math.min(upgradeMs * 2, 16 * UPGRADE_MS);
  };

  const failed = (err) => {
    failures += 1;
    player.video.dataset.webrtcError = err.message;
    if (failures >= MAX_FAILURES) {
      fallBack();
      return;
    }
    player.setState('starting');
    retryTimer = setTimeout(() => player.check(), RETRY_MS * 2 ** (failures - 1));
  };

  const watch = (mine) => {
    let last = -1;
    let stillMs = 0;
    clearInterval(watchdog);
    watchdog = setInterval(() => {
      if (mine !== attempt) return;
      const now = player.video.currentTime;
      const moving = last >= 0 && now !== last;
      // While the performer reconnects the picture stands still on purpose; the same WebRTC
      // session carries on when they are back (the server rebases the new session's media).
      stillMs = moving || player.state === 'reconnecting' ? 0 : stillMs + 1000;
      last = now;
      if (moving) {
        failures = 0;
        upgradeMs = UPGRADE_MS;
      } else if (stillMs >= STALL_MS) {
        stopPlayback('loading');
        failed(new WebRtcError('no picture over WebRTC'));
      }
    }, 1000);
  };

  const stopPlayback = (state, message) => {
    attempt += 1;
    clearTimeout(retryTimer);
    clearInterval(watchdog);
    if (session) {
      session.stop();
      session = null;
      player.video.srcObject = null;
    }
    stopHls(state, message);
  };

  player.play = async () => {
    clearTimeout(retryTimer);
    clearTimeout(upgradeTimer);
    if (failures >= MAX_FAILURES) {
      fallBack();
      return;
    }
    const mine = ++attempt;
    tries += 1;
    player.mode = 'webrtc';
    player.video.dataset.player = 'webrtc';
    player.video.dataset.webrtcTries = String(tries);
    player.setState('loading');
    try {
      const started = await whepPlay(slug, {onEnded: () => mine === attempt && player.restart(),
        token: token()});
      if (mine !== attempt) {  // stopped (offline, restart) while we were connecting
        started.stop();
        return;
      }
      session = started;
      player.video.srcObject = started.stream;
      player.video.play().catch(() => {});
      watch(mine);
    } catch (err) {
      if (mine !== attempt) return;
      player.mode = null;
      failed(err);
    }
  };
  player.stopPlayback = stopPlayback;
}
