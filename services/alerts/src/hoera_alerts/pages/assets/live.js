// Live updates (R25): the server sends the re-rendered figures and alerts; nothing else runs here.
// A file, not an inline script, so the pages' Content-Security-Policy allows no inline script at all.
(function () {
  var live = document.getElementById("live"), status = document.getElementById("live-status");
  if (!live || !status) { return; }
  var source = new EventSource(live.dataset.stream);
  source.addEventListener("update", function (event) { live.innerHTML = event.data; });
  source.onopen = function () { status.className = "live-status on"; status.textContent = status.dataset.live; };
  source.onerror = function () {
    status.className = "live-status off"; status.textContent = status.dataset.offline;
    // The browser gives up only when the stream is refused (the session ended): reloading the page
    // then leads to the sign-in page, and back here afterwards.
    if (source.readyState === EventSource.CLOSED) { setTimeout(function () { location.reload(); }, 3000); }
  };
})();
