// The teach-back room. The server owns the clock and the state: this page
// shows the latest snapshot, computes time left from server timestamps, and
// sends events (each answered by an acknowledgement).
import { markBusy } from "./app.js";
import { liveSocket } from "./live.js";

const root = document.getElementById("room");
const sessionId = Number(root.dataset.sessionId);
const me = Number(root.dataset.me);
const partnerName = root.dataset.partnerName;
// The room's words (phases, statuses, signal kinds), as the server spells them.
const V = JSON.parse(root.dataset.vocabulary);
const PHASE = V.phase;
const STATUS = V.status;
const $ = (id) => document.getElementById(id);

let state = null;
let clockOffset = 0; // server clock minus this browser's clock, in ms
let lastAnnounced = "";
const sentWords = {}; // turn -> jargon words this listener flagged
const ratings = {}; // turn -> the listener's rating (from `rated`)
const reflected = {}; // turn -> {self: bool, summary: bool} for my own turns
const sentCount = {}; // turn -> signals this listener had acknowledged
let formsTurn = null; // the turn the forms on screen belong to
let topicFor = null; // the turn the topic box is filled for
const predictionDone = {}; // turn -> this page predicted or skipped it

const socket = liveSocket();

// --- talking to the server -------------------------------------------------

// A button's request in flight: disabled and aria-busy until its ack.
function busy(button, promise) {
  const done = markBusy(button);
  return promise.finally(done);
}

// `near`: the button or form of the action; a server_error shows beside it.
function send(event, payload, near = null) {
  return new Promise((resolve) => {
    socket.timeout(10000).emit(event, { session_id: sessionId, ...payload }, (err, ack) => {
      if (err) {
        showError("The server did not answer; check your connection.");
        resolve({ ok: false });
        return;
      }
      if (ack.ok) $("action-error").hidden = true;
      else if (ack.error === "server_error" && near) showErrorNear(near, ack.message);
      else showError(ack.message);
      resolve(ack);
    });
  });
}

// Why the "reconnecting" banner shows: this page's socket is lost, or the
// server said a service behind it is away (`service`, with its message).
// Meanwhile every button still sends; each ack says what happened.
const offline = { socket: false, service: null };
const socketLostText = $("reconnecting").textContent;
function renderReconnecting() {
  const banner = $("reconnecting");
  const text = offline.socket ? socketLostText : offline.service;
  if (text && banner.textContent !== text) banner.textContent = text;
  banner.hidden = !text;
}
function socketLost() {
  // A new connection may land on another process: it says again if needed.
  Object.assign(offline, { socket: true, service: null });
  renderReconnecting();
}

function join() {
  send("join_session", {}).then((ack) => {
    if (ack.ok) {
      offline.socket = false;
      renderReconnecting();
      render(ack.state);
      // The call (call.js) may talk to the partner once this socket is in.
      root.dispatchEvent(new CustomEvent("ally:joined", { detail: { state: ack.state } }));
    }
  });
}

socket.on("connect", join);
if (socket.connected) join();
socket.on("disconnect", socketLost);
socket.on("connect_error", socketLost);
socket.on("service", (event) => {
  offline.service = event.ok ? null : event.message;
  renderReconnecting();
});
socket.on("session_state", (snapshot) => {
  if (snapshot.session_id === sessionId) render(snapshot);
});
socket.on("presence", (event) => {
  if (event.session_id !== sessionId || !state) return;
  for (const p of state.participants) if (p.user_id === event.user_id) p.online = event.online;
  renderPresence();
});
socket.on("signal", (event) => {
  if (event.session_id !== sessionId || !state) return;
  const turn = state.turns[event.turn];
  if (turn) turn.signals = { ...turn.signals, [event.kind]: (turn.signals[event.kind] || 0) + 1 };
  if (isTeacher(event.turn)) announceSignal(addToFeed(event));
  renderTally();
});
socket.on("rated", (event) => {
  if (event.session_id !== sessionId) return;
  ratings[event.turn] = event;
  if (state) {
    render(state);
    // The teacher hears that a rating came; its figure only once it shows.
    if (!isTeacher(event.turn)) announce(`Your rating was sent: ${event.simplicity}/5.`);
    else if ((reflected[event.turn] || {}).self) announce(`${partnerName} rated it ${event.simplicity}/5.`);
    else announce(`${partnerName} has rated this turn — rate yourself to see it.`);
  }
});

// --- what a screen reader hears ----------------------------------------------

// One polite live region. Messages that arrive within a moment are spoken as
// one: a burst of signals becomes "3 signals: Lost me 2, Slower 1".
const ANNOUNCE_AFTER_MS = 1200;
const heard = { messages: [], signals: [] };
let announceTimer = null;

function announce(text) {
  if (!heard.messages.includes(text)) heard.messages.push(text);
  announceSoon();
}

function announceSignal(label) {
  heard.signals.push(label);
  announceSoon();
}

function announceSoon() {
  if (announceTimer === null) announceTimer = setTimeout(flushAnnouncements, ANNOUNCE_AFTER_MS);
}

function flushAnnouncements() {
  announceTimer = null;
  const parts = [...heard.messages];
  const signals = heard.signals;
  if (signals.length === 1) parts.push(`Signal: ${signals[0]}`);
  if (signals.length > 1) {
    const counts = new Map();
    for (const label of signals) counts.set(label, (counts.get(label) || 0) + 1);
    const list = [...counts].map(([label, n]) => (n > 1 ? `${label} ${n}` : label)).join(", ");
    parts.push(`${signals.length} signals: ${list}`);
  }
  heard.messages = [];
  heard.signals = [];
  if (parts.length) $("room-announcer").textContent = parts.join(". ");
}

// --- who am I in a turn ------------------------------------------------------

function turnOf(index) {
  return state && state.turns[index];
}
function isTeacher(index) {
  const turn = turnOf(index);
  return Boolean(turn) && turn.teacher_id === me;
}
function isListener(index) {
  const turn = turnOf(index);
  return Boolean(turn) && turn.listener_id === me;
}
function nameOf(userId) {
  if (userId === me) return "You";
  const p = state.participants.find((x) => x.user_id === userId);
  return p ? p.display_name : partnerName;
}
function serverNow() {
  return Date.now() + clockOffset;
}

// --- rendering -------------------------------------------------------------

function render(snapshot) {
  if (state && snapshot.version !== undefined && state.version > snapshot.version) return;
  state = snapshot;
  clockOffset = Date.parse(snapshot.server_time) - Date.now();
  if (formsTurn !== state.turn) resetForms();
  renderPresence();
  renderPhase();
  renderViews();
  renderTurns();
  renderTally();
  tick();
}

// Every turn starts with empty forms: nothing chosen, typed or counted.
function resetForms() {
  formsTurn = state.turn;
  for (const id of ["rate-form", "self-rate-form", "summary-form", "jargon-form"]) $(id).reset();
  $("rate-jargon").value = "";
  $("sent-count").textContent = "";
  $("signal-feed").replaceChildren();
}

function renderPresence() {
  const partner = state.participants.find((p) => p.user_id !== me);
  const online = Boolean(partner && partner.online);
  $("partner-presence").className = `dot ${online ? "online" : "offline"}`;
  $("partner-presence-text").textContent = online
    ? `${partnerName} is in the room`
    : `${partnerName} is not in the room`;
}

function phaseText() {
  const turn = turnOf(state.turn);
  const number = `Turn ${state.turn + 1} of ${state.turns.length}`;
  if (state.status === STATUS.MISSED) return "This session was missed.";
  if (state.status === STATUS.CANCELLED) return "This session was called off.";
  if (state.phase === PHASE.DONE) return "Session complete.";
  if (state.phase === PHASE.WAITING) {
    if (state.phase_ends_at) return "Both here — teaching starts at the start time.";
    return `Waiting for both of you. ${nameOf(state.turns[0].teacher_id)} teach${state.turns[0].teacher_id === me ? "" : "es"} first.`;
  }
  const topic = turn && turn.topic ? `: ${turn.topic}` : "";
  if (state.phase === PHASE.TEACHING) {
    return `${number} — ${isTeacher(state.turn) ? "you teach" : `${nameOf(turn.teacher_id)} teaches`}${topic}`;
  }
  return `${number} — a pause to rate and reflect${topic}`;
}

function renderPhase() {
  const text = phaseText();
  $("phase-label").textContent = text;
  if (text !== lastAnnounced) {
    announce(text);
    lastAnnounced = text;
  }
  const upcoming = turnOf(state.turn + 1);
  $("turn-line").textContent =
    upcoming && state.phase === PHASE.RATING
      ? `Next: ${nameOf(upcoming.teacher_id)} teach${upcoming.teacher_id === me ? "" : "es"}${upcoming.topic ? ` ${upcoming.topic}` : ""}.`
      : "";
}

// Who the pause still waits for, in words ("Bea is writing a summary").
function waitingText() {
  if (state.phase !== PHASE.RATING || !state.reflecting.length) return "";
  const turn = turnOf(state.turn);
  const parts = state.reflecting.map((userId, i) => {
    const who = userId === me && i > 0 ? "you" : nameOf(userId);
    const verb = userId === me ? "are" : "is";
    if (userId !== turn.teacher_id) return `${who} ${verb} rating`;
    return turn.summary ? `${who} ${verb} finishing up` : `${who} ${verb} writing a summary`;
  });
  const last = state.turn + 1 >= state.turns.length;
  return `${parts.join(" and ")} — ${last ? "the session ends" : "the next turn starts"} when ${parts.length > 1 ? "both are" : "that is"} done, or in `;
}

// Facts the snapshot carries: the turn I may name a topic for now, and until
// when I may still reflect on a turn I taught.
function topicTarget() {
  const target = (state.topic_turns || {})[String(me)];
  return target === undefined ? null : target;
}

function windowOpen(index) {
  const turn = turnOf(index);
  return Boolean(turn && turn.reflection_ends_at) && serverNow() <= Date.parse(turn.reflection_ends_at);
}

function renderViews() {
  const live = state.status === STATUS.LIVE;
  const teaching = live && state.phase === PHASE.TEACHING;
  const rating = live && state.phase === PHASE.RATING;
  const current = turnOf(state.turn) || {};
  $("teacher-view").hidden = !(teaching && isTeacher(state.turn));
  $("listener-view").hidden = !(teaching && isListener(state.turn));
  const rated = ratings[state.turn] || current.rated;
  $("rate-form").hidden = !(rating && isListener(state.turn) && !rated);
  if (!$("rate-form").hidden) {
    const words = sentWords[state.turn] || [];
    const box = $("rate-jargon");
    if (!box.value && words.length) box.value = words.join(", ");
  }
  // The teacher reflects in the pause after their turn, until they say ready.
  const reflecting = rating && isTeacher(state.turn) && !current.teacher_ready;
  $("reflect-view").hidden = !reflecting;
  $("reflect-view").dataset.turn = String(state.turn);
  const lastTurn = state.turn + 1 >= state.turns.length;
  $("ready-button").textContent = lastTurn ? "I’m ready — end the session" : "I’m ready — next turn";
  const done = reflected[state.turn] || {};
  $("self-rate-form").hidden = Boolean(done.self);
  $("summary-form").hidden = Boolean(done.summary || current.summary);
  renderTheirRating(state.turn);
  renderPrediction();
  $("waiting-line").hidden = !rating || !state.reflecting.length;
  $("done-view").hidden = !(state.phase === PHASE.DONE && state.status === STATUS.COMPLETED);
  const target = topicTarget();
  const form = $("topic-form");
  form.hidden = target === null || (teaching && target === state.turn && Boolean(turnOf(target).topic));
  form.dataset.turn = String(target ?? "");
  const input = $("topic-input");
  if (target !== topicFor) {
    // A new turn to name: its own topic (if any), never the last one's.
    topicFor = target;
    input.value = target === null ? "" : turnOf(target).topic || "";
  }
  $("topic-label").textContent =
    target === null
      ? "What you will teach next"
      : turnOf(target).topic
        ? `Turn ${target + 1} is yours — change the topic until it starts`
        : `Turn ${target + 1} is yours — what will you teach?`;
}

// The next turn I teach, before its teaching starts: how simply could I
// explain it now? (Once; the value stays mine.)
function predictTarget() {
  const target = topicTarget();
  if (target === null) return null;
  // Not while listening: the partner's explanation has the listener's attention.
  const teaching = state.status === STATUS.LIVE && state.phase === PHASE.TEACHING;
  if (teaching && isListener(state.turn)) return null;
  const turn = turnOf(target);
  if (!turn || turn.started_at || turn.predicted || predictionDone[target]) return null;
  return target;
}

function renderPrediction() {
  const target = predictTarget();
  const form = $("predict-form");
  if (String(target ?? "") !== form.dataset.turn) form.reset();
  form.hidden = target === null;
  form.dataset.turn = String(target ?? "");
  if (target !== null) {
    const topic = turnOf(target).topic;
    $("predict-legend").textContent = topic
      ? `Before you teach ${topic}: how simply can you explain it now?`
      : `Before you teach turn ${target + 1}: how simply can you explain it now?`;
  }
}

// The partner's rating of my turn shows only after I rated myself.
function renderTheirRating(index) {
  const box = $("their-rating");
  const rating = ratings[index];
  const simplicity = rating ? rating.simplicity : (turnOf(index) || {}).simplicity;
  if (!simplicity || !isTeacher(index)) {
    box.hidden = true;
    return;
  }
  if (!(reflected[index] || {}).self) {
    box.hidden = false;
    box.textContent = `${partnerName} has rated this turn — rate yourself to see it.`;
    return;
  }
  box.hidden = false;
  const note = rating && rating.note ? ` “${rating.note}”` : "";
  box.textContent = `${partnerName} rated it ${simplicity}/5.${note}`;
}

function renderTurns() {
  const list = $("turns-list");
  list.replaceChildren();
  state.turns.forEach((turn, index) => {
    const item = document.createElement("li");
    const now = index === state.turn && state.phase !== PHASE.DONE && state.phase !== PHASE.WAITING;
    item.className = turn.ended_at ? "turn done" : now ? "turn now" : "turn";
    const who = turn.teacher_id === me ? "You" : nameOf(turn.teacher_id);
    let text = `${who}${turn.topic ? ` — ${turn.topic}` : ""}`;
    // My own turn's figure waits until I rated myself or said I was done.
    const hidden =
      isTeacher(index) && !(reflected[index] || {}).self && !turn.teacher_ready && windowOpen(index) && turn.self_simplicity === null;
    if (turn.simplicity && !hidden) text += ` · ${turn.simplicity}/5`;
    item.textContent = text;
    if (now) item.setAttribute("aria-current", "step");
    list.append(item);
  });
}

function renderTally() {
  if (!state) return;
  const turn = turnOf(state.turn) || { signals: {} };
  for (const li of $("tally").querySelectorAll("li")) {
    li.querySelector("strong").textContent = String((turn.signals || {})[li.dataset.kind] || 0);
  }
}

function addToFeed(event) {
  const item = document.createElement("li");
  item.className = `signal-item signal-${event.kind}`;
  const K = V.signal_kind;
  const labels = {
    [K.JARGON]: "Jargon",
    [K.LOST]: "Lost me",
    [K.SLOWER]: "Slower",
    [K.CLEAR]: "Clear",
    [K.WHY]: "Why?",
    [K.HOW]: "How?",
  };
  if (event.question) item.textContent = `${labels[event.kind]} “${event.question}”`;
  else if (event.word) item.textContent = `${labels[event.kind]}: “${event.word}”`;
  else item.textContent = labels[event.kind];
  $("signal-feed").prepend(item);
  return item.textContent;
}

// --- the clock ----------------------------------------------------------------

function phaseWindow() {
  const turn = turnOf(state.turn) || {};
  if (state.phase === PHASE.TEACHING) return [turn.started_at, state.phase_ends_at];
  if (state.phase === PHASE.RATING) return [turn.teach_ends_at, state.phase_ends_at];
  if (state.phase === PHASE.WAITING) return [null, state.phase_ends_at || state.starts_at];
  return [null, null];
}

function tick() {
  if (!state) return;
  const [start, end] = phaseWindow();
  if (state.phase === PHASE.WAITING && end && Date.parse(end) <= serverNow()) {
    // Past the start, still waiting for the partner: no time to count down.
    $("countdown").textContent = "--:--";
    $("progress").style.width = "0%";
    return;
  }
  if (!end) {
    $("countdown").textContent = state.phase === PHASE.DONE ? "✓" : "--:--";
    $("progress").style.width = state.phase === PHASE.DONE ? "100%" : "0%";
    return;
  }
  const left = Math.max(0, Date.parse(end) - serverNow());
  const total = Math.floor(left / 1000);
  const hours = Math.floor(total / 3600);
  const minutes = Math.floor((total % 3600) / 60);
  const seconds = String(total % 60).padStart(2, "0");
  const clock = hours ? `${hours}:${String(minutes).padStart(2, "0")}:${seconds}` : `${minutes}:${seconds}`;
  $("countdown").textContent = clock;
  const waiting = waitingText();
  if (waiting) $("waiting-line").textContent = `${waiting}${clock}.`;
  if (start) {
    const span = Date.parse(end) - Date.parse(start);
    const done = span > 0 ? 1 - left / span : 1;
    $("progress").style.width = `${Math.min(100, Math.max(0, done * 100)).toFixed(1)}%`;
  } else {
    $("progress").style.width = "0%";
  }
}
setInterval(tick, 250);

// --- actions -----------------------------------------------------------------

function sendSignal(kind) {
  const payload = { kind };
  if (V.question_kinds.includes(kind)) {
    const question = $("question-text").value.trim();
    if (question) payload.question = question;
    $("question-text").value = "";
  }
  if (kind === V.signal_kind.JARGON) {
    const word = $("jargon-word").value.trim();
    if (word) {
      payload.word = word;
      (sentWords[state.turn] ||= []).includes(word) || sentWords[state.turn].push(word);
    }
    $("jargon-word").value = "";
  }
  const turn = state.turn;
  send("signal", payload, $("sent-count")).then((ack) => {
    if (ack.ok) {
      // Counted from this page's own acknowledgements: the room's broadcast of
      // the same signal may arrive later (through a message queue).
      sentCount[turn] = (sentCount[turn] || 0) + 1;
      const total = sentCount[turn];
      $("sent-count").textContent = `Sent: ${total} signal${total === 1 ? "" : "s"} this turn.`;
    }
  });
}

$("jargon-form").addEventListener("submit", (event) => {
  event.preventDefault();
  sendSignal(V.signal_kind.JARGON);
});
for (const button of document.querySelectorAll("button.signal")) {
  button.addEventListener("click", () => sendSignal(button.dataset.kind));
}
$("question-form").addEventListener("submit", (event) => {
  event.preventDefault();
  sendSignal(event.submitter?.dataset.kind || V.signal_kind.WHY);
});
for (const button of document.querySelectorAll("button.question")) {
  button.addEventListener("click", () => sendSignal(button.dataset.kind));
}
document.addEventListener("keydown", (event) => {
  if ($("listener-view").hidden || event.ctrlKey || event.metaKey || event.altKey) return;
  const typing = ["INPUT", "TEXTAREA", "SELECT"].includes(document.activeElement.tagName);
  if (typing) return;
  const K = V.signal_kind;
  const keys = { j: K.JARGON, l: K.LOST, s: K.SLOWER, c: K.CLEAR, w: K.WHY, h: K.HOW };
  const kind = keys[event.key.toLowerCase()];
  if (!kind) return;
  event.preventDefault();
  sendSignal(kind);
});

$("finish-turn").addEventListener("click", () => busy($("finish-turn"), send("finish_turn", {}, $("finish-turn"))));

$("predict-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const chosen = $("predict-form").querySelector("input[name=predict]:checked");
  const turn = Number($("predict-form").dataset.turn);
  if (!chosen) {
    showError("Choose from 1 to 5, or skip.");
    return;
  }
  const prediction = { turn, simplicity: Number(chosen.value) };
  busy(event.submitter, send("predict", prediction, event.submitter)).then((ack) => {
    if (ack.ok || ack.error === "already_rated" || ack.error === "wrong_phase") {
      predictionDone[turn] = true;
      renderPrediction();
    }
  });
});
$("predict-skip").addEventListener("click", () => {
  predictionDone[Number($("predict-form").dataset.turn)] = true;
  renderPrediction();
});

$("topic-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const title = $("topic-input").value.trim();
  if (title) busy(event.submitter, send("set_topic", { title }, event.submitter));
});

$("rate-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const chosen = $("rate-form").querySelector("input[name=simplicity]:checked");
  if (!chosen) {
    showError("Choose how simple it was, from 1 to 5.");
    return;
  }
  const jargon = $("rate-jargon").value.split(",").map((w) => w.trim()).filter(Boolean);
  busy(event.submitter, send("rate", {
    turn: state.turn,
    simplicity: Number(chosen.value),
    note: $("rate-note").value,
    jargon,
  }, event.submitter)).then((ack) => {
    if (ack.ok) {
      $("rate-form").reset();
      $("rate-jargon").value = "";
    }
  });
});

// Saves a typed but unsaved summary: the self-rating and "ready" both end the
// teacher's reflection, and the box is cleared at the next turn.
async function saveTypedSummary(turn, near) {
  const text = $("summary-text").value.trim();
  if (!text || (reflected[turn] || {}).summary) return true;
  const ack = await send("summary", { turn, text }, near);
  if (ack.ok) (reflected[turn] ||= {}).summary = true;
  return ack.ok;
}

$("self-rate-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const chosen = $("self-rate-form").querySelector("input[name=self]:checked");
  if (!chosen) return;
  const turn = Number($("reflect-view").dataset.turn);
  const done = markBusy(event.submitter);
  if (!(await saveTypedSummary(turn, event.submitter))) {
    done();
    return;
  }
  send("self_rate", { turn, simplicity: Number(chosen.value) }, event.submitter).then((ack) => {
    done();
    if (ack.ok || ack.error === "already_rated") {
      (reflected[turn] ||= {}).self = true;
      renderViews();
      renderTurns();
      // The partner's figure shows from now on: a screen reader hears it too
      // (the pause may end at once, taking the box with it).
      const theirs = (ratings[turn] || turnOf(turn) || {}).simplicity;
      if (theirs) announce(`${partnerName} rated it ${theirs}/5.`);
    }
  });
});

$("ready-button").addEventListener("click", async () => {
  const turn = Number($("reflect-view").dataset.turn);
  const done = markBusy($("ready-button"));
  try {
    const near = $("ready-button");
    if (await saveTypedSummary(turn, near)) await send("ready", { turn }, near);
  } finally {
    done();
  }
});

$("summary-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const turn = Number($("reflect-view").dataset.turn);
  const text = $("summary-text").value.trim();
  if (!text) return;
  busy(event.submitter, send("summary", { turn, text }, event.submitter)).then((ack) => {
    if (ack.ok) {
      (reflected[turn] ||= {}).summary = true;
      $("summary-text").value = "";
      renderViews();
    }
  });
});

// --- errors -------------------------------------------------------------------

// A fault on our side, beside the action that met it (its form, or the
// element itself): one note, moved to wherever it is needed.
function showErrorNear(near, message) {
  const note = $("action-error");
  note.textContent = `${message} Try again in a moment.`;
  (near.closest("form") || near).after(note);
  note.hidden = false;
}

let errorTimer = null;
function showError(message) {
  const box = $("room-error");
  box.textContent = message;
  box.hidden = false;
  clearTimeout(errorTimer);
  errorTimer = setTimeout(() => {
    box.hidden = true;
  }, 6000);
}
