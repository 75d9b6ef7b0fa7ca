// The performer's studio: the room's OBS settings, rotating the stream key, ending the stream.

import {api, roomPath, slugFromPath} from './js/api.js';
import {$, copyButton, say, show} from './js/dom.js';
import {loadRoom} from './js/room.js';
import {sessionCorner} from './js/session.js';
import {profilePanel} from './studio-profile.js';
import {restreamPanel} from './restreams.js';
import {browserStudio} from './studio-live.js';
import {showDashboard} from './studio-analytics.js';
import {healthPanel} from './studio-health.js';
import {recordingsPanel} from './studio-recordings.js';
import {showsPanel} from './studio-shows.js';
import {songsPanel} from './studio-songs.js';
import {tipsPanel} from './studio-tips.js';

async function main() {
  const slug = slugFromPath();
  const me = await sessionCorner($('#session'));
  const room = await loadRoom(slug, $('#room-notice'));
  if (!room) return;
  document.title = `Studio · ${room.title} · Not a Label Live`;
  $('#room-title').textContent = room.title;
  const ingest = room.ingest || {};
  const server = (ingest.rtmp && (ingest.rtmp.server || ingest.rtmp.url)) || '';
  $('#rtmp-server').textContent = server;
  $('#copy-server').replaceChildren(copyButton('Copy', () => server));
  $('#whip-url').textContent = (ingest.whip && ingest.whip.url) || '';
  const watch = `/watch/${encodeURIComponent(slug)}`;
  $('#watch-link').href = watch;
  $('#watch-link').textContent = new URL(watch, location.href).href;
  $('#hls-url').textContent = (room.playback && room.playback.hls) || '';
  $('#moderate-link').href = `/moderate/${encodeURIComponent(slug)}`;
  show($('#studio'));
  embedPanel(room);
  if (room.role !== 'owner') {
    say($('#room-notice'), 'Only the room’s artist can see or rotate its stream key.', 'info');
    return;
  }
  show($('#rotate-box'));
  profilePanel(room);  // the description and image fans see while the room is offline
  const studio = browserStudio(room, me);  // go live over WHIP, status, viewers, chat (studio-live.js)
  healthPanel(room);  // bitrate, fps, keyframe interval, reconnects, advice (studio-health.js)
  songsPanel(room, studio.socket, me);  // the request queue (Play / Skip / Done) and the catalog
  restreamPanel(room, () => studio.socket);  // restream targets, live state over studio.socket once open
  tipsPanel(room);  // this show's tips live, the OBS overlay URL and its test alert
  recordingsPanel(room);  // the shows' recordings: replay link, MP4 export with progress, keep, delete
  showDashboard(room);  // the current show's viewers, chart, chat rate, revenue; every show's analytics
  showsPanel(room);  // shows and ticket tiers, with each tier's sales live (studio-shows.js)
  const live = async () => {  // from OBS or this browser: ask the server
    try {
      return (await api(roomPath(slug, '/stream'))).state !== 'offline';
    } catch {
      return false;
    }
  };
  $('#rotate').addEventListener('click', async () => {
    const warning = await live()
      ? 'Rotate the stream key? The room is live: a stream from OBS (or anything using the old key) stops now'
        + ' and cannot reconnect until you give it the new key.'
      : 'Rotate the stream key? OBS (or anything using the old key) can no longer go live until you give it the new key.';
    if (!confirm(warning)) return;
    try {
      const {stream_key: key} = await api(roomPath(slug, '/stream-key'), {method: 'POST'});
      $('#stream-key').textContent = key;
      show($('#stream-key'));
      show($('#key-hidden'), false);
      $('#copy-key').replaceChildren(copyButton('Copy', () => key));
      say($('#rotate-status'), 'New key ready. Copy it now: it is shown only once.');
    } catch (err) {
      say($('#rotate-status'), err.message, 'error');
    }
  });
  $('#end-stream').addEventListener('click', async () => {
    if (!confirm('End the live stream now? Viewers see it go offline.')) return;
    try {
      const {ended} = await api(roomPath(slug, '/stream/end'), {method: 'POST'});
      say($('#rotate-status'), ended ? 'The stream has ended.' : 'The room was not live.');
    } catch (err) {
      say($('#rotate-status'), err.message, 'error');
    }
  });
}

/** The <iframe> code for /embed/{slug} (with ?chat=1 when ticked), at the server's public address. */
function embedPanel(room) {
  const base = new URL((room.playback && room.playback.watch) || location.href, location.href).origin;
  const code = () => {
    const src = `${base}/embed/${encodeURIComponent(room.slug)}${$('#embed-chat').checked ? '?chat=1' : ''}`;
    $('#embed-preview').href = src;
    return `<iframe src="${src}" width="${$('#embed-chat').checked ? 960 : 640}" height="400" `
      + 'style="border:0" allow="autoplay; fullscreen; picture-in-picture" allowfullscreen></iframe>';
  };
  const render = () => { $('#embed-code').textContent = code(); };
  $('#embed-chat').addEventListener('change', render);
  $('#copy-embed').replaceChildren(copyButton('Copy', code));
  render();
  show($('#embed-card'));
}

main();
