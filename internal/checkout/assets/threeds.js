// Runs on the page the issuer's 3-D Secure step returns to. Inside the
// checkout form's challenge frame it tells the form (same origin), which
// asks the gateway for the outcome; at the top level it goes on to the
// merchant's return or cancel URL.
(function () {
  'use strict';
  var page = document.getElementById('message');
  if (window.parent !== window) {
    window.parent.postMessage({ type: 'kassa.3ds-complete' }, window.location.origin);
    return;
  }
  var target = page && page.getAttribute('data-target');
  if (target) { window.location.replace(target); }
})();
