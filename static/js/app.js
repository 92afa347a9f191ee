// Small progressive enhancements for every page (loaded as an ES module).
import { startCountdowns } from "./countdown.js";
import { startNotifications } from "./live.js";

// Fill empty time-zone fields with the browser's own zone.
function defaultTimezones() {
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  if (!zone) return;
  for (const input of document.querySelectorAll("input[data-default-timezone]")) {
    if (!input.value) input.value = zone;
  }
}

// Ask before destructive actions (forms marked data-confirm).
function confirmDestructive() {
  document.addEventListener("submit", (event) => {
    const form = event.target;
    const question = form.dataset ? form.dataset.confirm : null;
    if (question && !window.confirm(question)) event.preventDefault();
  });
}

// Availability: show the filled windows and one empty row; an "Add another
// window" button reveals the rest. Without JavaScript all six rows show.
function compactAvailability() {
  const box = document.getElementById("availability");
  if (!box) return;
  const isEmpty = (row) =>
    [...row.querySelectorAll("input")].every((input) =>
      input.type === "checkbox" ? !input.checked : !input.value,
    );
  const hidden = [];
  let emptyShown = false;
  for (const row of box.querySelectorAll(".window-row")) {
    if (!isEmpty(row)) continue;
    if (emptyShown) {
      row.hidden = true;
      hidden.push(row);
    } else {
      emptyShown = true;
    }
  }
  if (!hidden.length) return;
  const button = document.createElement("button");
  button.type = "button";
  button.className = "secondary outline add-window";
  button.textContent = "Add another window";
  button.addEventListener("click", () => {
    const row = hidden.shift();
    row.hidden = false;
    row.querySelector("input").focus();
    if (!hidden.length) button.remove();
  });
  box.append(button);
}

defaultTimezones();
confirmDestructive();
compactAvailability();
startNotifications();
startCountdowns();
