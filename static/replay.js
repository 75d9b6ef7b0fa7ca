// The replay page (/replay/{show_id}): the show's recording as a VOD with its setlist as
// chapters that seek. The owner and hosts watch by their session; a ticket holder opens a
// viewing session (one device per ticket, as live) and plays with its token (?vt=), which
// the server honours only if the ticket's tier includes replay and the replay window is open.
// The video plays natively where the browser plays HLS, else through our Media Source VOD
// player (js/hls-vod.js), which seeks too; ?player=mse forces it. The video element says which
// (data-player) and the playlist it plays (data-playlist).

import {ApiError, api} from './js/api.js';
import {$, el, say, show} from './js/dom.js';
import {MseVodPlayer} from './js/hls-vod.js';
import {nativeHls} from './js/player.js';
import {sessionCorner} from './js/session.js';
import {openViewing} from './js/viewing.js';

const REFUSED = {
  replay_needed: 'A ticket that includes the replay is needed to watch this.',
  tier_without_replay: 'Your ticket does not include the replay of this show.',
  replay_window_closed: 'The replay window of this show has closed.',
  no_recording: 'This show has no recording.',
};

const showId = decodeURIComponent(location.pathname.split('/')[2] || '');
const path = `/api/shows/${encodeURIComponent(showId)}/recording`;

async function recording() {
  try {
    return await api(path);
  } catch (err) {
    if (!(err instanceof ApiError) || err.code !== 'replay_needed') throw err;
  }
  const session = await openViewing({id: showId});
  if (!session || session === 'declined') throw new ApiError(403, 'replay_needed', REFUSED.replay_needed);
  return api(`${path}?vt=${encodeURIComponent(session.token)}`);
}

function clock(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

function chapters(video, list) {
  const ol = $('#chapters');
  show($('#chapters-empty'), list.length === 0);
  list.forEach((chapter, index) => {
    const button = el('button', {type: 'button', class: 'chapter', text: `${clock(chapter.start)} ${chapter.title}`});
    button.dataset.index = String(index);
    button.addEventListener('click', () => {
      video.currentTime = chapter.start;
      video.play().catch(() => {});
    });
    ol.append(el('li', {}, button, chapter.artist ? el('span', {class: 'by', text: ` ${chapter.artist}`}) : null));
  });
}

/** Start the video on the playlist; false (and why, said) when this browser cannot. */
function play(video, url, status) {
  const forceMse = new URLSearchParams(location.search).get('player') === 'mse';
  video.dataset.playlist = url;
  if (!forceMse && nativeHls(video)) {
    video.dataset.player = 'native';
    video.src = url;
  } else if (window.MediaSource) {
    video.dataset.player = 'mse';
    const player = new MseVodPlayer(video, url, {onFatal: (err) => {
      status.dataset.code = 'error';
      say(status, `The replay stopped: ${err.message}`);
    }});
    window.nal = {...window.nal, replay: player};
    player.start();
  } else {
    status.dataset.code = 'unsupported';
    say(status, 'This browser cannot play the replay.');
    return false;
  }
  video.play().catch(() => {});
  return true;
}

async function main() {
  await sessionCorner($('#session'));
  const video = $('#video');
  const status = $('#replay-status');
  let body;
  try {
    body = await recording();
  } catch (err) {
    say(status, REFUSED[err.code] || err.message || 'The replay could not be loaded.');
    status.dataset.code = err.code || 'error';
    return;
  }
  $('#replay-title').textContent = body.title || 'Replay';
  document.title = `${body.title} · Replay · Not a Label Live`;
  chapters(video, body.chapters || []);
  video.muted = true;  // browsers start playback by themselves only muted; the controls unmute
  if (!play(video, body.playlist_url, status)) return;
  status.dataset.code = 'ready';
  say(status, body.state === 'recording' ? 'The show is still on: this is what was recorded so far.'
    : `Replay of ${clock(body.duration || 0)}.`);
}

main();
