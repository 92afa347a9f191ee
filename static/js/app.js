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

// Busy state: a form that really submits (nothing cancelled it) disables its
// button and marks it aria-busy until the next page comes. Disabled a tick
// later, so the button's own name and value are still sent.
export function markBusy(button) {
  if (!button) return () => {};
  let finished = false;
  button.setAttribute("aria-busy", "true");
  setTimeout(() => {
    if (!finished) button.disabled = true;
  });
  return () => {
    finished = true;
    button.removeAttribute("aria-busy");
    button.disabled = false;
  };
}

function busyOnSubmit() {
  // Registered last of the submit listeners on document, so a confirm that
  // said no (or a script that handles the form itself) has already spoken.
  document.addEventListener("submit", (event) => {
    if (event.defaultPrevented) return;
    const form = event.target;
    markBusy(event.submitter || form.querySelector("button[type=submit], button:not([type])"));
  });
  // Back to a page kept in the browser's cache: its buttons work again.
  window.addEventListener("pageshow", (event) => {
    if (!event.persisted) return;
    for (const button of document.querySelectorAll("button[aria-busy=true]")) {
      button.removeAttribute("aria-busy");
      button.disabled = false;
    }
  });
}

// Phones: the main menu folds behind a "Menu" disclosure button (CSS shows
// the button only on narrow screens). Escape closes it and returns focus.
function collapsibleMenu() {
  const nav = document.getElementById("main-nav");
  const button = nav && nav.querySelector(".menu-toggle");
  if (!button) return;
  const set = (open) => {
    nav.classList.toggle("open", open);
    button.setAttribute("aria-expanded", String(open));
  };
  button.hidden = false;
  nav.classList.add("js-menu");
  button.addEventListener("click", () => set(!nav.classList.contains("open")));
  nav.addEventListener("keydown", (event) => {
    if (event.key !== "Escape" || !nav.classList.contains("open")) return;
    set(false);
    button.focus();
  });
}

collapsibleMenu();
defaultTimezones();
confirmDestructive();
busyOnSubmit();
compactAvailability();
startNotifications();
startCountdowns();
