// The studio's stream health: bitrate, frame rate, keyframe interval, resolution and
// reconnects from GET /api/rooms/{slug}/stream while the room is live, and plain-words
// advice when a setting works against a smooth, low-latency show.

import {api, roomPath} from './js/api.js';
import {$, clear, el, show} from './js/dom.js';

const POLL_MS = 4000;

/** What to tell the performer about ``stream`` (the /stream answer): a list of sentences. */
export function advice(stream) {
  const notes = [];
  const gop = stream.keyframe_interval;
  if (gop && gop > 4) notes.push(`Keyframe interval ${Math.round(gop)} s: set it to 2 s in OBS (Output → Keyframe Interval) for low latency.`);
  if (stream.fps && stream.fps < 20) notes.push(`Only ${Math.round(stream.fps)} frames per second arrive: lower the resolution or the encoder preset in OBS, or check the upload.`);
  if (stream.bitrate && stream.bitrate < 300_000) notes.push(`Bitrate ${Math.round(stream.bitrate / 1000)} kb/s is low: fans will see a blurry picture.`);
  if (stream.bitrate && stream.bitrate > 8_000_000) notes.push(`Bitrate ${(stream.bitrate / 1e6).toFixed(1)} Mb/s is more than most fans can download: 2.5 to 6 Mb/s is plenty.`);
  if (stream.state === 'reconnecting') notes.push('The stream dropped: waiting for the encoder to come back.');
  return notes;
}

/** The recording line of the panel (GET /api/rooms/{slug}/recording), or null. */
export function recordingFact(recording) {
  if (!recording) return null;
  if (recording.state === 'failed') return `Stopped: ${recording.error}. The live show goes on.`;
  const length = `${Math.round(recording.duration || 0)} s`;
  const gaps = recording.gaps ? `, ${recording.gaps} gaps` : '';
  return recording.state === 'recording' ? `On (${length}${gaps})` : `Done (${length}${gaps})`;
}

function facts(stream) {
  const kbps = stream.bitrate ? `${Math.round(stream.bitrate / 1000)} kb/s` : '…';
  return [
    ['Bitrate', kbps],
    ['Frame rate', stream.fps ? `${Math.round(stream.fps)} fps` : '…'],
    ['Keyframe interval', stream.keyframe_interval ? `${stream.keyframe_interval.toFixed(1)} s` : '…'],
    ['Resolution', stream.resolution || '…'],
    ['Reconnects', String(Math.max(0, (stream.session || 1) - 1))],
  ];
}

export function healthPanel(room) {
  const card = $('#health');
  const list = $('#health-facts');
  const notes = $('#health-advice');
  const render = (stream, recording) => {
    const live = stream.state === 'live' || stream.state === 'reconnecting';
    show(card, live);
    if (!live) return;
    clear(list);
    const rows = facts(stream);
    const recorded = recordingFact(recording);
    if (recorded) rows.push(['Recording', recorded]);
    for (const [name, value] of rows) list.append(el('dt', {text: name}), el('dd', {text: value}));
    clear(notes);
    const said = advice(stream);
    for (const line of said) notes.append(el('li', {text: line}));
    if (said.length === 0) notes.append(el('li', {class: 'ok', text: 'All good.'}));
  };
  const poll = async () => {
    try {
      const stream = await api(roomPath(room.slug, '/stream'));
      const recording = room.role === 'owner' || room.role === 'host'
        ? (await api(roomPath(room.slug, '/recording')).catch(() => ({}))).recording : null;
      render(stream, recording);
    } catch {
      // the next poll tries again
    }
    setTimeout(poll, POLL_MS);
  };
  poll();
}
