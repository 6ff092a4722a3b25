// Live provisioning progress over server-sent events (see instances/progress_views.py).
// The panel #progress-live carries data-stream="<url>?seen=<state version>" while the job runs.
// Each `progress` event holds the re-rendered panel, whose data-stream names the version just
// shown (so a reconnect never misses a change) or is gone once the job has finished.
// The server ends each stream after a bounded wait with `again` (milliseconds to wait before
// reconnecting); any other end is an error, retried with a growing pause.
// Without JavaScript the page refreshes itself instead (<noscript> in progress.html).
(function () {
  "use strict";

  const FIRST_PAUSE_MS = 1000;
  const LONGEST_PAUSE_MS = 30000;
  let source = null;
  let timer = null;
  let pause = FIRST_PAUSE_MS;

  function panel() {
    return document.getElementById("progress-live");
  }

  function swap(html) {
    const current = panel();
    if (window.htmx) {
      // htmx's swap keeps focus and fires htmx:afterSwap, which portal.js uses for relative times.
      window.htmx.swap(current, html, { swapStyle: "outerHTML", swapDelay: 0, settleDelay: 0 });
    } else {
      const template = document.createElement("template");
      template.innerHTML = html.trim();
      current.replaceWith(template.content);
    }
  }

  function reconnectIn(ms) {
    clearTimeout(timer);
    timer = setTimeout(connect, ms);
  }

  function disconnect() {
    clearTimeout(timer);
    if (source) {
      source.close();
      source = null;
    }
  }

  function connect() {
    disconnect();
    const url = panel() && panel().dataset.stream;
    if (!url || document.hidden) return; // finished, or a background tab (resumed when shown)
    let again = null;
    source = new EventSource(url);
    source.addEventListener("progress", function (event) {
      pause = FIRST_PAUSE_MS;
      swap(event.data);
      if (!panel() || !panel().dataset.stream) disconnect(); // finished: nothing more will change
    });
    source.addEventListener("again", function (event) {
      again = Number(event.data) || 0;
    });
    source.addEventListener("gone", function () {
      disconnect();
      window.location.reload(); // the instance was deleted: the page explains it
    });
    source.addEventListener("error", function () {
      // Also fired when the server ends a stream: take over from EventSource's own retry.
      disconnect();
      if (again !== null) {
        pause = FIRST_PAUSE_MS;
        reconnectIn(again);
      } else {
        reconnectIn(pause);
        pause = Math.min(pause * 2, LONGEST_PAUSE_MS);
      }
    });
  }

  // A browser allows about six connections per server over HTTP/1.1: a hidden tab gives its
  // stream back, so several open progress pages never block the others' requests.
  document.addEventListener("visibilitychange", function () {
    if (document.hidden) disconnect();
    else if (!source) connect();
  });

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", connect);
  else connect();
})();
