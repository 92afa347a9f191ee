// One Socket.IO connection per page for a logged-in user: the server pushes
// notifications to the user's own room; pages (the room) reuse the socket.
import { io } from "../vendor/socket.io/socket.io.esm.min.js";

let socket = null;

// The page's socket, opened on first use (same origin, the login cookie).
// In a session's room it names the session: behind nginx both partners'
// sockets then reach the same web process (docs/deploy.md, "Room affinity").
export function liveSocket() {
  if (!socket) {
    const room = document.getElementById("room");
    const options = { transports: ["websocket", "polling"] };
    if (room && room.dataset.sessionId) options.query = { room: room.dataset.sessionId };
    socket = io(options);
  }
  return socket;
}

function showToast(item) {
  const box = document.getElementById("toasts");
  if (!box) return;
  const toast = document.createElement("p");
  toast.className = "toast";
  if (item.url) {
    const link = document.createElement("a");
    link.href = item.url;
    link.textContent = item.text;
    toast.append(link);
  } else {
    toast.textContent = item.text;
  }
  box.append(toast);
  setTimeout(() => toast.remove(), 12000);
}

function bumpUnread() {
  const badge = document.getElementById("unread-count");
  if (!badge) return;
  badge.textContent = String((parseInt(badge.textContent, 10) || 0) + 1);
  badge.hidden = false;
  syncMenuCount();
}

// The phone menu's button shows what its badges add up to.
function syncMenuCount() {
  const total = document.getElementById("menu-count");
  if (!total) return;
  const count = (id) => {
    const badge = document.getElementById(id);
    return badge && !badge.hidden ? parseInt(badge.textContent, 10) || 0 : 0;
  };
  const sum = count("incoming-count") + count("unread-count");
  total.textContent = String(sum);
  total.hidden = sum === 0;
}

// The same markup as templates/notifications.html renders for one item.
function prependToList(item) {
  const list = document.getElementById("notification-list");
  if (!list) return;
  const token = document.querySelector("input[name=csrf_token]");
  const entry = document.createElement("li");
  entry.className = "notification unread";
  const form = document.createElement("form");
  form.method = "post";
  form.className = "inline";
  form.action = list.dataset.openUrl.replace(/\/0\/open$/, `/${item.id}/open`);
  if (token) {
    const hidden = document.createElement("input");
    hidden.type = "hidden";
    hidden.name = "csrf_token";
    hidden.value = token.value;
    form.append(hidden);
  }
  const button = document.createElement("button");
  button.type = "submit";
  button.className = "link";
  const label = document.createElement("span");
  label.className = "visually-hidden";
  label.textContent = "Unread: ";
  button.append(label, document.createTextNode(item.text));
  form.append(button);
  const when = document.createElement("time");
  when.dateTime = item.created_at;
  when.textContent = new Date(item.created_at).toLocaleString([], {
    weekday: "short", day: "2-digit", month: "short", hour: "2-digit", minute: "2-digit",
  });
  const small = document.createElement("small");
  small.className = "muted";
  small.append(when);
  entry.append(form, small);
  list.prepend(entry);
  document.getElementById("no-notifications")?.remove();
}

// Kinds that change what the dashboard shows about the next session.
const SCHEDULE_KINDS = new Set([
  "request_accepted", "auto_matched", "schedule_changed", "partnership_paused",
  "partnership_resumed", "partnership_ended", "session_open",
]);

// Kinds that change the pending requests (the dashboard's section, the menu's count).
const REQUEST_KINDS = new Set(["request_received", "request_accepted", "auto_matched"]);

// Refresh the parts a push changed in place (no reload, toasts stay): the
// Requests menu item on every page; the dashboard's schedule cards and
// requests section where they are shown. The dashboard's HTML has them all.
async function refreshLive(kind) {
  const ids = [];
  if (REQUEST_KINDS.has(kind)) ids.push("nav-requests", "requests-section");
  if (SCHEDULE_KINDS.has(kind)) ids.push("next-session", "partnership-card");
  if (!ids.some((id) => document.getElementById(id))) return;
  const response = await fetch("/", { credentials: "same-origin" });
  if (!response.ok) return;
  const fresh = new DOMParser().parseFromString(await response.text(), "text/html");
  for (const id of ids) {
    const now = document.getElementById(id);
    const next = fresh.getElementById(id);
    if (now && next) now.replaceWith(next);
  }
  syncMenuCount();
  document.dispatchEvent(new CustomEvent("ally:content-replaced"));
}

// Live notifications: badge, toast, and the list when it is on screen.
export function startNotifications() {
  if (document.body.dataset.live !== "notifications") return;
  liveSocket().on("notification", (item) => {
    bumpUnread();
    // In a session's room the page already shows what happens there.
    const room = document.getElementById("room");
    const here = room && item.url && item.url.startsWith(`/sessions/${room.dataset.sessionId}/`);
    if (!here) showToast(item);
    prependToList(item);
    if (SCHEDULE_KINDS.has(item.kind) || REQUEST_KINDS.has(item.kind)) refreshLive(item.kind);
  });
}
