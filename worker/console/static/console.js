// The console's one script (no build step): live countdowns, and the page's live parts kept up to date.
// Pages work without it; with it, a page with data-live="<url>" asks that URL for JSON every 2 s and replaces
// each part whose key changed. A session that ended sends the browser to the login page.
'use strict';
(function () {
  var POLL_MS = 2000;

  function left(ms) {
    if (ms <= 0) return 'due now';
    var s = Math.ceil(ms / 1000);
    var h = Math.floor(s / 3600);
    var m = Math.floor((s % 3600) / 60);
    var parts = [];
    if (h) parts.push(h + ' h');
    if (h || m) parts.push(m + ' min');
    parts.push((s % 60) + ' s');
    return 'in ' + parts.join(' ');
  }

  function tick() {
    var now = Date.now();
    document.querySelectorAll('[data-countdown]').forEach(function (el) {
      var at = Date.parse(el.getAttribute('data-countdown'));
      if (!isNaN(at)) el.textContent = left(at - now) + ' (' + el.getAttribute('data-countdown') + ')';
    });
  }

  function say(text) {
    var el = document.getElementById('live');
    if (el) el.textContent = text;
  }

  var busy = false;
  function poll() {
    if (busy || document.hidden) return;
    busy = true;
    fetch(document.body.getAttribute('data-live'), { headers: { accept: 'application/json' }, credentials: 'same-origin' })
      .then(function (res) {
        return res.json().then(function (doc) {
          if (res.status === 401 && doc.login) {
            location.assign(doc.login);
            return;
          }
          if (!res.ok) throw new Error(doc.error || 'HTTP ' + res.status);
          var changed = 0;
          doc.parts.forEach(function (part) {
            var el = document.getElementById(part.id);
            if (!el || el.getAttribute('data-key') === part.key) return;
            var t = document.createElement('template');
            t.innerHTML = part.html;
            el.replaceWith(t.content);
            changed++;
          });
          tick();
          say('Live: updated ' + new Date().toLocaleTimeString() + (changed ? ' (' + changed + ' part' + (changed > 1 ? 's' : '') + ' changed)' : ''));
        });
      })
      .catch(function (err) {
        say('Live updates paused: ' + err.message + ' (retrying)');
      })
      .finally(function () {
        busy = false;
      });
  }

  document.addEventListener('DOMContentLoaded', function () {
    tick();
    setInterval(tick, 1000);
    if (document.body.hasAttribute('data-live')) setInterval(poll, POLL_MS);
  });
})();
