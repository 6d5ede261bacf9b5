// Dual Power: the only script. Pages work without it; it adds live updates (server-sent
// events: when the node stores something, re-fetch this page and swap the parts marked
// data-live whose content changed, leaving forms alone), "3 min ago" times, copy buttons and
// scanning an invite's QR code with the camera where the browser can.
(function () {
  "use strict";
  function ago(el) {
    var t = Date.parse(el.getAttribute("datetime"));
    if (isNaN(t)) return;
    var s = Math.round((Date.now() - t) / 1000);
    var a = Math.abs(s), text = null;
    if (a < 45) text = s >= 0 ? "just now" : "in a moment";
    else if (a < 3600) text = Math.round(a / 60) + " min";
    else if (a < 172800) text = Math.round(a / 3600) + " h";
    else if (s < 0) text = Math.round(a / 86400) + " days";
    if (text && a >= 45) text = s >= 0 ? text + " ago" : "in " + text;
    if (text) { el.title = el.textContent.trim() || el.title; el.textContent = text; }
  }
  function decorate(root) {
    root.querySelectorAll("time[datetime]:not([data-exact])").forEach(ago);
  }
  var pending = null, busy = false;
  function refresh() {
    if (busy) { pending = pending || setTimeout(refresh, 200); return; }
    busy = true; pending = null;
    fetch(location.href, { credentials: "same-origin", headers: { "X-Live": "1" } })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (!html) return;
        var doc = new DOMParser().parseFromString(html, "text/html");
        document.querySelectorAll("[data-live]").forEach(function (el) {
          var fresh = doc.querySelector('[data-live="' + el.getAttribute("data-live") + '"]');
          if (fresh && fresh.innerHTML !== el.innerHTML) {
            el.innerHTML = fresh.innerHTML;
            decorate(el);
          }
        });
      })
      .catch(function () {})
      .finally(function () { busy = false; });
  }
  var source = null;
  function live() {
    if (!document.querySelector("[data-live]") || !window.EventSource || source) return;
    var status = document.getElementById("live-status");
    source = new EventSource("/events");
    source.addEventListener("changed", function () {
      if (!pending) pending = setTimeout(refresh, 120);
    });
    source.onopen = function () { if (status) status.textContent = "live"; };
    source.onerror = function () { if (status) status.textContent = "reconnecting…"; };
  }
  // A browser allows few connections per server, and an open event stream holds one: close
  // it as the page goes away (or into the back/forward cache), reopen it if the page returns.
  window.addEventListener("pagehide", function () {
    if (source) { source.close(); source = null; }
  });
  window.addEventListener("pageshow", function (e) {
    if (e.persisted) { live(); refresh(); }
  });
  function copyButtons() {
    document.querySelectorAll("[data-copy]").forEach(function (b) {
      b.hidden = false;
      b.addEventListener("click", function () {
        var src = document.getElementById(b.getAttribute("data-copy"));
        if (src && navigator.clipboard) {
          navigator.clipboard.writeText(src.textContent.trim()).then(function () { b.textContent = "Copied"; });
        }
      });
    });
  }
  function scanner() {
    var b = document.getElementById("scan");
    if (!b || !("BarcodeDetector" in window) || !navigator.mediaDevices) return;
    b.hidden = false;
    b.addEventListener("click", function () {
      var video = document.getElementById("scan-video");
      var input = document.getElementById("code");
      var detector = new window.BarcodeDetector({ formats: ["qr_code"] });
      navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" } }).then(function (stream) {
        video.hidden = false; video.srcObject = stream; video.play();
        var stop = function () { stream.getTracks().forEach(function (t) { t.stop(); }); video.hidden = true; };
        var tick = function () {
          detector.detect(video).then(function (codes) {
            if (codes.length) { input.value = codes[0].rawValue; stop(); input.focus(); }
            else requestAnimationFrame(tick);
          }).catch(stop);
        };
        tick();
      }).catch(function () { b.textContent = "Camera not available"; });
    });
  }
  document.addEventListener("DOMContentLoaded", function () {
    decorate(document); live(); copyButtons(); scanner();
  });
})();
