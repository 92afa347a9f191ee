// Load generator for Ally's live room (issue 4), driven by bench/bench_room.py.
//
//   node load.mjs CONFIG.json
//
// CONFIG (written by the driver): {url, profile: "realistic" | "stress", bare,
// sessions: [{id, users: [{id, token}, {id, token}]}], signalMeanSeconds,
// stressRate, connectConcurrency, joinSpreadSeconds, phaseMarginMs,
// perMessageDeflate, callSignalling, sketching, teachSeconds, rateSeconds,
// turns, forwardedFor, out}; a session with `sketch: true` sketches (see below).
//
// Each session has two websocket clients (transports: ["websocket"], auth:
// {token}). The worker moves through stages when the driver says so on stdin,
// one word a line, and reports each stage as one JSON line on stdout:
//   (start)  connect every socket, at most connectConcurrency at a time
//   join     every session's two sockets send join_session, spread evenly over
//            joinSpreadSeconds; with callSignalling, each session then does a
//            call's worth of `call` messages at once (see below) and the
//            report waits for every session's to finish
//   run D W  send signals for D seconds, then wait up to W seconds for the
//            last ones to arrive; raw latencies go to CONFIG.out
//   close    disconnect and exit
//
// Relay latency: the listener stamps each signal with a sequence number in the
// `word` field and remembers performance.now(); the teacher's client takes the
// difference when its `signal` event arrives (both clients of a session live in
// this process, so one monotonic clock serves both).
//
// Call signalling (callSignalling: true), like a browser pair joining a call
// (static/js/call.js): client 0 sends `media`; client 1, once that arrives,
// sends its own `media`; client 0 then sends an `offer` (a ~5 KB SDP), client 1
// answers it with an `answer` (same size), and once the answer is in, both send
// 10 `candidate` messages (relay candidates) at the same time. Each side sends
// its messages one after another, each after the previous one's ack. A step
// that waits for the partner's message goes on after CALL_WAIT_MS even if it
// never came (it is then counted lost). The receiving client counts every
// relayed `call` event; lost = acknowledged ok - received, per session,
// direction and kind.
//
// Sketching (sessions marked `sketch: true`, chosen by the driver from
// --sketching): during the run, whoever teaches the current turn sends a
// `sketch` every SKETCH_INTERVAL_MS (10 a second), one stroke of SKETCH_POINTS
// points (a random walk inside 0-1000), each after the previous one's ack (a
// tick whose previous message is still unacknowledged is skipped), only while
// the turn is being taught (more than phaseMarginMs of it left) and at most
// SKETCH_TURN_POINTS a turn. The server keeps only points/width/color, so no
// stamp rides along: each direction of a session keeps a FIFO of its send
// times, and the partner's `sketch` event pops the oldest (one socket's
// messages arrive in order; a refused message leaves the FIFO at its ack).
// The first point is checked against the one sent (mismatched otherwise).
// Against the bare relay, which has no phases, each sketching session follows
// the realistic profile's clock from its join: teachSeconds of teaching, then
// rateSeconds of pause, turns alternating teachers (client 0 first).

import fs from "node:fs";
import readline from "node:readline";
import { monitorEventLoopDelay, performance } from "node:perf_hooks";
import { io } from "socket.io-client";

const cfg = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
const ACK_TIMEOUT_MS = 15000;

function say(obj) {
  process.stdout.write(JSON.stringify(obj) + "\n");
}

function countInto(map, key) {
  map[key] = (map[key] || 0) + 1;
}

// --- sessions and sockets ---------------------------------------------------

const sessions = cfg.sessions.map((s) => ({
  id: s.id,
  users: s.users,
  sockets: [null, null],
  state: null, // the latest snapshot (Ally) or null (bare relay)
  version: -1,
  timer: null,
  sketch: Boolean(s.sketch),
  sketchTimer: null,
  liveAt: null, // performance.now() when both joined (the bare relay's clock)
}));

let running = false; // inside the measurement window
let sending = false;
const events = {}; // event name -> count received inside the window
const disconnects = {}; // reason -> count (any time after connecting)
const errors = {}; // kind -> count

function applyState(session, state) {
  if (!state || typeof state !== "object") return;
  const version = typeof state.version === "number" ? state.version : 0;
  if (version < session.version) return;
  session.version = version;
  session.state = {
    status: state.status,
    phase: state.phase,
    turn: state.turn,
    phaseEndsAt: state.phase_ends_at ? Date.parse(state.phase_ends_at) : null,
    listenerId:
      Array.isArray(state.turns) && state.turns[state.turn]
        ? state.turns[state.turn].listener_id
        : null,
  };
}

// --- signals ------------------------------------------------------------------

let seq = 0;
const sentAt = new Map(); // seq -> performance.now() at emit
const acked = new Set(); // seqs acknowledged ok
const receivedBy = new Map(); // seq -> teacher receive count
const latencies = []; // teacher receive - send, ms
const timedAt = []; // each timed signal's send instant (this generator's clock, ms)
const ackLatencies = []; // ack - send, ms
const stats = {
  sent: 0,
  acked_ok: 0,
  refused: {},
  ack_timeouts: 0,
  skipped_not_teaching: 0,
  received_by_teacher: 0,
  duplicates: 0,
  unexpected: 0,
};

function roles(session) {
  // [listener index, teacher index] or null when no turn is being taught.
  if (cfg.bare) return [1, 0];
  const st = session.state;
  if (!st || st.status !== "live" || st.phase !== "teaching") return null;
  if (st.phaseEndsAt !== null && st.phaseEndsAt - Date.now() < cfg.phaseMarginMs) {
    return null; // about to end: the server would answer wrong_phase
  }
  const listener = session.users.findIndex((u) => u.id === st.listenerId);
  return listener < 0 ? null : [listener, 1 - listener];
}

function sendSignal(session) {
  const who = roles(session);
  if (!who) {
    stats.skipped_not_teaching += 1;
    return;
  }
  const sock = session.sockets[who[0]];
  if (!sock || !sock.connected) {
    countInto(errors, "send_on_closed_socket");
    return;
  }
  const n = ++seq;
  const t0 = performance.now();
  sentAt.set(n, t0);
  stats.sent += 1;
  sock
    .timeout(ACK_TIMEOUT_MS)
    .emit("signal", { session_id: session.id, kind: "jargon", word: `s${n}` }, (err, resp) => {
      if (err) {
        stats.ack_timeouts += 1;
        return;
      }
      if (resp && resp.ok) {
        stats.acked_ok += 1;
        acked.add(n);
        ackLatencies.push(performance.now() - t0);
      } else {
        countInto(stats.refused, (resp && resp.error) || "no_answer");
      }
    });
}

function onSignal(session, index, payload) {
  const now = performance.now();
  if (running) countInto(events, "signal");
  const word = payload && typeof payload.word === "string" ? payload.word : "";
  const n = word.startsWith("s") ? Number(word.slice(1)) : NaN;
  const t0 = sentAt.get(n);
  if (t0 === undefined) {
    stats.unexpected += 1;
    return;
  }
  // The listener also gets its own signal back (the room includes the sender):
  // counted above as a delivered event, but only the teacher's copy is timed.
  const listenerIndex = cfg.bare
    ? 1
    : session.users.findIndex((u) => u.id === listenerOfTurn(session, payload.turn));
  if (index === listenerIndex) return;
  const count = (receivedBy.get(n) || 0) + 1;
  receivedBy.set(n, count);
  if (count > 1) {
    stats.duplicates += 1;
    return;
  }
  stats.received_by_teacher += 1;
  latencies.push(now - t0);
  timedAt.push(Math.round(t0));
}

const turnListeners = new Map(); // session id -> [listener id by turn]

function listenerOfTurn(session, turn) {
  const list = turnListeners.get(session.id);
  return list ? list[turn] : null;
}

function rememberTurns(session, state) {
  if (state && Array.isArray(state.turns)) {
    turnListeners.set(
      session.id,
      state.turns.map((t) => t.listener_id),
    );
  }
}

function expo(meanMs) {
  return -Math.log(1 - Math.random()) * meanMs;
}

function startSending(session) {
  if (cfg.profile === "stress") {
    const interval = 1000 / cfg.stressRate;
    const tick = () => {
      if (!sending) return;
      sendSignal(session);
      session.timer = setTimeout(tick, interval);
    };
    session.timer = setTimeout(tick, Math.random() * interval);
  } else {
    const mean = cfg.signalMeanSeconds * 1000;
    const tick = () => {
      if (!sending) return;
      sendSignal(session);
      session.timer = setTimeout(tick, expo(mean));
    };
    session.timer = setTimeout(tick, expo(mean));
  }
}

// --- call signalling (callSignalling) ------------------------------------------

const CALL_CANDIDATES = 10; // per side
const CALL_WAIT_MS = 15000; // how long a step waits for the partner's message
const callPending = [];
const callAckLatencies = []; // ack - send, ms
const callRelayLatencies = []; // partner receive - send, ms
const callStats = {
  sessions: 0,
  sessions_completed: 0, // every step saw the partner's message in time
  sessions_skipped: 0, // a join failed: no call
  sent: {}, // kind -> count
  acked_ok: 0,
  refused: {},
  ack_timeouts: 0,
  expected: 0, // acknowledged ok: the partner should receive each
  received: 0, // relayed `call` events the partner got (matched to a send)
  lost: 0,
  duplicates: 0, // received more often than acknowledged ok (per flow)
  unexpected: 0, // not from the partner, or not this session's
  wait_timeouts: 0, // a step gave up waiting for the partner's message
};
// `${sessionId}:${fromIndex}:${kind}` -> {sent: [t0...], acked, received, waiters}.
// One side sends one message at a time and the server relays them in order,
// so the k-th arrival of a flow is its k-th send (the relay latency's pairing;
// a refused message would shift it, and is counted apart anyway).
const callFlows = new Map();

function callFlow(session, from, kind) {
  const key = `${session.id}:${from}:${kind}`;
  let flow = callFlows.get(key);
  if (!flow) {
    flow = { sent: [], acked: 0, received: 0, waiters: [] };
    callFlows.set(key, flow);
  }
  return flow;
}

// A Chrome-like session description (audio and a video transceiver, as a
// page offering its camera sends): about 5 KB.
function fakeSdp(type, session, from) {
  const id = `${session.id}${from}`.padStart(8, "7");
  const ufrag = `u${session.id.toString(36)}${from}`.padEnd(4, "x");
  const pwd = `p${session.id.toString(36)}${from}`.padEnd(24, "q");
  const fingerprint = Array.from({ length: 32 }, (_, i) =>
    ((i * 37 + session.id + from) % 256).toString(16).padStart(2, "0").toUpperCase(),
  ).join(":");
  const setup = type === "offer" ? "actpass" : "active";
  const ssrc = (base) => 1000000000 + ((session.id * 7919 + from * 104729 + base) % 1000000000);
  const cname = `c${session.id}x${from}QeZp3Lh9mVw2`;
  const stream = `s${session.id}x${from}-4f1c-9a2e-7d3b5c8e1f20`;
  const track = (kind) => `${kind}-${session.id}-${from}-a1b2c3d4e5f6`;
  const common = (mid) => [
    "c=IN IP4 0.0.0.0",
    "a=rtcp:9 IN IP4 0.0.0.0",
    `a=ice-ufrag:${ufrag}`,
    `a=ice-pwd:${pwd}`,
    "a=ice-options:trickle",
    `a=fingerprint:sha-256 ${fingerprint}`,
    `a=setup:${setup}`,
    `a=mid:${mid}`,
  ];
  const lines = [
    "v=0",
    `o=- ${id}483920571 2 IN IP4 127.0.0.1`,
    "s=-",
    "t=0 0",
    "a=group:BUNDLE 0 1",
    "a=extmap-allow-mixed",
    `a=msid-semantic: WMS ${stream}`,
    "m=audio 9 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126",
    ...common("0"),
    "a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level",
    "a=extmap:2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time",
    "a=extmap:3 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01",
    "a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid",
    "a=sendrecv",
    `a=msid:${stream} ${track("audio")}`,
    "a=rtcp-mux",
    "a=rtcp-rsize",
    "a=rtpmap:111 opus/48000/2",
    "a=rtcp-fb:111 transport-cc",
    "a=fmtp:111 minptime=10;useinbandfec=1",
    "a=rtpmap:63 red/48000/2",
    "a=fmtp:63 111/111",
    "a=rtpmap:9 G722/8000",
    "a=rtpmap:0 PCMU/8000",
    "a=rtpmap:8 PCMA/8000",
    "a=rtpmap:13 CN/8000",
    "a=rtpmap:110 telephone-event/48000",
    "a=rtpmap:126 telephone-event/8000",
    `a=ssrc:${ssrc(1)} cname:${cname}`,
    `a=ssrc:${ssrc(1)} msid:${stream} ${track("audio")}`,
    "m=video 9 UDP/TLS/RTP/SAVPF 96 97 102 103 104 105 106 107 108 109 127 125 39 40 45 46 98 99 100 101 112 113 116 117 118",
    ...common("1"),
    "a=extmap:14 urn:ietf:params:rtp-hdrext:toffset",
    "a=extmap:2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time",
    "a=extmap:13 urn:3gpp:video-orientation",
    "a=extmap:3 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01",
    "a=extmap:5 http://www.webrtc.org/experiments/rtp-hdrext/playout-delay",
    "a=extmap:6 http://www.webrtc.org/experiments/rtp-hdrext/video-content-type",
    "a=extmap:7 http://www.webrtc.org/experiments/rtp-hdrext/video-timing",
    "a=extmap:8 http://www.webrtc.org/experiments/rtp-hdrext/color-space",
    "a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid",
    "a=extmap:10 urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id",
    "a=extmap:11 urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id",
    "a=sendrecv",
    `a=msid:${stream} ${track("video")}`,
    "a=rtcp-mux",
    "a=rtcp-rsize",
  ];
  const codecs = [
    [96, "VP8/90000", null, 97],
    [102, "H264/90000", "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f", 103],
    [104, "H264/90000", "level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=42001f", 105],
    [106, "H264/90000", "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f", 107],
    [108, "H264/90000", "level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=42e01f", 109],
    [127, "H264/90000", "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=4d001f", 125],
    [39, "H264/90000", "level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=4d001f", 40],
    [45, "AV1/90000", "level-idx=5;profile=0;tier=0", 46],
    [98, "VP9/90000", "profile-id=0", 99],
    [100, "VP9/90000", "profile-id=2", 101],
  ];
  for (const [pt, name, fmtp, rtx] of codecs) {
    lines.push(`a=rtpmap:${pt} ${name}`);
    for (const fb of ["goog-remb", "transport-cc", "ccm fir", "nack", "nack pli"]) {
      lines.push(`a=rtcp-fb:${pt} ${fb}`);
    }
    if (fmtp) lines.push(`a=fmtp:${pt} ${fmtp}`);
    lines.push(`a=rtpmap:${rtx} rtx/90000`, `a=fmtp:${rtx} apt=${pt}`);
  }
  lines.push(
    "a=rtpmap:112 red/90000",
    "a=rtpmap:113 rtx/90000",
    "a=fmtp:113 apt=112",
    "a=rtpmap:116 ulpfec/90000",
    `a=ssrc-group:FID ${ssrc(2)} ${ssrc(3)}`,
    `a=ssrc:${ssrc(2)} cname:${cname}`,
    `a=ssrc:${ssrc(2)} msid:${stream} ${track("video")}`,
    `a=ssrc:${ssrc(3)} cname:${cname}`,
    `a=ssrc:${ssrc(3)} msid:${stream} ${track("video")}`,
  );
  return lines.join("\r\n") + "\r\n";
}

function fakeCandidate(session, from, n) {
  const foundation = 1000000000 + ((session.id * 31 + from * 7 + n) % 1000000000);
  const port = 20000 + ((session.id * 20 + from * 10 + n) % 12000);
  return {
    candidate:
      `candidate:${foundation} 1 udp 41885439 127.0.0.1 ${port} typ relay ` +
      `raddr 0.0.0.0 rport 0 generation 0 ufrag u${session.id.toString(36)}${from} ` +
      "network-id 1 network-cost 10",
    sdpMid: "0",
    sdpMLineIndex: 0,
  };
}

function sendCall(session, from, kind, data) {
  return new Promise((resolve) => {
    const sock = session.sockets[from];
    if (!sock || !sock.connected) {
      countInto(errors, "call_on_closed_socket");
      resolve(false);
      return;
    }
    const flow = callFlow(session, from, kind);
    const t0 = performance.now();
    flow.sent.push(t0);
    countInto(callStats.sent, kind);
    sock
      .timeout(ACK_TIMEOUT_MS)
      .emit("call", { session_id: session.id, kind, data }, (err, resp) => {
        if (err) {
          callStats.ack_timeouts += 1;
          resolve(false);
        } else if (resp && resp.ok) {
          callStats.acked_ok += 1;
          flow.acked += 1;
          callAckLatencies.push(performance.now() - t0);
          resolve(true);
        } else {
          countInto(callStats.refused, (resp && resp.error) || "no_answer");
          resolve(false);
        }
      });
  });
}

function onCall(session, index, payload) {
  const kind = payload && payload.kind;
  const from = 1 - index;
  const fromId = session.users[from].id;
  if (
    !payload ||
    payload.session_id !== session.id ||
    (!cfg.bare && payload.from_user_id !== fromId)
  ) {
    callStats.unexpected += 1;
    return;
  }
  const flow = callFlow(session, from, kind);
  const t0 = flow.sent[flow.received];
  flow.received += 1;
  if (t0 !== undefined) callRelayLatencies.push(performance.now() - t0);
  for (const wake of flow.waiters.splice(0)) wake();
}

// Resolves once `count` messages of `kind` from `from` arrived (or after CALL_WAIT_MS).
function callArrived(session, from, kind, count = 1) {
  const flow = callFlow(session, from, kind);
  if (flow.received >= count) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      callStats.wait_timeouts += 1;
      resolve(false);
    }, CALL_WAIT_MS);
    const check = () => {
      if (flow.received >= count) {
        clearTimeout(timer);
        resolve(true);
      } else {
        flow.waiters.push(check);
      }
    };
    flow.waiters.push(check);
  });
}

async function sendCandidates(session, from) {
  for (let n = 0; n < CALL_CANDIDATES; n++) {
    await sendCall(session, from, "candidate", fakeCandidate(session, from, n));
  }
}

async function callSignalling(session) {
  callStats.sessions += 1;
  let inTime = true;
  const media = { audio: true, video: false };
  await sendCall(session, 0, "media", media);
  inTime = (await callArrived(session, 0, "media")) && inTime;
  await sendCall(session, 1, "media", media);
  inTime = (await callArrived(session, 1, "media")) && inTime;
  await sendCall(session, 0, "offer", { type: "offer", sdp: fakeSdp("offer", session, 0) });
  inTime = (await callArrived(session, 0, "offer")) && inTime;
  await sendCall(session, 1, "answer", { type: "answer", sdp: fakeSdp("answer", session, 1) });
  inTime = (await callArrived(session, 1, "answer")) && inTime;
  await Promise.all([sendCandidates(session, 0), sendCandidates(session, 1)]);
  const both = await Promise.all([
    callArrived(session, 0, "candidate", CALL_CANDIDATES),
    callArrived(session, 1, "candidate", CALL_CANDIDATES),
  ]);
  if (inTime && both.every(Boolean)) callStats.sessions_completed += 1;
}

function callReport() {
  let expected = 0;
  let received = 0;
  let lost = 0;
  let duplicates = 0;
  for (const flow of callFlows.values()) {
    expected += flow.acked;
    received += flow.received;
    lost += Math.max(0, flow.acked - flow.received);
    duplicates += Math.max(0, flow.received - flow.acked);
  }
  Object.assign(callStats, { expected, received, lost, duplicates });
  return {
    ...callStats,
    sdp_bytes: fakeSdpSizes(),
    ack_ms: summary(callAckLatencies),
    relay_ms: summary(callRelayLatencies),
  };
}

function fakeSdpSizes() {
  const s = sessions[0] || { id: 1 };
  return {
    offer: Buffer.byteLength(fakeSdp("offer", s, 0)),
    answer: Buffer.byteLength(fakeSdp("answer", s, 1)),
  };
}

// --- sketching (sessions with sketch: true) ------------------------------------

const SKETCH_INTERVAL_MS = 100; // 10 messages a second
const SKETCH_POINTS = 20; // one stroke of 20 points a message
const SKETCH_TURN_POINTS = 20000; // the server's bound per turn
const SKETCH_COLOR = "#1f2937";
const SKETCH_WIDTH = 4;
const sketchAckLatencies = []; // ack - send, ms
const sketchRelayLatencies = []; // partner receive - send, ms
const sketchStats = {
  sessions: 0, // sketching sessions in this worker
  sent: 0,
  acked_ok: 0,
  refused: {},
  ack_timeouts: 0,
  relayed: 0, // `sketch` events the partner got, matched to a send
  mismatched: 0, // matched, but the first point was not the one sent
  unexpected: 0, // nothing outstanding that way, or the wrong socket/session
  unacked_received: 0, // relayed, but its ack timed out
  skipped_unacked: 0, // ticks skipped: the previous message not yet acknowledged
  skipped_not_teaching: 0, // ticks outside the teaching phase
  skipped_turn_full: 0, // ticks after SKETCH_TURN_POINTS in a turn
  points_acked: 0,
};

function round1(v) {
  return Math.round(v * 10) / 10;
}

// [teacher index, turn] of a sketching session now, or null.
function sketcher(session) {
  if (cfg.bare) {
    if (session.liveAt === null) return null;
    const cycle = (cfg.teachSeconds + cfg.rateSeconds) * 1000;
    const elapsed = performance.now() - session.liveAt;
    const turn = Math.floor(elapsed / cycle);
    if (turn >= cfg.turns) return null;
    if (elapsed - turn * cycle > cfg.teachSeconds * 1000 - cfg.phaseMarginMs) return null;
    return [turn % 2, turn];
  }
  const who = roles(session);
  return who ? [who[1], session.state.turn] : null;
}

// The teacher's index of a turn (who a relayed sketch of that turn comes from).
function sketchTeacherOf(session, turn) {
  if (cfg.bare) return typeof turn === "number" ? turn % 2 : -1;
  const listener = session.users.findIndex((u) => u.id === listenerOfTurn(session, turn));
  return listener < 0 ? -1 : 1 - listener;
}

function sketchStroke(session) {
  const points = [];
  let [x, y] = session.pen;
  for (let k = 0; k < SKETCH_POINTS; k++) {
    x = round1(Math.min(1000, Math.max(0, x + (Math.random() - 0.5) * 30)));
    y = round1(Math.min(1000, Math.max(0, y + (Math.random() - 0.5) * 30)));
    points.push([x, y]);
  }
  session.pen = [x, y];
  return { points, width: SKETCH_WIDTH, color: SKETCH_COLOR };
}

function sendSketch(session) {
  const now = sketcher(session);
  if (!now) {
    sketchStats.skipped_not_teaching += 1;
    return;
  }
  if (session.sketchPending) {
    sketchStats.skipped_unacked += 1;
    return;
  }
  const [from, turn] = now;
  const drawn = session.sketchTurnPoints.get(turn) || 0;
  if (drawn + SKETCH_POINTS > SKETCH_TURN_POINTS) {
    sketchStats.skipped_turn_full += 1;
    return;
  }
  const sock = session.sockets[from];
  if (!sock || !sock.connected) {
    countInto(errors, "sketch_on_closed_socket");
    return;
  }
  const stroke = sketchStroke(session);
  const entry = { t0: performance.now(), first: stroke.points[0], acked: false, received: false };
  const fifo = session.sketchFifo[from];
  fifo.push(entry);
  session.sketchTurnPoints.set(turn, drawn + SKETCH_POINTS);
  session.sketchPending = true;
  sketchStats.sent += 1;
  sock
    .timeout(ACK_TIMEOUT_MS)
    .emit("sketch", { session_id: session.id, turn, strokes: [stroke] }, (err, resp) => {
      session.sketchPending = false;
      if (err) {
        sketchStats.ack_timeouts += 1;
        if (entry.received) sketchStats.unacked_received += 1;
        return; // left in the FIFO: it may still arrive
      }
      if (resp && resp.ok) {
        sketchStats.acked_ok += 1;
        entry.acked = true;
        sketchStats.points_acked += SKETCH_POINTS;
        sketchAckLatencies.push(performance.now() - entry.t0);
      } else {
        countInto(sketchStats.refused, (resp && resp.error) || "no_answer");
        const left = (session.sketchTurnPoints.get(turn) || 0) - SKETCH_POINTS;
        session.sketchTurnPoints.set(turn, left);
        // Not relayed: out of the FIFO, so the next arrival pairs with its own send.
        const at = fifo.indexOf(entry);
        if (at >= 0) fifo.splice(at, 1);
        else if (entry.received) sketchStats.unexpected += 1; // relayed though refused
      }
    });
}

function onSketch(session, index, payload) {
  const now = performance.now();
  const from = 1 - index;
  if (
    !payload ||
    payload.session_id !== session.id ||
    sketchTeacherOf(session, payload.turn) !== from
  ) {
    sketchStats.unexpected += 1;
    return;
  }
  const entry = session.sketchFifo[from].shift();
  if (!entry) {
    sketchStats.unexpected += 1;
    return;
  }
  entry.received = true;
  sketchStats.relayed += 1;
  sketchRelayLatencies.push(now - entry.t0);
  const stroke = Array.isArray(payload.strokes) ? payload.strokes[0] : null;
  const first = stroke && Array.isArray(stroke.points) ? stroke.points[0] : null;
  if (!first || first[0] !== entry.first[0] || first[1] !== entry.first[1]) {
    sketchStats.mismatched += 1;
  }
}

function startSketching(session) {
  // A fixed 10-a-second schedule from a random phase (no drift from timer lateness).
  const start = performance.now() + Math.random() * SKETCH_INTERVAL_MS;
  let k = 0;
  const tick = () => {
    if (!sending) return;
    sendSketch(session);
    k += 1;
    session.sketchTimer = setTimeout(
      tick,
      Math.max(0, start + k * SKETCH_INTERVAL_MS - performance.now()),
    );
  };
  session.sketchTimer = setTimeout(tick, Math.max(0, start - performance.now()));
}

// Acknowledged ok, but not (yet) received by the partner.
function sketchMissing() {
  let missing = 0;
  for (const s of sessions) {
    if (!s.sketch || !s.sketchFifo) continue;
    for (const fifo of s.sketchFifo) for (const e of fifo) if (e.acked) missing += 1;
  }
  return missing;
}

function sketchReport() {
  return {
    ...sketchStats,
    lost: sketchMissing(),
    interval_ms: SKETCH_INTERVAL_MS,
    points_per_message: SKETCH_POINTS,
    ack_ms: summary(sketchAckLatencies),
    relay_ms: summary(sketchRelayLatencies),
  };
}

// --- stages -------------------------------------------------------------------

function percentile(sorted, p) {
  if (sorted.length === 0) return null;
  const k = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[k];
}

function summary(values) {
  const sorted = Float64Array.from(values).sort();
  return {
    n: sorted.length,
    p50: percentile(sorted, 50),
    p95: percentile(sorted, 95),
    p99: percentile(sorted, 99),
    max: sorted.length ? sorted[sorted.length - 1] : null,
  };
}

// Each user its own client address (what nginx hashes when no room is named).
function clientAddress(userId) {
  return `10.${(userId >> 8) & 255}.${userId & 255}.1`;
}

function connectOne(session, index) {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const sock = io(cfg.url, {
      transports: ["websocket"],
      auth: { token: session.users[index].token },
      reconnection: false,
      forceNew: true,
      timeout: 60000,
      perMessageDeflate: cfg.perMessageDeflate ? { threshold: 1024 } : false,
      // As the room page does (static/js/live.js): the socket names its
      // session, and nginx sends both partners to one process.
      query: { room: String(session.id) },
      // Behind nginx: each user its own (private) client address.
      extraHeaders: cfg.forwardedFor
        ? { "X-Forwarded-For": clientAddress(session.users[index].id) }
        : undefined,
    });
    session.sockets[index] = sock;
    let done = false;
    sock.on("connect", () => {
      if (done) return;
      done = true;
      resolve({ ok: true, ms: performance.now() - t0 });
    });
    sock.on("connect_error", (err) => {
      if (done) return;
      done = true;
      resolve({ ok: false, error: String(err && err.message) });
    });
    sock.on("disconnect", (reason) => {
      countInto(disconnects, reason);
    });
    sock.on("signal", (payload) => onSignal(session, index, payload));
    if (cfg.callSignalling) sock.on("call", (payload) => onCall(session, index, payload));
    if (session.sketch) sock.on("sketch", (payload) => onSketch(session, index, payload));
    sock.on("session_state", (state) => {
      if (running) countInto(events, "session_state");
      if (index === 0) {
        applyState(session, state);
        rememberTurns(session, state);
      }
    });
    sock.onAny((event) => {
      if (running && event !== "signal" && event !== "session_state") {
        countInto(events, event);
      }
    });
  });
}

async function connectAll() {
  const t0 = performance.now();
  const jobs = [];
  for (const s of sessions) {
    jobs.push([s, 0], [s, 1]);
  }
  const times = [];
  const failures = {};
  let next = 0;
  async function lane() {
    while (next < jobs.length) {
      const [s, i] = jobs[next++];
      const r = await connectOne(s, i);
      if (r.ok) times.push(r.ms);
      else countInto(failures, r.error);
    }
  }
  const lanes = [];
  for (let k = 0; k < Math.max(1, cfg.connectConcurrency); k++) lanes.push(lane());
  await Promise.all(lanes);
  say({
    stage: "connected",
    sockets: jobs.length,
    connected: times.length,
    failures,
    connect_ms: summary(times),
    seconds: (performance.now() - t0) / 1000,
  });
}

function joinOne(session, index) {
  return new Promise((resolve) => {
    const sock = session.sockets[index];
    if (!sock || !sock.connected) {
      resolve({ ok: false, error: "not_connected" });
      return;
    }
    const t0 = performance.now();
    sock.timeout(60000).emit("join_session", { session_id: session.id }, (err, resp) => {
      if (err) {
        resolve({ ok: false, error: "ack_timeout" });
      } else if (resp && resp.ok) {
        if (resp.state) {
          applyState(session, resp.state);
          rememberTurns(session, resp.state);
        }
        resolve({ ok: true, ms: performance.now() - t0 });
      } else {
        resolve({ ok: false, error: (resp && resp.error) || "no_answer" });
      }
    });
  });
}

async function joinAll() {
  const t0 = performance.now();
  const spread = cfg.joinSpreadSeconds * 1000;
  const times = [];
  const failures = {};
  const pending = sessions.map(
    (s, k) =>
      new Promise((resolve) => {
        setTimeout(async () => {
          const results = await Promise.all([joinOne(s, 0), joinOne(s, 1)]);
          for (const r of results) {
            if (r.ok) times.push(r.ms);
            else countInto(failures, r.error);
          }
          if (results.every((r) => r.ok)) s.liveAt = performance.now();
          if (cfg.callSignalling) {
            if (results.every((r) => r.ok)) callPending.push(callSignalling(s));
            else callStats.sessions_skipped += 1;
          }
          resolve();
        }, (k / Math.max(1, sessions.length)) * spread);
      }),
  );
  await Promise.all(pending);
  if (cfg.callSignalling) await Promise.all(callPending);
  // Wait (briefly) until every Ally session reports teaching.
  const deadline = performance.now() + 15000;
  while (!cfg.bare && performance.now() < deadline) {
    if (sessions.every((s) => s.state && s.state.status === "live")) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  const phases = {};
  for (const s of sessions) {
    countInto(phases, s.state ? `${s.state.status}/${s.state.phase}` : "unknown");
  }
  const report = {
    stage: "joined",
    joined: times.length,
    failures,
    join_ms: summary(times),
    phases,
    seconds: (performance.now() - t0) / 1000,
  };
  if (cfg.callSignalling) report.call = callReport();
  say(report);
}

async function run(durationSeconds, drainSeconds) {
  const loop = monitorEventLoopDelay({ resolution: 10 });
  loop.enable();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const wall0 = Date.now();
  running = true;
  sending = true;
  for (const s of sessions) startSending(s);
  if (cfg.sketching) {
    for (const s of sessions) {
      if (!s.sketch) continue;
      sketchStats.sessions += 1;
      s.sketchFifo = [[], []];
      s.sketchTurnPoints = new Map();
      s.sketchPending = false;
      s.pen = [200 + Math.random() * 600, 200 + Math.random() * 600];
      startSketching(s);
    }
  }
  await new Promise((r) => setTimeout(r, durationSeconds * 1000));
  sending = false;
  for (const s of sessions) {
    clearTimeout(s.timer);
    clearTimeout(s.sketchTimer);
  }
  const sendEnd = performance.now();
  const cpuSend = process.cpuUsage(cpu0);
  // Drain: wait for acknowledged signals still on their way to the teacher.
  const drainDeadline = performance.now() + drainSeconds * 1000;
  while (performance.now() < drainDeadline) {
    const outstanding = stats.sent - stats.acked_ok - stats.ack_timeouts - sumValues(stats.refused);
    const missing = [...acked].some((n) => !receivedBy.has(n));
    const sketchOutstanding = cfg.sketching
      ? sketchStats.sent -
        sketchStats.acked_ok -
        sketchStats.ack_timeouts -
        sumValues(sketchStats.refused) +
        sketchMissing()
      : 0;
    if (outstanding <= 0 && !missing && sketchOutstanding <= 0) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  running = false;
  loop.disable();
  let lost = 0;
  for (const n of acked) if (!receivedBy.has(n)) lost += 1;
  let unacked_received = 0;
  for (const n of receivedBy.keys()) if (!acked.has(n)) unacked_received += 1;
  const elapsed = (sendEnd - t0) / 1000;
  const raw = { latencies_ms: latencies, ack_ms: ackLatencies, sent_at_ms: timedAt };
  if (cfg.callSignalling) {
    raw.call_ack_ms = callAckLatencies;
    raw.call_relay_ms = callRelayLatencies;
  }
  if (cfg.sketching) {
    raw.sketch_ack_ms = sketchAckLatencies;
    raw.sketch_relay_ms = sketchRelayLatencies;
  }
  fs.writeFileSync(cfg.out, JSON.stringify(raw));
  const report = {
    stage: "ran",
    started_at_unix: wall0 / 1000,
    send_seconds: elapsed,
    drain_seconds: (performance.now() - sendEnd) / 1000,
    ...stats,
    lost,
    unacked_received,
    events,
    disconnects,
    errors,
    latency_ms: summary(latencies),
    ack_ms: summary(ackLatencies),
    cpu_ms: { user: cpuSend.user / 1000, system: cpuSend.system / 1000 },
    event_loop_delay_ms: {
      p50: loop.percentile(50) / 1e6,
      p99: loop.percentile(99) / 1e6,
      max: loop.max / 1e6,
    },
  };
  if (cfg.sketching) report.sketch = sketchReport();
  say(report);
}

function sumValues(obj) {
  return Object.values(obj).reduce((a, b) => a + b, 0);
}

function closeAll() {
  for (const s of sessions) {
    for (const sock of s.sockets) if (sock) sock.close();
  }
  say({ stage: "closed", disconnects });
  setTimeout(() => process.exit(0), 200);
}

const rl = readline.createInterface({ input: process.stdin });
rl.on("line", async (line) => {
  const [word, ...args] = line.trim().split(/\s+/);
  try {
    if (word === "join") await joinAll();
    else if (word === "run") await run(Number(args[0]), Number(args[1] || 10));
    else if (word === "close") closeAll();
  } catch (err) {
    say({ stage: "error", error: String(err && err.stack) });
  }
});
rl.on("close", () => process.exit(0));

await connectAll();
