// Tabs: <div data-tabs> with a role=tablist of role=tab buttons, each aria-controls its role=tabpanel.
// Without this script every panel shows. Arrow keys, Home and End move between tabs (WAI-ARIA APG tabs pattern).
(function () {
  "use strict";
  function select(tabs, tab) {
    tabs.forEach(function (other) {
      const on = other === tab;
      other.setAttribute("aria-selected", on ? "true" : "false");
      other.tabIndex = on ? 0 : -1;
      document.getElementById(other.getAttribute("aria-controls")).hidden = !on;
    });
  }
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-tabs]").forEach(function (root) {
      const tabs = Array.from(root.querySelectorAll('[role="tab"]'));
      select(tabs, tabs.find(function (t) { return t.getAttribute("aria-selected") === "true"; }) || tabs[0]);
      tabs.forEach(function (tab, index) {
        tab.addEventListener("click", function () { select(tabs, tab); });
        tab.addEventListener("keydown", function (event) {
          const moves = { ArrowRight: index + 1, ArrowLeft: index - 1, Home: 0, End: tabs.length - 1 };
          if (!(event.key in moves)) return;
          event.preventDefault();
          const next = tabs[(moves[event.key] + tabs.length) % tabs.length];
          select(tabs, next);
          next.focus();
        });
      });
    });
  });
})();
