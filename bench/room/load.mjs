// Load generator for Ally's live room (issue 4), driven by bench/bench_room.py.
//
//   node load.mjs CONFIG.json
//
// CONFIG (written by the driver): {url, profile: "realistic" | "stress", bare,
// sessions: [{id, users: [{id, token}, {id, token}]}], signalMeanSeconds,
// stressRate, connectConcurrency, joinSpreadSeconds, phaseMarginMs,
// perMessageDeflate, out}.
//
// Each session has two websocket clients (transports: ["websocket"], auth:
// {token}). The worker moves through stages when the driver says so on stdin,
// one word a line, and reports each stage as one JSON line on stdout:
//   (start)  connect every socket, at most connectConcurrency at a time
//   join     every session's two sockets send join_session, spread evenly over
//            joinSpreadSeconds
//   run D W  send signals for D seconds, then wait up to W seconds for the
//            last ones to arrive; raw latencies go to CONFIG.out
//   close    disconnect and exit
//
// Relay latency: the listener stamps each signal with a sequence number in the
// `word` field and remembers performance.now(); the teacher's client takes the
// difference when its `signal` event arrives (both clients of a session live in
// this process, so one monotonic clock serves both).

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
          resolve();
        }, (k / Math.max(1, sessions.length)) * spread);
      }),
  );
  await Promise.all(pending);
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
  say({
    stage: "joined",
    joined: times.length,
    failures,
    join_ms: summary(times),
    phases,
    seconds: (performance.now() - t0) / 1000,
  });
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
  await new Promise((r) => setTimeout(r, durationSeconds * 1000));
  sending = false;
  for (const s of sessions) clearTimeout(s.timer);
  const sendEnd = performance.now();
  const cpuSend = process.cpuUsage(cpu0);
  // Drain: wait for acknowledged signals still on their way to the teacher.
  const drainDeadline = performance.now() + drainSeconds * 1000;
  while (performance.now() < drainDeadline) {
    const outstanding = stats.sent - stats.acked_ok - stats.ack_timeouts - sumValues(stats.refused);
    const missing = [...acked].some((n) => !receivedBy.has(n));
    if (outstanding <= 0 && !missing) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  running = false;
  loop.disable();
  let lost = 0;
  for (const n of acked) if (!receivedBy.has(n)) lost += 1;
  let unacked_received = 0;
  for (const n of receivedBy.keys()) if (!acked.has(n)) unacked_received += 1;
  const elapsed = (sendEnd - t0) / 1000;
  fs.writeFileSync(
    cfg.out,
    JSON.stringify({ latencies_ms: latencies, ack_ms: ackLatencies }),
  );
  say({
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
  });
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
