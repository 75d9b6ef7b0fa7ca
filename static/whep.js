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

/** POST our offer to a WHIP/WHEP endpoint, apply the answer; returns the session URL. */
async function exchange(pc, url, token) {
  await pc.setLocalDescription(await pc.createOffer());
  await waitForGathering(pc);
  const headers = {'Content-Type': 'application/sdp'};
  if (token) headers.Authorization = `Bearer ${token}`;
  const response = await fetch(url, {method: 'POST', headers, body: pc.localDescription.sdp});
  const text = await response.text();
  if (response.status !== 201) throw new WebRtcError(text.trim() || `HTTP ${response.status}`, response.status);
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

/** Watch: receive /whep/{slug} into ``video``; returns the session (``stop()`` ends it). */
export async function whepPlay(slug, video, {iceServers = [], onEnded = null} = {}) {
  const pc = new RTCPeerConnection({iceServers});
  const stream = new MediaStream();
  const videoTransceiver = pc.addTransceiver('video', {direction: 'recvonly'});
  preferCodecs(videoTransceiver, 'video', ['video/h264']);
  pc.addTransceiver('audio', {direction: 'recvonly'});
  pc.addEventListener('track', (ev) => stream.addTrack(ev.track));
  try {
    const url = await exchange(pc, `${location.origin}/whep/${encodeURIComponent(slug)}`, null);
    await connected(pc);
    video.srcObject = stream;
    video.play().catch(() => {});
    if (onEnded) {
      pc.addEventListener('connectionstatechange', () => {
        if (pc.connectionState === 'failed' || pc.connectionState === 'closed') onEnded();
      });
    }
    return new Session(pc, url);
  } catch (err) {
    pc.close();
    throw err;
  }
}

/**
 * The watch page's hook: for a ``realtime`` room, make ``player`` (the LL-HLS LivePlayer) try
 * WebRTC first whenever it would start playing, and fall back to its LL-HLS when WebRTC fails.
 * The player's own offline/live detection stays in charge.
 */
export function useRealtime(player, slug) {
  const playHls = player.play.bind(player);
  const stopHls = player.stopPlayback.bind(player);
  let session = null;
  let failures = 0;
  player.play = async () => {
    if (failures >= 2) return playHls();
    player.mode = 'webrtc';
    player.video.dataset.player = 'webrtc';
    player.setState('loading');
    try {
      session = await whepPlay(slug, player.video, {onEnded: () => player.mode === 'webrtc' && player.restart()});
      failures = 0;
    } catch (err) {
      failures += 1;
      session = null;
      player.mode = null;
      player.video.dataset.webrtcError = err.message;
      playHls();
    }
  };
  player.stopPlayback = (state, message) => {
    if (session) {
      session.stop();
      session = null;
      player.video.srcObject = null;
    }
    stopHls(state, message);
  };
}
