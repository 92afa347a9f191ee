// The call inside the room: peer-to-peer WebRTC audio (camera optional), with
// the room's Socket.IO connection as the signalling channel (`call` events).
//
// Who is in the call is told with two messages: `hangup` ("forget any call you
// had with me") and `media` ({audio, video}: "I am in the call, like this").
// Joining sends both; the partner answers a first `media` with its own, and
// each side then starts a fresh RTCPeerConnection. Offers and answers follow
// the "perfect negotiation" pattern: the server says which side is polite, the
// polite side yields when both offer at once. Nothing is recorded; media never
// passes through Ally's server.
import { liveSocket } from "./live.js";
import {
  canCall,
  deviceError,
  levelMeter,
  openCamera,
  openMicrophone,
  rememberJoin,
  rememberedJoin,
  stopStream,
} from "./media.js";

const root = document.getElementById("room");
const panel = document.getElementById("call");
const sessionId = Number(root.dataset.sessionId);
const partnerId = Number(root.dataset.partnerId);
const partnerName = root.dataset.partnerName;
const KIND = JSON.parse(root.dataset.vocabulary).call_kind;
const $ = (id) => document.getElementById(id);
const socket = liveSocket();

// How long a fresh connection may take: after the first deadline both sides
// start afresh once (a stuck gathering, say), after the second the page says
// why it failed.
const CONNECT_DEADLINE_MS = 8000;

const call = {
  joined: false, // this page is in the call (the microphone is open)
  partnerInCall: false,
  partnerMedia: { audio: true, video: false },
  audioOn: true,
  videoOn: false,
  stream: null, // the local audio (and camera) tracks
  pc: null,
  polite: true,
  makingOffer: false,
  ignoreOffer: false,
  restartedIce: false,
  iceError: "", // the last ICE server error, in words
  deadline: null,
  statsTimer: null,
  stopMeter: null,
  inbox: Promise.resolve(), // incoming messages, handled one at a time
  failed: "", // why the call is not connecting, in words
  generation: 0, // peer connections started by this page
  candidates: 0, // local candidates the current one gathered
  retried: false, // the automatic fresh start was used for this attempt
  releaseLock: null, // gives up this browser's call lock (one tab in the call)
  busy: false, // a camera change is under way
};

// --- signalling ------------------------------------------------------------------

function signal(kind, data) {
  return new Promise((resolve) => {
    socket.timeout(10000).emit("call", { session_id: sessionId, kind, data }, (err, ack) => {
      resolve(!err && ack && ack.ok);
    });
  });
}

function announce() {
  signal(KIND.HANGUP, null);
  return signal(KIND.MEDIA, { audio: call.audioOn, video: call.videoOn });
}

// Incoming messages and this page's own steps (join, retry, rejoin) change
// the peer connection one at a time, in order: an offer never arrives while a
// fresh connection is still being set up.
function inTurn(step) {
  call.inbox = call.inbox.then(step).catch((error) => console.warn("call:", error));
  return call.inbox;
}

socket.on("call", (message) => {
  if (message.session_id !== sessionId || message.from_user_id !== partnerId) return;
  inTurn(() => receive(message));
});

async function receive({ kind, data }) {
  if (kind === KIND.HANGUP) {
    call.partnerInCall = false;
    closePeer();
  } else if (kind === KIND.MEDIA) {
    const first = !call.partnerInCall;
    call.partnerInCall = true;
    call.partnerMedia = data;
    if (first && call.joined) {
      signal(KIND.MEDIA, { audio: call.audioOn, video: call.videoOn });
      await startPeer();
    }
  } else if (kind === KIND.OFFER || kind === KIND.ANSWER) {
    await description(data);
  } else if (kind === KIND.CANDIDATE && call.pc) {
    try {
      await call.pc.addIceCandidate(data); // null: the end of candidates
    } catch (error) {
      if (!call.ignoreOffer) throw error;
    }
  }
  render();
}

async function description(data) {
  const pc = call.pc;
  if (!pc) return;
  const collision = data.type === "offer" && (call.makingOffer || pc.signalingState !== "stable");
  call.ignoreOffer = !call.polite && collision;
  if (call.ignoreOffer) return;
  await pc.setRemoteDescription(data); // the polite side rolls its own offer back
  if (data.type === "offer") {
    await pc.setLocalDescription();
    signal(KIND.ANSWER, { type: "answer", sdp: pc.localDescription.sdp });
  }
}

// --- the peer connection -----------------------------------------------------------

async function iceConfig() {
  const response = await fetch(`/api/v1/sessions/${sessionId}/ice-servers`, {
    headers: { Accept: "application/json" },
    credentials: "same-origin",
  });
  if (!response.ok) throw new Error(`ICE servers: HTTP ${response.status}`);
  return response.json();
}

async function startPeer() {
  closePeer();
  let config;
  try {
    config = await iceConfig();
  } catch (error) {
    fail("Ally could not get the call's connection details. Check your connection, then try again.");
    return;
  }
  if (!call.joined || !call.partnerInCall) return; // left while waiting
  call.polite = config.polite;
  call.iceError = "";
  call.restartedIce = false;
  call.candidates = 0;
  call.generation += 1;
  let pc;
  try {
    pc = new RTCPeerConnection({
      iceServers: config.ice_servers,
      iceTransportPolicy: config.ice_transport_policy,
    });
  } catch (error) {
    fail(`The call's relay settings are wrong (${error.message}); tell Ally's operators.`);
    return;
  }
  call.pc = pc;
  for (const track of call.stream.getTracks()) pc.addTrack(track, call.stream);
  pc.onnegotiationneeded = async () => {
    try {
      call.makingOffer = true;
      await pc.setLocalDescription();
      if (pc === call.pc) signal(KIND.OFFER, { type: "offer", sdp: pc.localDescription.sdp });
    } catch (error) {
      console.warn("call: offer failed", error);
    } finally {
      call.makingOffer = false;
    }
  };
  pc.onicecandidate = ({ candidate }) => {
    if (pc !== call.pc) return;
    if (candidate) call.candidates += 1;
    signal(KIND.CANDIDATE, candidate ? candidate.toJSON() : null);
  };
  pc.onicegatheringstatechange = () => {
    // Nothing gathered at all (a relay-only policy whose TURN server refused
    // us, say): no path can ever be found, so say why now.
    if (pc === call.pc && pc.iceGatheringState === "complete" && call.candidates === 0) {
      fail(failureText());
    }
  };
  pc.onicecandidateerror = (event) => {
    call.iceError = iceErrorText(event);
  };
  pc.ontrack = ({ track, streams }) => {
    const stream = streams[0] || new MediaStream([track]);
    if (track.kind === "audio") $("call-remote-audio").srcObject = stream;
    else $("call-remote-video").srcObject = stream;
    render();
  };
  pc.onconnectionstatechange = () => {
    if (pc !== call.pc) return;
    if (pc.connectionState === "connected") {
      clearTimeout(call.deadline);
      call.failed = "";
      call.retried = false;
    } else if (pc.connectionState === "failed") {
      if (!call.restartedIce) {
        call.restartedIce = true; // one ICE restart (new candidates, same call)
        pc.restartIce();
      } else {
        fail(failureText());
      }
    }
    render();
  };
  clearTimeout(call.deadline);
  call.deadline = setTimeout(() => {
    if (call.pc !== pc || pc.connectionState === "connected") return;
    if (!call.retried) {
      call.retried = true;
      startAfresh();
    } else {
      fail(failureText());
    }
  }, CONNECT_DEADLINE_MS);
  call.failed = "";
  startStats();
  render();
}

function closePeer() {
  clearTimeout(call.deadline);
  stopStats();
  if (call.pc) {
    call.pc.onconnectionstatechange = null;
    call.pc.close();
    call.pc = null;
  }
  call.makingOffer = false;
  call.ignoreOffer = false;
  $("call-remote-audio").srcObject = null;
  $("call-remote-video").srcObject = null;
}

function iceErrorText(event) {
  if (event.errorCode === 401) {
    return "the relay server refused Ally's credentials (401)";
  }
  if (event.errorCode === 701) return "the relay server could not be reached";
  return `the relay server answered ${event.errorCode} ${event.errorText || ""}`.trim();
}

function failureText() {
  const why = call.iceError || "no network path was found between you and your partner";
  return `The call could not connect: ${why}.`;
}

function fail(text) {
  call.failed = text;
  closePeer();
  render();
}

// Both sides drop the current connection and start a new one.
function startAfresh() {
  return inTurn(async () => {
    await announce();
    if (call.partnerInCall) await startPeer();
  });
}

// --- joining, leaving, mute and camera ---------------------------------------------

// One tab of this browser is in the call: a second tab of the same room
// would answer the partner's offers too and break the call.
function takeCallLock() {
  if (!navigator.locks) return Promise.resolve(true);
  return new Promise((resolve) => {
    navigator.locks.request(`ally-call-${sessionId}`, { ifAvailable: true }, (lock) => {
      if (!lock) {
        resolve(false);
        return undefined;
      }
      resolve(true);
      return new Promise((release) => {
        call.releaseLock = release; // held until this tab leaves the call
      });
    });
  });
}

function releaseCallLock() {
  if (call.releaseLock) call.releaseLock();
  call.releaseLock = null;
}

async function joinCall() {
  if (call.joined || !canCall() || call.busy) return;
  call.busy = true;
  try {
    await joinCallNow();
  } finally {
    call.busy = false;
  }
}

async function joinCallNow() {
  call.failed = "";
  if (!(await takeCallLock())) {
    call.failed = "You are in this call in another tab. Use that tab, or leave the call there first.";
    render();
    return;
  }
  $("call-state").textContent = "Opening your microphone…";
  try {
    call.stream = await openMicrophone();
  } catch (error) {
    releaseCallLock();
    call.failed = deviceError(error);
    render();
    return;
  }
  for (const track of call.stream.getAudioTracks()) track.enabled = call.audioOn;
  call.joined = true;
  call.retried = false;
  rememberJoin(true);
  call.stopMeter = levelMeter(call.stream, (level) => showLevel("call-me", call.audioOn ? level : 0));
  await startAfresh();
  render();
  $("call-mute").focus(); // the join button is gone: keep the keyboard here
}

function leaveCall({ remember = true, tell = true } = {}) {
  if (!call.joined) return;
  if (tell) signal(KIND.HANGUP, null);
  call.joined = false;
  if (remember) rememberJoin(false);
  releaseCallLock();
  closePeer();
  if (call.stopMeter) call.stopMeter();
  stopStream(call.stream);
  call.stream = null;
  call.videoOn = false;
  render();
  if (remember) $("call-join").focus();
}

function toggleAudio() {
  if (!call.joined) return;
  call.audioOn = !call.audioOn;
  for (const track of call.stream.getAudioTracks()) track.enabled = call.audioOn;
  signal(KIND.MEDIA, { audio: call.audioOn, video: call.videoOn });
  render();
}

async function toggleVideo() {
  if (!call.joined || call.busy) return;
  call.busy = true; // getUserMedia takes a while: one change at a time
  try {
    await switchCamera();
  } finally {
    call.busy = false;
  }
}

async function switchCamera() {
  if (!call.videoOn) {
    let camera;
    try {
      camera = await openCamera();
    } catch (error) {
      call.failed = deviceError(error);
      render();
      return;
    }
    const track = camera.getVideoTracks()[0];
    call.stream.addTrack(track);
    const sender = call.pc?.getSenders().find((s) => s.track === null || s.track?.kind === "video");
    if (sender) await sender.replaceTrack(track);
    else if (call.pc) call.pc.addTrack(track, call.stream); // renegotiates
    $("call-local-video").srcObject = new MediaStream([track]);
    call.videoOn = true;
  } else {
    for (const track of call.stream.getVideoTracks()) {
      track.stop();
      call.stream.removeTrack(track);
    }
    // The sender stays (with no track): turning the camera on again needs no
    // renegotiation.
    for (const sender of call.pc?.getSenders() || []) {
      if (sender.track?.kind === "video") await sender.replaceTrack(null);
    }
    $("call-local-video").srcObject = null;
    call.videoOn = false;
  }
  signal(KIND.MEDIA, { audio: call.audioOn, video: call.videoOn });
  render();
}

// The room (room.js) says when this socket has joined the session: only then
// does it receive the partner's messages, so only then may it announce itself.
root.addEventListener("ally:joined", async () => {
  if (call.joined) {
    // After a reconnect the partner starts afresh, so does this side.
    await startAfresh();
  } else if (rememberedJoin() && canCall() && !call.failed) {
    joinCall();
  }
  render();
});

// The partner's page came into the room: tell it this side is in the call.
// The partner left the room (closed the page, lost the network): their call
// is gone too; a page that comes back starts a new one.
socket.on("presence", (event) => {
  if (event.session_id !== sessionId || event.user_id !== partnerId) return;
  if (event.online) {
    if (call.joined) signal(KIND.MEDIA, { audio: call.audioOn, video: call.videoOn });
  } else {
    inTurn(() => {
      call.partnerInCall = false;
      closePeer();
      render();
    });
  }
  render();
});

// The server ended this socket (logged out, password changed): the call ends
// with it, and the microphone closes.
socket.on("disconnect", (reason) => {
  if (reason !== "io server disconnect" || !call.joined) return;
  leaveCall({ remember: false, tell: false });
  call.failed = "Your login ended, so the call was closed. Log in again to rejoin.";
  render();
});

window.addEventListener("pagehide", () => {
  if (call.joined) signal(KIND.HANGUP, null);
});

async function retry() {
  call.failed = "";
  call.retried = false;
  await startAfresh();
  render();
}

$("call-join").addEventListener("click", joinCall);
$("call-retry").addEventListener("click", retry);
$("call-leave").addEventListener("click", leaveCall);
$("call-mute").addEventListener("click", toggleAudio);
$("call-camera").addEventListener("click", toggleVideo);
document.addEventListener("keydown", (event) => {
  if (!call.joined || event.repeat || event.ctrlKey || event.metaKey || event.altKey) return;
  if (["INPUT", "TEXTAREA", "SELECT"].includes(document.activeElement.tagName)) return;
  const key = event.key.toLowerCase();
  if (key === "m") toggleAudio();
  else if (key === "v") toggleVideo();
  else return;
  event.preventDefault();
});

// --- what the page shows ---------------------------------------------------------------

function stateText() {
  if (!canCall()) return "This browser cannot make calls.";
  if (call.failed) return call.failed;
  if (!call.joined) {
    return call.partnerInCall ? `${partnerName} is in the call.` : "You are not in the call.";
  }
  if (!call.partnerInCall && !partnerHere()) return `${partnerName} left the room — the call resumes when they are back.`;
  if (!call.partnerInCall) return `Waiting for ${partnerName} to join the call…`;
  const connection = call.pc?.connectionState || "new";
  return {
    new: "Connecting…",
    connecting: "Connecting…",
    connected: `Connected to ${partnerName}.`,
    disconnected: "Reconnecting…",
    failed: "Reconnecting…",
    closed: "Connecting…",
  }[connection];
}

function partnerHere() {
  return document.getElementById("partner-presence")?.classList.contains("online") ?? true;
}

function render() {
  const connected = call.pc?.connectionState === "connected";
  panel.dataset.state = !call.joined ? "out" : connected ? "connected" : call.failed ? "failed" : "connecting";
  $("call-state").textContent = stateText();
  $("call-join").hidden = call.joined || !canCall();
  $("call-leave").hidden = !call.joined;
  $("call-controls").hidden = !call.joined;
  $("call-fallback").hidden = !(call.failed || !canCall());
  $("call-retry").hidden = !(call.joined && call.failed);
  // Toggle buttons keep their names; aria-pressed says the state.
  $("call-mute").setAttribute("aria-pressed", String(!call.audioOn));
  $("call-camera").setAttribute("aria-pressed", String(call.videoOn));
  $("call-local-video").hidden = !call.videoOn;
  $("call-remote-video").hidden = !(connected && call.partnerMedia.video);
  $("call-partner-muted").hidden = !(call.partnerInCall && !call.partnerMedia.audio);
  if (!connected) {
    showLevel("call-partner", 0);
    $("call-quality").textContent = "";
  }
}

function showLevel(prefix, level) {
  const speaking = level > 0.08;
  const box = $(`${prefix}-speaking`);
  box.classList.toggle("speaking", speaking);
  box.querySelector("meter").value = level;
}

// --- levels and quality from getStats ---------------------------------------------------

function startStats() {
  stopStats();
  let tick = 0;
  call.statsTimer = setInterval(async () => {
    const pc = call.pc;
    if (!pc || pc.connectionState !== "connected") return;
    const report = await pc.getStats();
    let rtt = null;
    let lost = 0;
    let received = 0;
    let level = 0;
    report.forEach((stat) => {
      if (stat.type === "candidate-pair" && stat.nominated && stat.state === "succeeded") {
        rtt = stat.currentRoundTripTime ?? rtt;
      }
      if (stat.type === "inbound-rtp" && stat.kind === "audio") {
        lost += stat.packetsLost || 0;
        received += stat.packetsReceived || 0;
        level = stat.audioLevel ?? level;
      }
    });
    showLevel("call-partner", call.partnerMedia.audio ? Math.min(1, level * 4) : 0);
    tick += 1;
    if (tick % 8 === 1) {
      const loss = received + lost > 0 ? (100 * lost) / (received + lost) : 0;
      const trip = rtt === null ? "—" : `${Math.round(rtt * 1000)} ms`;
      $("call-quality").textContent = `Round trip ${trip} · packet loss ${loss.toFixed(1)} %`;
    }
  }, 250);
}

function stopStats() {
  clearInterval(call.statsTimer);
  call.statsTimer = null;
}

// For tests and the curious: the live connection (read-only use).
window.allyCall = call;
render();
