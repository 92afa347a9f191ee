// One Socket.IO connection per page for a logged-in user: the server pushes
// notifications to the user's own room; pages (the room) reuse the socket.
import { io } from "../vendor/socket.io/socket.io.esm.min.js";

let socket = null;

// The page's socket, opened on first use (same origin, the login cookie).
export function liveSocket() {
  if (!socket) {
    socket = io({ transports: ["websocket", "polling"] });
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
}

function prependToList(item) {
  const list = document.getElementById("notification-list");
  if (!list) return;
  const entry = document.createElement("li");
  entry.className = "notification unread";
  entry.textContent = item.text;
  list.prepend(entry);
}

// Live notifications: badge, toast, and the list when it is on screen.
export function startNotifications() {
  if (document.body.dataset.live !== "notifications") return;
  liveSocket().on("notification", (item) => {
    bumpUnread();
    showToast(item);
    prependToList(item);
  });
}
