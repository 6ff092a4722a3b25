// Small progressive enhancements; every page works without them.
(function () {
  "use strict";

  // Copy buttons: <button data-copy="#target-id"> or data-copy-text="value".
  document.addEventListener("click", function (event) {
    const button = event.target.closest("[data-copy], [data-copy-text]");
    if (!button) return;
    const text = button.dataset.copyText ?? document.querySelector(button.dataset.copy)?.textContent.trim() ?? "";
    const done = function () {
      const label = button.textContent;
      button.textContent = "Copied";
      button.setAttribute("aria-live", "polite");
      setTimeout(function () { button.textContent = label; }, 1500);
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done);
    } else {
      const area = document.createElement("textarea");
      area.value = text; document.body.appendChild(area); area.select();
      document.execCommand("copy"); area.remove(); done();
    }
  });

  // Relative dates: <time datetime="ISO">absolute</time> gets "3 minutes ago" and keeps the absolute as title.
  const units = [["year", 31536000], ["month", 2592000], ["week", 604800], ["day", 86400], ["hour", 3600], ["minute", 60], ["second", 1]];
  const rtf = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });
  function relative(iso) {
    const seconds = (new Date(iso).getTime() - Date.now()) / 1000;
    for (const [unit, size] of units) {
      if (Math.abs(seconds) >= size || unit === "second") return rtf.format(Math.round(seconds / size), unit);
    }
  }
  function refreshTimes(root) {
    root.querySelectorAll("time[data-relative]").forEach(function (el) {
      if (!el.title) el.title = el.textContent.trim();
      el.textContent = relative(el.getAttribute("datetime"));
    });
  }
  document.addEventListener("DOMContentLoaded", function () { refreshTimes(document); });
  document.addEventListener("htmx:afterSwap", function (event) { refreshTimes(event.target); });
  setInterval(function () { refreshTimes(document); }, 30000);

  // Options that only matter while a checkbox is ticked:
  // <input type="checkbox" data-controls="#options"> disables every field inside #options while unticked.
  // The server ignores those fields then too, so the page works the same without this.
  function syncControlled(box) {
    document.querySelectorAll(box.dataset.controls).forEach(function (area) {
      area.classList.toggle("is-disabled", !box.checked);
      area.querySelectorAll("input, select, textarea").forEach(function (field) { field.disabled = !box.checked; });
    });
  }

  // Notes that belong to one choice: <div data-shown-when="auth_type=custom" hidden> shows while the
  // radio button auth_type=custom is picked. The server renders the right state for the saved choice.
  function syncShownWhen(name) {
    document.querySelectorAll("[data-shown-when^='" + name + "=']").forEach(function (el) {
      const wanted = el.dataset.shownWhen.slice(name.length + 1);
      const picked = document.querySelector("input[name='" + name + "']:checked");
      el.hidden = !picked || picked.value !== wanted;
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("input[data-controls]").forEach(syncControlled);
  });
  document.addEventListener("change", function (event) {
    const target = event.target;
    if (target.matches("input[data-controls]")) syncControlled(target);
    if (target.matches("input[type=radio]")) syncShownWhen(target.name);
  });

  // Confirm dangerous actions: <form data-confirm="Delete this instance?">
  document.addEventListener("submit", function (event) {
    const message = event.target.dataset.confirm;
    if (message && !window.confirm(message)) event.preventDefault();
  });

  // Menus made of <details> (the account menu): Escape closes the open one and puts the focus back
  // on its button, as a keyboard user expects of a menu; a click elsewhere closes it too.
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") return;
    const menu = document.querySelector("details.user-menu[open]");
    if (!menu) return;
    menu.open = false;
    menu.querySelector("summary").focus();
  });
  document.addEventListener("click", function (event) {
    document.querySelectorAll("details.user-menu[open]").forEach(function (menu) {
      if (!menu.contains(event.target)) menu.open = false;
    });
  });
})();
