// The sketch pad ("Draw it from memory", DESIGN.md §11). The turn's teacher
// draws while teaching; the strokes go to the server in small messages (at
// most 500 points, about ten a second, each awaiting its acknowledgement) and
// the server relays them to the room's other sockets, where this same module
// draws them on a read-only pad. Coordinates live in a 1000 x 1000 square,
// scaled to the canvas. When a page (re)loads or a turn changes, the pad is
// drawn afresh from GET /api/v1/sessions/<id>/turns/<index>/sketch.
import { liveSocket } from "./live.js";

const root = document.getElementById("room");
const pad = document.getElementById("sketch");
const SIZE = 1000; // the square's side, in pad units
const MAX_MESSAGE = 500; // points a message
const MAX_TURN = 20000; // points a turn
const SEND_EVERY_MS = 100;
const MIN_STEP = 1.5; // pad units between two kept points
const DEFAULT_WIDTH = 4;

if (root && pad) startPad();

function startPad() {
  const $ = (id) => document.getElementById(id);
  const sessionId = Number(root.dataset.sessionId);
  const me = Number(root.dataset.me);
  const partnerName = root.dataset.partnerName || "Your partner";
  const V = JSON.parse(root.dataset.vocabulary);
  const COLORS = JSON.parse(pad.dataset.colors);
  const ERASER = pad.dataset.eraser;
  const canvas = $("sketch-canvas");
  const ctx = canvas.getContext("2d");
  const socket = liveSocket();

  const view = {
    state: null, // the latest snapshot
    pushes: 0, // snapshots pushed by the server so far
    turn: null, // the turn whose sketch the pad shows
    loading: false,
    loads: 0,
    buffer: [], // relayed messages that arrived while loading
    strokes: [], // what the server has (or is being sent), in order
    serverPoints: 0, // the turn's points as the server last said
  };
  const tool = { eraser: false, color: COLORS[0], width: 5 };
  const outbox = []; // strokes with points not sent yet (the current one included)
  let current = null; // the stroke under the pointer
  let clearPending = false;
  let inFlight = false;
  let inFlightPoints = 0; // points of the message awaiting its ack
  let lastStatus = "";

  // --- the snapshot: who draws, which turn ---------------------------------

  // Whether this page's user teaches the current turn, now.
  function teachingNow() {
    const s = view.state;
    const turn = s && s.turns[s.turn];
    return Boolean(turn) && s.status === V.status.LIVE && s.phase === V.phase.TEACHING && turn.teacher_id === me;
  }

  // draw (the teacher, in the tab holding the pen), elsewhere (the teacher's
  // other tabs), watch (the listener), review (the pause), off.
  function mode() {
    const s = view.state;
    const turn = s && s.turns[s.turn];
    if (!turn || s.status !== V.status.LIVE) return "off";
    if (s.phase === V.phase.TEACHING) {
      if (turn.teacher_id !== me) return "watch";
      return pen.state === "elsewhere" ? "elsewhere" : "draw";
    }
    if (s.phase === V.phase.RATING) return "review";
    return "off";
  }

  function teacherName() {
    const s = view.state;
    const turn = s && s.turns[s.turn];
    if (!turn) return partnerName;
    if (turn.teacher_id === me) return "You";
    const p = (s.participants || []).find((x) => x.user_id === turn.teacher_id);
    return (p && p.display_name) || partnerName;
  }

  function onState(snapshot, fresh = false) {
    if (!snapshot || snapshot.session_id !== sessionId) return;
    const old = view.state;
    if (!fresh && old && old.version !== undefined && snapshot.version !== undefined && snapshot.version < old.version) return;
    const before = teachingNow();
    view.state = snapshot;
    const now = mode();
    if (before && !teachingNow()) {
      // Teaching is over: what was not sent can no longer be stored.
      outbox.length = 0;
      current = null;
      clearPending = false;
    }
    if (now !== "off" && (view.turn !== snapshot.turn || fresh)) load(snapshot.turn);
    const turn = snapshot.turns[snapshot.turn];
    // The snapshot's count is a floor: relayed strokes may have come since.
    if (turn && typeof turn.sketch_points === "number" && snapshot.turn === view.turn) {
      view.serverPoints = Math.max(view.serverPoints, turn.sketch_points);
    }
    render();
  }

  socket.on("session_state", (snapshot) => {
    view.pushes += 1;
    onState(snapshot);
  });

  // The room page (room.js) says when this socket has joined the session:
  // from then on relayed strokes reach it. Strokes may have been missed while
  // away, so the pad is drawn afresh; the state comes with the event when
  // room.js passes it, else from the API.
  root.addEventListener("ally:joined", async (event) => {
    const seen = view.pushes;
    let snapshot = event.detail && event.detail.state;
    if (!snapshot) snapshot = await fetchSnapshot();
    if (snapshot && view.pushes === seen) onState(snapshot, true);
    else if (view.state) onState(view.state, true);
  });

  async function fetchSnapshot() {
    try {
      const response = await fetch(`/api/v1/sessions/${sessionId}`, {
        credentials: "same-origin",
        headers: { Accept: "application/json" },
      });
      if (!response.ok) return null;
      const s = await response.json();
      // The API's session, in the snapshot's shape (what this pad needs).
      const stored = Object.fromEntries((s.turns || []).map((t) => [t.index, t]));
      return {
        session_id: s.id,
        status: s.status,
        phase: s.phase,
        turn: s.turn,
        participants: s.participants || [],
        turns: (s.plan || []).map((p) => ({ ...p, ...(stored[p.index] || {}) })),
      };
    } catch {
      return null;
    }
  }

  // --- the pen: one tab of this browser draws ------------------------------

  // The teacher's other tabs show the strokes read-only. The first tab open
  // holds the pen (a Web Lock) while it stays open; another tab may take it
  // ("Draw here instead"), and gets it back by itself when that one closes.
  // Without Web Locks (an insecure origin) every tab draws.
  const pen = { state: navigator.locks ? "unknown" : "mine", waiting: null };
  const PEN_LOCK = `ally-sketch-pen-${sessionId}`;

  function holdPen() {
    pen.state = "mine";
    render();
    return new Promise(() => {}); // kept until the tab closes, or it is taken
  }

  function penLost() {
    pen.state = "elsewhere";
    if (current) {
      current = null; // what it drew so far is still sent
      redraw();
    }
    render();
    waitForPen();
  }

  // In line for the pen: it comes when the tab holding it closes.
  function waitForPen() {
    const waiting = new AbortController();
    pen.waiting = waiting;
    navigator.locks
      .request(PEN_LOCK, { signal: waiting.signal }, () => {
        pen.waiting = null;
        return holdPen();
      })
      .catch(() => {
        // This tab left the line to take the pen, or had it taken again.
        if (!waiting.signal.aborted) penLost();
      });
  }

  function claimPen(take = false) {
    if (!navigator.locks) return;
    if (pen.waiting) pen.waiting.abort();
    const options = take ? { steal: true } : { ifAvailable: true };
    navigator.locks
      .request(PEN_LOCK, options, (lock) => {
        if (lock) return holdPen();
        pen.state = "elsewhere";
        render();
        waitForPen();
        return undefined;
      })
      .catch((error) => {
        if (error.name === "AbortError") penLost(); // another tab took it
      });
  }

  // --- the turn's strokes: loading and relayed -----------------------------

  const strokeKey = (s) => JSON.stringify([s.points, s.width ?? DEFAULT_WIDTH, s.color ?? COLORS[0]]);

  async function load(turn) {
    view.turn = turn;
    view.loading = true;
    view.buffer = [];
    view.strokes = [];
    view.serverPoints = 0; // until the snapshot or the strokes say more
    outbox.length = 0;
    current = null;
    clearPending = false;
    const ticket = ++view.loads;
    redraw();
    render();
    let strokes = [];
    try {
      const response = await fetch(`/api/v1/sessions/${sessionId}/turns/${turn}/sketch`, {
        credentials: "same-origin",
        headers: { Accept: "application/json" },
      });
      if (response.ok) strokes = (await response.json()).strokes || [];
    } catch {
      // Offline: the pad starts empty; the next join draws it again.
    }
    if (ticket !== view.loads) return; // a newer load took over
    // Relayed messages that arrived meanwhile: the ones the answer already
    // holds come first (its last one is the newest); apply only the rest.
    const held = new Set(strokes.map(strokeKey));
    let last = -1;
    view.buffer.forEach((message, i) => {
      if (message.strokes.length && message.strokes.every((s) => held.has(strokeKey(s)))) last = i;
    });
    view.strokes = strokes;
    const loaded = strokes.reduce((sum, stroke) => sum + stroke.points.length, 0);
    view.serverPoints = Math.max(view.serverPoints, loaded);
    for (const message of view.buffer.slice(last + 1)) apply(message);
    view.buffer = [];
    view.loading = false;
    redraw();
    render();
  }

  function apply(message) {
    if (message.clear) view.strokes = [];
    view.strokes.push(...message.strokes);
    // The turn's count grows with every stroke (a clear does not lower it).
    for (const stroke of message.strokes) view.serverPoints += stroke.points.length;
  }

  socket.on("sketch", (message) => {
    if (message.session_id !== sessionId) return;
    if (message.turn !== view.turn) {
      if (view.turn !== null && message.turn < view.turn) return; // an old turn's
      load(message.turn); // a turn this page has not heard of yet
    }
    if (view.loading) {
      view.buffer.push(message);
      return;
    }
    apply(message);
    if (message.clear || outbox.length) redraw();
    else for (const stroke of message.strokes) paint(stroke);
    render();
  });

  // --- drawing on the canvas ----------------------------------------------

  function scale() {
    return canvas.width / SIZE;
  }

  // One stroke, or its part from point `from` on (joined to the point before).
  function paint(stroke, from = 0) {
    const points = stroke.points;
    if (!points.length || from >= points.length) return;
    const k = scale();
    ctx.strokeStyle = ctx.fillStyle = stroke.color ?? COLORS[0];
    ctx.lineWidth = Math.max(1, (stroke.width ?? DEFAULT_WIDTH) * k);
    ctx.lineCap = "round";
    ctx.lineJoin = "round";
    const start = Math.max(0, from - 1);
    if (points.length - start === 1) {
      const [x, y] = points[start];
      ctx.beginPath();
      ctx.arc(x * k, y * k, ctx.lineWidth / 2, 0, Math.PI * 2);
      ctx.fill();
      return;
    }
    ctx.beginPath();
    ctx.moveTo(points[start][0] * k, points[start][1] * k);
    for (let i = start + 1; i < points.length; i += 1) ctx.lineTo(points[i][0] * k, points[i][1] * k);
    ctx.stroke();
  }

  function redraw() {
    ctx.fillStyle = "#ffffff";
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    for (const stroke of view.strokes) paint(stroke);
    for (const stroke of outbox) paint(stroke, stroke.sent);
  }

  // The canvas keeps the column's width, square, sharp on dense screens.
  function fit() {
    const side = Math.round(canvas.getBoundingClientRect().width * (window.devicePixelRatio || 1));
    if (side > 0 && side !== canvas.width) {
      canvas.width = side;
      canvas.height = side;
      redraw();
    }
  }
  new ResizeObserver(fit).observe(canvas);

  function toPad(event) {
    const box = canvas.getBoundingClientRect();
    const clamp = (v) => Math.min(SIZE, Math.max(0, Math.round(v * 10) / 10));
    return [clamp(((event.clientX - box.left) / box.width) * SIZE), clamp(((event.clientY - box.top) / box.height) * SIZE)];
  }

  // Points the server will hold once everything drawn here is sent (a part
  // of a stroke sent after an earlier part repeats that part's last point).
  function pointsSoon() {
    let unsent = 0;
    for (const stroke of outbox) {
      const left = stroke.points.length - stroke.sent;
      if (left > 0) unsent += left + (stroke.sent > 0 ? 1 : 0);
    }
    return view.serverPoints + inFlightPoints + unsent;
  }

  // Whether one more point would take the turn over its bound (continuing a
  // stroke whose points are all sent costs the repeated point too).
  function full() {
    const rejoin = current && current.sent > 0 && current.sent === current.points.length ? 1 : 0;
    return pointsSoon() + rejoin + 1 > MAX_TURN;
  }

  const FULL_MESSAGE = `The sketch is full: ${MAX_TURN.toLocaleString("en-US")} points a turn. Keep explaining in words.`;

  canvas.addEventListener("pointerdown", (event) => {
    if (mode() !== "draw" || view.loading || current) return;
    if (event.pointerType === "mouse" && event.button !== 0) return; // a right click
    event.preventDefault();
    if (full()) {
      showError(FULL_MESSAGE);
      return;
    }
    try {
      canvas.setPointerCapture(event.pointerId);
    } catch {
      // A synthetic pointer cannot be captured; its events still arrive here.
    }
    // A pen's eraser end (button 5) erases whatever tool is chosen.
    const erasing = tool.eraser || (event.pointerType === "pen" && (event.button === 5 || (event.buttons & 32) !== 0));
    current = {
      pointerId: event.pointerId,
      points: [toPad(event)],
      width: erasing ? Math.min(40, tool.width * 4) : tool.width,
      color: erasing ? ERASER : tool.color,
      sent: 0,
    };
    outbox.push(current);
    paint(current);
  });

  canvas.addEventListener("pointermove", (event) => {
    if (!current || event.pointerId !== current.pointerId) return;
    event.preventDefault();
    const coalesced = event.getCoalescedEvents ? event.getCoalescedEvents() : [];
    for (const e of coalesced.length ? coalesced : [event]) {
      const point = toPad(e);
      const [lx, ly] = current.points[current.points.length - 1];
      if (Math.hypot(point[0] - lx, point[1] - ly) < MIN_STEP) continue;
      if (full()) {
        showError(FULL_MESSAGE);
        break;
      }
      current.points.push(point);
      paint(current, current.points.length - 1);
    }
  });

  function endStroke(event) {
    if (!current || event.pointerId !== current.pointerId) return;
    current = null;
    flush();
    // Drawn again as whole lines, the way the partner's pad draws them (the
    // segments painted while moving blend twice at their joins).
    redraw();
    render();
  }
  for (const type of ["pointerup", "pointercancel", "lostpointercapture"]) canvas.addEventListener(type, endStroke);

  // --- sending --------------------------------------------------------------

  // The next message's strokes: unsent points, oldest first, at most 500. A
  // stroke continued from an earlier message repeats its last sent point, so
  // the parts join up wherever they are drawn.
  function nextStrokes() {
    const strokes = [];
    let budget = MAX_MESSAGE;
    for (const stroke of outbox) {
      if (stroke.sent >= stroke.points.length) continue;
      const start = stroke.sent > 0 ? stroke.sent - 1 : 0;
      const end = Math.min(stroke.points.length, start + budget);
      if (end <= stroke.sent) break;
      strokes.push({ points: stroke.points.slice(start, end), width: stroke.width, color: stroke.color });
      budget -= end - start;
      stroke.sent = end;
      if (budget <= 1) break;
    }
    for (let i = outbox.length - 1; i >= 0; i -= 1) {
      if (outbox[i] !== current && outbox[i].sent >= outbox[i].points.length) outbox.splice(i, 1);
    }
    return strokes;
  }

  function flush() {
    if (inFlight || view.loading || !teachingNow()) return;
    const turn = view.turn;
    const payload = { session_id: sessionId, turn, strokes: [] };
    if (clearPending) {
      clearPending = false;
      payload.clear = true;
    } else {
      payload.strokes = nextStrokes();
      if (!payload.strokes.length) return;
      view.strokes.push(...payload.strokes);
    }
    inFlight = true;
    inFlightPoints = payload.strokes.reduce((sum, stroke) => sum + stroke.points.length, 0);
    socket.timeout(10000).emit("sketch", payload, (err, ack) => {
      inFlight = false;
      if (err) view.serverPoints += inFlightPoints; // it may have been stored
      inFlightPoints = 0;
      if (turn !== view.turn) return;
      if (err) {
        showError("The server did not answer; your last lines may not have reached your partner.");
      } else if (ack.ok) {
        view.serverPoints = ack.points;
        hideError(FULL_MESSAGE);
      } else {
        showError(ack.message || "That drawing was refused.");
        // Show what the server holds: the refused lines are not on the partner's pad.
        if (mode() !== "off") load(turn);
      }
      render();
    });
  }
  setInterval(flush, SEND_EVERY_MS);

  // --- tools ------------------------------------------------------------------

  function press(selector, chosen) {
    for (const button of pad.querySelectorAll(selector)) {
      const on = button === chosen;
      button.setAttribute("aria-pressed", String(on));
      // Pen and eraser fill when chosen; swatches and widths get a ring.
      if (button.classList.contains("sketch-tool")) button.classList.toggle("outline", !on);
    }
  }

  for (const button of pad.querySelectorAll(".sketch-tool")) {
    button.addEventListener("click", () => {
      tool.eraser = button.dataset.tool === "eraser";
      press(".sketch-tool", button);
    });
  }
  for (const button of pad.querySelectorAll(".sketch-color")) {
    button.addEventListener("click", () => {
      tool.color = button.dataset.color;
      tool.eraser = false;
      press(".sketch-color", button);
      press(".sketch-tool", pad.querySelector('.sketch-tool[data-tool="pen"]'));
    });
  }
  for (const button of pad.querySelectorAll(".sketch-width")) {
    button.addEventListener("click", () => {
      tool.width = Number(button.dataset.width);
      press(".sketch-width", button);
    });
  }
  $("sketch-take").addEventListener("click", () => claimPen(true));
  $("sketch-clear").addEventListener("click", () => {
    if (mode() !== "draw" || view.loading) return;
    outbox.length = 0;
    current = null;
    view.strokes = [];
    clearPending = true;
    redraw();
    render();
    flush();
  });

  // --- words: heading, hint, the text alternative -------------------------

  // Strokes as people see them: a stroke sent in parts counts once.
  function strokeCount() {
    let count = 0;
    let previous = null;
    for (const stroke of view.strokes) {
      const first = stroke.points[0];
      const last = previous && previous.points[previous.points.length - 1];
      const continues =
        last && previous.color === stroke.color && previous.width === stroke.width && last[0] === first[0] && last[1] === first[1];
      if (!continues) count += 1;
      previous = stroke;
    }
    return count + outbox.filter((s) => s.sent === 0).length;
  }

  function describe(m) {
    const n = strokeCount();
    const strokes = `${n} stroke${n === 1 ? "" : "s"}`;
    const who = teacherName();
    if (view.loading) return "Loading the sketch…";
    if (m === "draw" || m === "elsewhere") return n ? `You have drawn ${strokes}.` : "Nothing drawn yet.";
    if (m === "watch") return n ? `${who} is drawing: ${strokes}.` : `${who} has not drawn anything yet.`;
    return who === "You" ? `Your sketch: ${strokes}.` : `${who}’s sketch: ${strokes}.`;
  }

  function render() {
    const m = mode();
    pad.hidden = m === "off" || (m === "review" && !view.strokes.length);
    pad.dataset.mode = m;
    $("sketch-tools").hidden = m !== "draw";
    $("sketch-elsewhere").hidden = m !== "elsewhere";
    canvas.classList.toggle("drawable", m === "draw");
    const who = teacherName();
    $("sketch-heading").textContent =
      m === "draw" || m === "elsewhere" ? "Draw it from memory" : who === "You" ? "Your sketch" : `${who}’s sketch`;
    const hint = $("sketch-hint");
    hint.hidden = m === "review" || m === "elsewhere";
    hint.textContent =
      m === "draw"
        ? `Sketch what you explain — with a mouse, a pen or your finger. ${partnerName} sees it as you draw.`
        : `${who} can draw here while explaining; you see it as it is drawn.`;
    const status = describe(m);
    let line = status;
    if (m === "draw") {
      const left = MAX_TURN - pointsSoon();
      if (left < 2000) {
        const points = Math.max(0, left);
        line += ` ${points.toLocaleString("en-US")} point${points === 1 ? "" : "s"} left this turn.`;
      }
    }
    if (line !== lastStatus) {
      $("sketch-status").textContent = line;
      lastStatus = line;
    }
    canvas.setAttribute("aria-label", `Sketch pad. ${status}`);
  }

  let errorTimer = null;
  function showError(message) {
    const box = $("sketch-error");
    box.textContent = message;
    box.hidden = false;
    clearTimeout(errorTimer);
    errorTimer = setTimeout(() => {
      box.hidden = true;
    }, 8000);
  }
  function hideError(message) {
    const box = $("sketch-error");
    if (box.textContent === message) box.hidden = true;
  }

  fit();
  redraw();
  claimPen();
}
