// SPDX-License-Identifier: GPL-3.0-or-later
//
// A browser client of Natter built from nothing but WebSocket,
// RTCPeerConnection and PROTOCOL.md: it answers a call (mode=answer) or
// places one (mode=call), then reports what it received.
//
// Query: server (the natter-server base URL), token, profile_id,
// profile_type, mode, and for mode=call peer_id, peer_type and call_type
// (video, the default, or voice).
// Reports are JSON objects POSTed to /report on the page's own origin (the
// test driver): ready, invitation, answered, ringing, first-media, log,
// error, and one result at the end of the call.

'use strict';

const params = new URLSearchParams(location.search);
const server = params.get('server');
const token = params.get('token');
const profileId = Number(params.get('profile_id'));
const profileType = params.get('profile_type');
const mode = params.get('mode');
const started = performance.now();

let ws = null;
let pc = null;
let localStream = null;
let callLogId = null;
let clientCallId = null;
let remoteDescriptionSet = false;
let finished = false;
let iceServers = [];
// The caller's candidates wait for call_ringing (the call_log_id);
// remote candidates wait for the remote description.
const localCandidates = [];
const remoteCandidates = [];
const timeline = {};

let reports = Promise.resolve();

// One POST at a time, so the driver reads the reports in order.
function report(kind, data) {
  const body = JSON.stringify(Object.assign({ kind: kind }, data || {}));
  console.log('natter-interop: ' + body);
  reports = reports
    .then(() => fetch('/report', { method: 'POST', body: body,
                                   headers: { 'Content-Type': 'application/json' } }))
    .catch((error) => console.log('natter-interop: report failed: ' + error));
  return reports;
}

function log(text) {
  report('log', { text: text });
}

function fail(where, error) {
  report('error', { where: where, message: String((error && error.message) || error) });
}

function mark(name) {
  if (!(name in timeline))
    timeline[name] = Math.round(performance.now() - started);
}

window.addEventListener('error', (event) => fail('window', event.message));
window.addEventListener('unhandledrejection', (event) => fail('promise', event.reason));

function send(frame) {
  ws.send(JSON.stringify(frame));
}

async function fetchIceServers() {
  const response = await fetch(server + '/api/ice-servers',
                               { headers: { Authorization: 'Bearer ' + token } });
  if (!response.ok)
    throw new Error('GET /api/ice-servers answered ' + response.status);
  const body = await response.json();
  return (body.ice_servers || []).map((entry) => {
    const result = { urls: entry.urls };
    if (entry.username)
      result.username = entry.username;
    if (entry.credential)
      result.credential = entry.credential;
    return result;
  });
}

function sendCandidate(candidate) {
  send({ type: 'ice_candidate', call_log_id: callLogId, candidate: candidate });
}

// The browser's defaults (bundle policy "balanced"): candidates come for
// every m-line until the answer accepts the bundle, as in most web clients.
function createPeerConnection() {
  pc = new RTCPeerConnection({ iceServers: iceServers });

  pc.onicecandidate = (event) => {
    const c = event.candidate;
    const candidate = c && c.candidate
      ? { candidate: c.candidate, sdpMid: c.sdpMid, sdpMLineIndex: c.sdpMLineIndex }
      : null;
    if (callLogId === null)
      localCandidates.push(candidate);
    else
      sendCandidate(candidate);
  };
  pc.ontrack = (event) => {
    const element = document.getElementById(
      event.track.kind === 'video' ? 'remote-video' : 'remote-audio');
    element.srcObject = new MediaStream([event.track]);
    element.play().catch((error) => log('play ' + event.track.kind + ': ' + error));
    log('track: ' + event.track.kind);
  };
  pc.oniceconnectionstatechange = () => log('ice: ' + pc.iceConnectionState);
  pc.onconnectionstatechange = () => {
    log('connection: ' + pc.connectionState);
    if (pc.connectionState === 'connected')
      mark('connected');
  };
}

// The a=mid of each m-line of the remote description.
function remoteMids() {
  const mids = [];
  for (const line of pc.remoteDescription.sdp.split(/\r?\n/)) {
    if (line.startsWith('m='))
      mids.push(null);
    else if (line.startsWith('a=mid:') && mids.length > 0)
      mids[mids.length - 1] = line.substring('a=mid:'.length).trim();
  }
  return mids;
}

async function addRemoteCandidate(candidate) {
  if (!remoteDescriptionSet) {
    remoteCandidates.push(candidate);
    return;
  }
  log('remote candidate: ' + JSON.stringify(candidate));
  // {"candidate":null} or an empty string: end of candidates.
  if (candidate === null || candidate === undefined || !candidate.candidate)
    return;
  // PROTOCOL.md: sdpMid names the m-line that sdpMLineIndex counts to.
  const mids = remoteMids();
  if (typeof candidate.sdpMid !== 'string' || !Number.isInteger(candidate.sdpMLineIndex) ||
      mids[candidate.sdpMLineIndex] !== candidate.sdpMid) {
    fail('ice_candidate', 'sdpMid and sdpMLineIndex do not match the description (mids ' +
         JSON.stringify(mids) + '): ' + JSON.stringify(candidate));
  }
  try {
    await pc.addIceCandidate({ candidate: candidate.candidate,
                               sdpMid: candidate.sdpMid,
                               sdpMLineIndex: candidate.sdpMLineIndex });
  } catch (error) {
    fail('addIceCandidate ' + JSON.stringify(candidate), error);
  }
}

async function flushRemoteCandidates() {
  while (remoteCandidates.length > 0)
    await addRemoteCandidate(remoteCandidates.shift());
}

function pick(object, names) {
  const result = {};
  for (const name of names) {
    if (object[name] !== undefined)
      result[name] = object[name];
  }
  return result;
}

async function collectStats() {
  const stats = await pc.getStats();
  const byId = new Map();
  const result = { inbound: {}, outbound: {}, pair: null };

  stats.forEach((entry) => byId.set(entry.id, entry));
  stats.forEach((entry) => {
    const codec = entry.codecId && byId.get(entry.codecId);
    if (entry.type === 'inbound-rtp') {
      result.inbound[entry.kind] = pick(entry, [
        'packetsReceived', 'packetsLost', 'bytesReceived', 'framesDecoded', 'framesReceived',
        'frameWidth', 'frameHeight', 'totalSamplesReceived', 'concealedSamples', 'jitter',
        'keyFramesDecoded', 'decoderImplementation']);
      result.inbound[entry.kind].codec = codec ? codec.mimeType : null;
    } else if (entry.type === 'outbound-rtp') {
      result.outbound[entry.kind] = pick(entry, [
        'packetsSent', 'bytesSent', 'framesEncoded', 'framesSent', 'frameWidth', 'frameHeight',
        'encoderImplementation']);
      result.outbound[entry.kind].codec = codec ? codec.mimeType : null;
    } else if (entry.type === 'candidate-pair' && entry.nominated && entry.state === 'succeeded') {
      const local = byId.get(entry.localCandidateId) || {};
      const remote = byId.get(entry.remoteCandidateId) || {};
      result.pair = {
        local: local.candidateType + ' ' + local.protocol + ' ' + local.address + ':' + local.port,
        remote: remote.candidateType + ' ' + remote.protocol + ' ' + remote.address + ':' +
          remote.port,
        currentRoundTripTime: entry.currentRoundTripTime,
      };
    }
  });
  return result;
}

// Polls the statistics until the first video frame is decoded and the
// first audio samples arrive: when the remote media started, for the driver.
async function watchFirstMedia() {
  while (!finished && pc.connectionState !== 'closed') {
    let stats;
    try {
      stats = await pc.getStats();
    } catch (error) {
      // Closed at the end of the call while asking: nothing to report.
      if (!finished)
        fail('getStats', error);
      return;
    }
    stats.forEach((entry) => {
      if (entry.type !== 'inbound-rtp')
        return;
      if (entry.kind === 'video' && entry.framesDecoded > 0)
        mark('first_video_frame');
      if (entry.kind === 'audio' && entry.totalSamplesReceived > 0)
        mark('first_audio_samples');
    });
    const wantVideo = pc.getReceivers().some((receiver) => receiver.track.kind === 'video');
    if ((!wantVideo || 'first_video_frame' in timeline) && 'first_audio_samples' in timeline) {
      report('first-media', { timeline: timeline });
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

let ending = false;

async function finish(reason) {
  if (ending)
    return;
  ending = true;
  mark('ended');
  let stats = null;
  if (pc !== null) {
    try {
      stats = await collectStats();
    } catch (error) {
      fail('getStats', error);
    }
  }
  finished = true;
  await report('result', { reason: reason, call_log_id: callLogId, stats: stats,
                           timeline: timeline });
  if (pc !== null)
    pc.close();
  if (localStream !== null)
    localStream.getTracks().forEach((track) => track.stop());
}

async function onInvitation(frame) {
  if (pc !== null) {
    send({ type: 'call_declined', call_log_id: frame.call_log_id, reason: 'busy' });
    return;
  }
  callLogId = frame.call_log_id;
  mark('invitation');
  report('invitation', { call_log_id: callLogId, call_type: frame.call_type,
                         from_name: frame.from_name || frame.caller_name,
                         offer_sdp: frame.offer.sdp });
  createPeerConnection();
  await pc.setRemoteDescription({ type: 'offer', sdp: frame.offer.sdp });
  remoteDescriptionSet = true;
  localStream = await navigator.mediaDevices.getUserMedia(
    { audio: true, video: frame.call_type === 'video' });
  for (const track of localStream.getTracks())
    pc.addTrack(track, localStream);
  await pc.setLocalDescription(await pc.createAnswer());
  send({ type: 'call_answer', call_log_id: callLogId,
         answer: { type: 'answer', sdp: pc.localDescription.sdp } });
  mark('answered');
  report('answered', { answer_sdp: pc.localDescription.sdp });
  watchFirstMedia();
  await flushRemoteCandidates();
}

async function startCall() {
  createPeerConnection();
  const callType = params.get('call_type') || 'video';
  localStream = await navigator.mediaDevices.getUserMedia(
    { audio: true, video: callType === 'video' });
  for (const track of localStream.getTracks())
    pc.addTrack(track, localStream);
  await pc.setLocalDescription(await pc.createOffer());
  clientCallId = crypto.randomUUID();
  send({ type: 'call_invitation', client_call_id: clientCallId,
         to_profile_id: Number(params.get('peer_id')), to_profile_type: params.get('peer_type'),
         call_type: callType, offer: { type: 'offer', sdp: pc.localDescription.sdp } });
  mark('invited');
  report('invited', { offer_sdp: pc.localDescription.sdp });
}

function sameCall(frame) {
  return callLogId === null || frame.call_log_id === undefined || frame.call_log_id === callLogId;
}

async function handleFrame(frame) {
  switch (frame.type) {
  case 'hello':
    mark('hello');
    report('ready', { profile: frame.profile });
    if (mode === 'call')
      await startCall();
    break;
  case 'call_invitation':
  case 'incoming_call':
    if (mode === 'answer')
      await onInvitation(frame);
    break;
  case 'call_ringing':
    if (frame.client_call_id !== clientCallId)
      break;
    callLogId = frame.call_log_id;
    mark('ringing');
    report('ringing', { call_log_id: callLogId });
    while (localCandidates.length > 0)
      sendCandidate(localCandidates.shift());
    break;
  case 'call_answer':
    if (!sameCall(frame) || pc === null)
      break;
    mark('answer_received');
    await pc.setRemoteDescription({ type: 'answer', sdp: frame.answer.sdp });
    remoteDescriptionSet = true;
    report('answer-received', { answer_sdp: frame.answer.sdp });
    watchFirstMedia();
    await flushRemoteCandidates();
    break;
  case 'ice_candidate':
    if (sameCall(frame) && pc !== null)
      await addRemoteCandidate(frame.candidate);
    break;
  case 'call_unavailable':
    if (frame.client_call_id === clientCallId)
      await finish('unavailable: ' + frame.reason);
    break;
  case 'call_declined':
  case 'call_ended':
  case 'call_cancelled':
    if (sameCall(frame) && pc !== null)
      await finish(frame.reason || (frame.type === 'call_declined' ? 'declined' : 'hangup'));
    break;
  case 'error':
    report('server-error', { frame: frame });
    break;
  default:
    log('frame: ' + frame.type);
  }
}

async function main() {
  iceServers = await fetchIceServers();
  const url = server.replace(/^http/, 'ws') + '/ws/' + profileId + '/' +
    encodeURIComponent(profileType) + '?token=' + encodeURIComponent(token);
  let inbox = Promise.resolve();

  ws = new WebSocket(url);
  // Frames are handled one after the other: a candidate never overtakes
  // the offer or answer it belongs to.
  ws.onmessage = (event) => {
    let frame;
    try {
      frame = JSON.parse(event.data);
    } catch (error) {
      fail('JSON.parse', error);
      return;
    }
    inbox = inbox.then(() => handleFrame(frame)).catch((error) => fail(frame.type, error));
  };
  ws.onclose = (event) => {
    if (!finished)
      report('error', { where: 'websocket', message: 'closed with code ' + event.code });
  };
}

main().catch((error) => fail('main', error));
