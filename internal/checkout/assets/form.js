// Kassa payment form. Served from the gateway's origin only; card data is
// sent from here to the gateway (same origin) and never to the page that
// embeds the form. The merchant page learns only the signed result, by
// postMessage to its exact origin.
(function () {
  'use strict';
  var cfg = JSON.parse(document.getElementById('kassa-config').textContent);
  var M = cfg.messages;
  var framed = (cfg.mode === 'embedded' || cfg.mode === 'popup') && window.parent !== window && !!cfg.origin;
  var $ = function (id) { return document.getElementById(id); };
  var form = $('card-form'), number = $('card-number'), expiry = $('card-expiry'), cvc = $('card-cvc'),
    holder = $('card-holder'), brandEl = $('card-brand'), payButton = $('pay-button'), formError = $('form-error'),
    challenge = $('challenge'), challengeFrame = $('challenge-frame'), result = $('result'),
    cancelButton = $('cancel-button'), checkout = $('checkout');
  var busy = false, finishedState = null;

  function toParent(msg) { if (framed) { window.parent.postMessage(msg, cfg.origin); } }

  // ---- card rules, as the gateway checks them again (card.go)
  var brands = [
    ['amex', /^3[47]/, [15], 'American Express'],
    ['discover', /^(6011|64[4-9]|65|622(12[6-9]|1[3-9]\d|[2-8]\d\d|9[01]\d|92[0-5]))/, [16, 19], 'Discover'],
    ['diners', /^(30[0-5]|36|3[89])/, [14, 16, 19], 'Diners Club'],
    ['jcb', /^35(2[89]|[3-8]\d)/, [16, 17, 18, 19], 'JCB'],
    ['unionpay', /^62/, [16, 17, 18, 19], 'UnionPay'],
    ['mastercard', /^(5[1-5]|222[1-9]|22[3-9]\d|2[3-6]\d\d|27[01]\d|2720)/, [16], 'Mastercard'],
    ['visa', /^4/, [13, 16, 19], 'Visa']
  ];
  function brandOf(d) {
    for (var i = 0; i < brands.length; i++) { if (brands[i][1].test(d)) { return brands[i]; } }
    return null;
  }
  function luhn(d) {
    var sum = 0, dbl = false;
    for (var i = d.length - 1; i >= 0; i--) {
      var n = d.charCodeAt(i) - 48;
      if (dbl) { n *= 2; if (n > 9) { n -= 9; } }
      sum += n; dbl = !dbl;
    }
    return d.length > 1 && sum % 10 === 0;
  }
  function digits(s) { return s.replace(/\D/g, ''); }
  function cvcLength() { var b = brandOf(digits(number.value)); return b && b[0] === 'amex' ? 4 : 3; }

  // ---- formatting as the shopper types
  function groupNumber(d) {
    var b = brandOf(d), groups = b && b[0] === 'amex' ? [4, 6, 5] : [4, 4, 4, 4, 3], out = [], i = 0;
    for (var g = 0; g < groups.length && i < d.length; g++) { out.push(d.slice(i, i + groups[g])); i += groups[g]; }
    return out.join(' ');
  }
  function reformat(input, fmt) {
    var caretDigits = digits(input.value.slice(0, input.selectionStart || 0)).length;
    var atEnd = (input.selectionStart || 0) >= input.value.length;
    input.value = fmt(digits(input.value));
    if (document.activeElement === input && !atEnd) {
      var pos = 0, seen = 0;
      while (pos < input.value.length && seen < caretDigits) { if (/\d/.test(input.value[pos])) { seen++; } pos++; }
      input.setSelectionRange(pos, pos);
    }
  }
  number.addEventListener('input', function () {
    reformat(number, function (d) { return groupNumber(d.slice(0, 19)); });
    var b = brandOf(digits(number.value));
    brandEl.textContent = b ? b[3] : '';
    cvc.maxLength = cvcLength();
    clearField(number);
  });
  expiry.addEventListener('input', function () {
    var v = expiry.value, d = digits(v);
    // Browser autofill may give MM/YYYY.
    var m = /^\s*(\d{1,2})\s*\/\s*(\d{4})\s*$/.exec(v);
    if (m) { d = ('0' + m[1]).slice(-2) + m[2].slice(2); }
    if (d.length === 1 && d > '1') { d = '0' + d; }
    d = d.slice(0, 4);
    expiry.value = d.length > 2 ? d.slice(0, 2) + ' / ' + d.slice(2) : d;
    clearField(expiry);
  });
  cvc.addEventListener('input', function () { cvc.value = digits(cvc.value).slice(0, 4); clearField(cvc); });
  holder.addEventListener('input', function () { clearField(holder); });

  // ---- checks in the browser (the gateway checks again)
  function checkNumber() {
    var d = digits(number.value), b = brandOf(d);
    if (!d) { return M['err.number_required']; }
    if (d.length < 12 || d.length > 19) { return M['err.invalid_number']; }
    if (!luhn(d)) { return M['err.incorrect_number']; }
    if (b && b[2].indexOf(d.length) < 0) { return M['err.invalid_number']; }
    return '';
  }
  function parseExpiry() {
    var d = digits(expiry.value);
    if (d.length !== 4) { return null; }
    return { month: parseInt(d.slice(0, 2), 10), year: 2000 + parseInt(d.slice(2), 10) };
  }
  function checkExpiry() {
    var e = parseExpiry();
    if (!e) { return M['err.expiry_required']; }
    if (e.month < 1 || e.month > 12) { return M['err.invalid_expiry_month']; }
    var now = new Date(), y = now.getFullYear(), mo = now.getMonth() + 1;
    if (e.year < y || (e.year === y && e.month < mo)) { return M['err.expired_card']; }
    return '';
  }
  function checkCVC() {
    var d = digits(cvc.value), n = cvcLength();
    if (!d) { return M['err.cvc_required']; }
    if (d.length !== n) { return M['err.invalid_cvc'].replace('%d', String(n)); }
    return '';
  }
  var checks = [[number, checkNumber], [expiry, checkExpiry], [cvc, checkCVC]];
  function setField(input, message) {
    input.setAttribute('aria-invalid', message ? 'true' : 'false');
    $(input.id + '-error').textContent = message;
  }
  function clearField(input) { if (input.getAttribute('aria-invalid') === 'true') { setField(input, ''); } }
  checks.forEach(function (c) {
    c[0].addEventListener('blur', function () { if (c[0].value) { setField(c[0], c[1]()); } });
  });
  function validate() {
    var first = null;
    checks.forEach(function (c) {
      var m = c[1]();
      setField(c[0], m);
      if (m && !first) { first = c[0]; }
    });
    if (first) { first.focus(); }
    return !first;
  }

  // ---- talking to the gateway
  function post(path, body) {
    body.client_secret = cfg.client_secret;
    body.locale = cfg.locale;
    return fetch(cfg.base + path, {
      method: 'POST', credentials: 'same-origin', cache: 'no-store',
      headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body)
    }).then(function (r) {
      return r.json().then(function (j) {
        if (!r.ok) { throw new Error((j && j.error && j.error.message) || M['err.generic']); }
        return j;
      }, function () { throw new Error(M['err.generic']); });
    }, function () { throw new Error(M['err.network']); });
  }
  function setBusy(b) {
    busy = b;
    payButton.disabled = b;
    payButton.setAttribute('aria-busy', b ? 'true' : 'false');
    if (b) { payButton.dataset.label = payButton.textContent; payButton.textContent = M.paying; }
    else if (payButton.dataset.label) { payButton.textContent = payButton.dataset.label; }
  }
  function showFormError(message) {
    formError.textContent = message;
    formError.hidden = !message;
  }
  function fail(err) {
    setBusy(false);
    showFormError(err.message || M['err.generic']);
  }

  form.addEventListener('submit', function (ev) {
    ev.preventDefault();
    if (busy) { return; }
    showFormError('');
    if (!validate()) { return; }
    var e = parseExpiry();
    setBusy(true);
    post('/checkout/v1/confirm', {
      card: { number: digits(number.value), exp_month: e.month, exp_year: e.year, cvc: digits(cvc.value), holder_name: holder.value.trim() }
    }).then(apply, fail);
  });

  function cancel() {
    if (busy || finishedState) { if (finishedState) { toParent(finishedState.result); } return; }
    setBusy(true);
    post('/checkout/v1/cancel', {}).then(apply, fail);
  }
  cancelButton.addEventListener('click', cancel);

  window.addEventListener('message', function (ev) {
    var d = ev.data || {};
    if (framed && ev.source === window.parent && ev.origin === cfg.origin && d.type === 'kassa.cancel') {
      cancel();
    } else if (ev.source === challengeFrame.contentWindow && ev.origin === window.location.origin && d.type === 'kassa.3ds-complete') {
      setBusy(true);
      post('/checkout/v1/status', {}).then(apply, fail);
    }
  });

  // ---- states
  function apply(s) {
    setBusy(false);
    checkout.setAttribute('data-state', s.state);
    checkout.setAttribute('data-status', s.status);
    form.hidden = s.state !== 'form';
    challenge.hidden = s.state !== 'action';
    result.hidden = s.state !== 'done' && s.state !== 'expired';
    cancelButton.hidden = s.state !== 'form';
    showFormError('');
    if (s.state === 'form') {
      challengeFrame.removeAttribute('src');
      if (s.error) {
        var input = { number: number, expiry: expiry, cvc: cvc, holder: holder }[s.error.field];
        if (input) { setField(input, s.error.message); input.focus(); }
        else { showFormError(s.error.message); cvc.value = ''; number.focus(); }
      }
    } else if (s.state === 'action') {
      if (challengeFrame.getAttribute('src') !== s.action_url) { challengeFrame.setAttribute('src', s.action_url); }
      $('challenge-title').setAttribute('tabindex', '-1');
      $('challenge-title').focus();
    } else {
      finishedState = s;
      result.setAttribute('data-status', s.status);
      $('result-title').textContent = s.title || '';
      $('result-text').textContent = s.text || '';
      $('result-title').focus();
      var back = $('result-return');
      if (cfg.mode === 'redirect') {
        back.href = s.return_url;
        back.hidden = false;
        if (s.state === 'done') {
          $('result-text').textContent = M.redirecting;
          window.location.assign(s.return_url);
        }
      }
      toParent(s.result);
    }
    resized();
  }

  // ---- the embedding page sizes the iframe to the form
  var lastHeight = 0;
  function resized() {
    if (!framed) { return; }
    var h = Math.ceil(checkout.getBoundingClientRect().height) + 4;
    if (h !== lastHeight) { lastHeight = h; toParent({ type: 'kassa.resize', height: h }); }
  }
  if (window.ResizeObserver) { new ResizeObserver(resized).observe(checkout); }
  window.addEventListener('load', resized);

  toParent({ type: 'kassa.ready' });
  apply(cfg.state);
})();
