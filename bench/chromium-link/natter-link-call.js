// SPDX-License-Identifier: GPL-3.0-or-later
//
// One side of a Chromium ↔ Chromium video call through natter-server, for
// natter-bench-chromium-link.py: WebSocket, RTCPeerConnection and
// PROTOCOL.md, nothing else. mode=call places a 640×360 video call to
// peer_id/peer_type and hangs up after duration_s; mode=answer accepts.
// Every second it POSTs a getStats() sample to /report: the browser's own
// framesPerSecond, freezeCount, totalFreezesDuration, concealedSamples and
// the sender's bitrate and estimate (availableOutgoingBitrate).

'use strict';

const params = new URLSearchParams(location.search);
const server = params.get('server');
const token = params.get('token');
const mode = params.get('mode');
const durationS = Number(params.get('duration_s') || 20);

let ws = null;
let pc = null;
let callLogId = null;
let remoteDescriptionSet = false;
let ended = false;
const clientCallId = crypto.randomUUID();
const pendingLocal = [];
const pendingRemote = [];

function report(kind, data) {
  return fetch('/report', {
    method: 'POST',
    body: JSON.stringify(Object.assign({ kind: kind, side: mode }, data || {})),
    headers: { 'Content-Type': 'application/json' },
  }).catch(() => {});
}

function send(frame) {
  ws.send(JSON.stringify(frame));
}

function sendCandidate(candidate) {
  send({ type: 'ice_candidate', call_log_id: callLogId, candidate: candidate });
}

async function sample() {
  const stats = await pc.getStats();
  const result = { video_in: {}, audio_in: {}, video_out: {}, pair: {} };
  stats.forEach((entry) => {
    if (entry.type === 'inbound-rtp' && entry.kind === 'video')
      result.video_in = entry;
    else if (entry.type === 'inbound-rtp' && entry.kind === 'audio')
      result.audio_in = entry;
    else if (entry.type === 'outbound-rtp' && entry.kind === 'video' && !result.video_out.bytesSent)
      result.video_out = entry;
    else if (entry.type === 'candidate-pair' && entry.nominated && entry.state === 'succeeded')
      result.pair = entry;
  });
  return {
    frames_decoded: result.video_in.framesDecoded || 0,
    fps: result.video_in.framesPerSecond || 0,
    freeze_count: result.video_in.freezeCount || 0,
    freeze_s: result.video_in.totalFreezesDuration || 0,
    frame_height_in: result.video_in.frameHeight || 0,
    samples_received: result.audio_in.totalSamplesReceived || 0,
    concealed_samples: result.audio_in.concealedSamples || 0,
    bytes_sent: result.video_out.bytesSent || 0,
    frame_height_out: result.video_out.frameHeight || 0,
    target_bitrate: result.video_out.targetBitrate || null,
    estimate: result.pair.availableOutgoingBitrate || null,
    local_address: result.pair.localCandidateId || null,
  };
}

async function sampleLoop() {
  while (!ended) {
    try {
      await report('sample', await sample());
    } catch (error) {
      report('log', { text: 'getStats: ' + error });
    }
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
}

function createPeerConnection() {
  pc = new RTCPeerConnection({ iceServers: [] });
  pc.onicecandidate = (event) => {
    const c = event.candidate;
    const candidate = c && c.candidate
      ? { candidate: c.candidate, sdpMid: c.sdpMid, sdpMLineIndex: c.sdpMLineIndex } : null;
    if (callLogId === null)
      pendingLocal.push(candidate);
    else
      sendCandidate(candidate);
  };
  pc.ontrack = (event) => {
    const element = document.getElementById(
      event.track.kind === 'video' ? 'remote-video' : 'remote-audio');
    element.srcObject = new MediaStream([event.track]);
    element.play().catch(() => {});
  };
  pc.onconnectionstatechange = () => {
    report('state', { state: pc.connectionState });
    if (pc.connectionState === 'connected' && mode === 'call')
      setTimeout(hangUp, durationS * 1000);
  };
}

async function addLocalMedia() {
  const stream = await navigator.mediaDevices.getUserMedia({
    audio: true, video: { width: 640, height: 360, frameRate: 30 } });
  for (const track of stream.getTracks())
    pc.addTrack(track, stream);
}

async function addRemoteCandidate(candidate) {
  if (!remoteDescriptionSet) {
    pendingRemote.push(candidate);
    return;
  }
  if (candidate && candidate.candidate)
    await pc.addIceCandidate(candidate).catch((error) => report('log', { text: String(error) }));
}

async function remoteDescriptionApplied() {
  remoteDescriptionSet = true;
  while (pendingRemote.length > 0)
    await addRemoteCandidate(pendingRemote.shift());
  sampleLoop();
}

async function end(reason) {
  if (ended)
    return;
  ended = true;
  await report('ended', { reason: reason, last: await sample().catch(() => null) });
  pc.close();
}

function hangUp() {
  send({ type: 'call_ended', call_log_id: callLogId });
  end('hangup');
}

async function handleFrame(frame) {
  switch (frame.type) {
  case 'hello':
    report('ready');
    if (mode === 'call') {
      createPeerConnection();
      await addLocalMedia();
      await pc.setLocalDescription(await pc.createOffer());
      send({ type: 'call_invitation', client_call_id: clientCallId,
             to_profile_id: Number(params.get('peer_id')),
             to_profile_type: params.get('peer_type'), call_type: 'video',
             offer: { type: 'offer', sdp: pc.localDescription.sdp } });
    }
    break;
  case 'call_invitation':
  case 'incoming_call':
    if (mode !== 'answer' || pc !== null)
      break;
    callLogId = frame.call_log_id;
    createPeerConnection();
    await pc.setRemoteDescription({ type: 'offer', sdp: frame.offer.sdp });
    await addLocalMedia();
    await pc.setLocalDescription(await pc.createAnswer());
    send({ type: 'call_answer', call_log_id: callLogId,
           answer: { type: 'answer', sdp: pc.localDescription.sdp } });
    report('accepted', { now: performance.now() });
    await remoteDescriptionApplied();
    break;
  case 'call_ringing':
    if (frame.client_call_id !== clientCallId)
      break;
    callLogId = frame.call_log_id;
    while (pendingLocal.length > 0)
      sendCandidate(pendingLocal.shift());
    break;
  case 'call_answer':
    if (pc === null)
      break;
    await pc.setRemoteDescription({ type: 'answer', sdp: frame.answer.sdp });
    report('accepted', { now: performance.now() });
    await remoteDescriptionApplied();
    break;
  case 'ice_candidate':
    if (pc !== null && (callLogId === null || frame.call_log_id === callLogId))
      await addRemoteCandidate(frame.candidate);
    break;
  case 'call_ended':
  case 'call_declined':
  case 'call_cancelled':
    if (pc !== null)
      await end(frame.reason || frame.type);
    break;
  default:
    break;
  }
}

function main() {
  const url = server.replace(/^http/, 'ws') + '/ws/' + params.get('profile_id') + '/' +
    encodeURIComponent(params.get('profile_type')) + '?token=' + encodeURIComponent(token);
  let inbox = Promise.resolve();
  report('loaded', { url: url });
  ws = new WebSocket(url);
  ws.onclose = (event) => {
    if (!ended)
      report('log', { text: 'WebSocket closed: ' + event.code });
  };
  ws.onmessage = (event) => {
    const frame = JSON.parse(event.data);
    inbox = inbox.then(() => handleFrame(frame))
      .catch((error) => report('log', { text: frame.type + ': ' + error }));
  };
}

main();
