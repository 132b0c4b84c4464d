// The demo shop's page script: what a merchant writes to use Kassa's checkout.
(function () {
  'use strict';
  var kassa = Kassa(document.body.dataset.pk);
  var results = window.kassaResults = [];
  var $ = function (id) { return document.getElementById(id); };

  function show(result, check) {
    var box = $('result');
    box.hidden = false;
    box.dataset.status = result.status;
    box.dataset.verified = String(!!check.verified);
    box.dataset.payment = result.payment_id || '';
    $('result-payment').textContent = result.payment_id || '';
    $('result-status').textContent = result.status;
    $('result-signature').textContent = check.verified ? "verified by the shop's server ✓" : 'NOT verified ✗';
    $('result-api-status').textContent = check.api_status || '';
  }

  function onResult(result) {
    results.push(result);
    // Never trust the browser: the shop's server checks the signature.
    fetch('/api/verify', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(result) })
      .then(function (r) { return r.json(); })
      .then(function (check) { show(result, check); }, function () { show(result, { verified: false }); });
  }

  $('pay').addEventListener('click', function () {
    var mode = document.querySelector('input[name=mode]:checked').value;
    var locale = $('locale').value;
    $('pay').disabled = true;
    $('result').hidden = true;
    fetch('/api/payments', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ mode: mode, locale: locale }) })
      .then(function (r) { if (!r.ok) { throw new Error('could not create the payment'); } return r.json(); })
      .then(function (p) {
        window.kassaPayment = p;
        $('pay-container').textContent = '';
        window.kassaCheckout = kassa.mount('#pay-container', {
          clientSecret: p.client_secret, mode: mode, locale: locale, onResult: onResult
        });
      })
      .catch(function (e) { alert(e.message); })
      .finally(function () { $('pay').disabled = false; });
  });
})();
