// Live countdowns: <span data-countdown="ISO instant" [data-server-now="ISO"]>.
// The server's clock is the truth: the offset between its "now" at render time
// and this browser's clock is applied to every tick.

function words(ms) {
  const total = Math.max(0, Math.floor(ms / 1000));
  if (total === 0) return "now";
  const days = Math.floor(total / 86400);
  const hours = Math.floor((total % 86400) / 3600);
  const minutes = Math.floor((total % 3600) / 60);
  const seconds = total % 60;
  if (days) return `${days} d ${hours} h`;
  if (hours) return `${hours} h ${String(minutes).padStart(2, "0")} min`;
  return `${minutes}:${String(seconds).padStart(2, "0")}`;
}

// Elements are looked up on every tick: parts of the page may be replaced.
export function startCountdowns() {
  const tick = () => {
    for (const el of document.querySelectorAll("[data-countdown]")) {
      const target = Date.parse(el.dataset.countdown);
      const serverNow = el.dataset.serverNow ? Date.parse(el.dataset.serverNow) : null;
      if (el.dataset.offset === undefined) {
        el.dataset.offset = serverNow === null ? "0" : String(serverNow - Date.now());
      }
      const now = Date.now() + Number(el.dataset.offset);
      el.textContent = words(target - now);
    }
  };
  tick();
  setInterval(tick, 1000);
}
