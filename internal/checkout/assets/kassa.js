/*! Kassa checkout SDK v1. No dependencies; load it with a plain script tag:
 *
 *   <script src="https://GATEWAY/js/v1/kassa.js"></script>
 *   const kassa = Kassa('pk_test_…');
 *   kassa.mount('#pay', {
 *     clientSecret,                      // from your server: POST /v1/payments
 *     mode: 'embedded',                  // 'embedded' | 'popup' | 'redirect'
 *     locale: 'es',                      // 'en' | 'es' | 'pt'
 *     onResult(result) { … }            // {type:'kassa.result', payment_id, status, signature}
 *   });
 *
 * Card data is typed into the gateway's own page (an iframe from the
 * gateway's origin, or the hosted page); this script never sees it. Verify
 * result.signature on your server before trusting the status.
 */
(function (global) {
  'use strict';
  var script = document.currentScript;
  var src = script && script.src ? new URL(script.src, document.baseURI) : null;
  var gatewayOrigin = src ? src.origin : '';
  var gatewayBase = src ? src.href.replace(/\/js\/v1\/kassa\.js(\?.*)?$/, '') : '';

  function el(tag, styles, attrs) {
    var e = document.createElement(tag);
    var k;
    for (k in styles || {}) { e.style.setProperty(k, styles[k]); }
    for (k in attrs || {}) { e.setAttribute(k, attrs[k]); }
    return e;
  }

  function Kassa(publishableKey, options) {
    if (!(this instanceof Kassa)) { return new Kassa(publishableKey, options); }
    if (typeof publishableKey !== 'string' || publishableKey.indexOf('pk_') !== 0) {
      throw new Error('Kassa: pass your publishable key (pk_…), never the secret key');
    }
    this.publishableKey = publishableKey;
    this.base = (options && options.gatewayURL) ? String(options.gatewayURL).replace(/\/$/, '') : gatewayBase;
    this.origin = new URL(this.base).origin;
  }

  Kassa.prototype.formURL = function (clientSecret, mode, locale) {
    var q = 'locale=' + encodeURIComponent(locale || '');
    if (mode !== 'redirect') {
      q += '&mode=' + mode + '&origin=' + encodeURIComponent(window.location.origin) +
        '&pk=' + encodeURIComponent(this.publishableKey);
    }
    return this.base + '/pay/' + encodeURIComponent(clientSecret) + '?' + q;
  };

  // mount shows the payment form for one payment and returns a handle with
  // unmount(). onResult is called once, with the gateway's signed result.
  Kassa.prototype.mount = function (target, opts) {
    opts = opts || {};
    var mode = opts.mode || 'embedded';
    if (['embedded', 'popup', 'redirect'].indexOf(mode) < 0) { throw new Error('Kassa: mode must be embedded, popup or redirect'); }
    if (!opts.clientSecret) { throw new Error('Kassa: clientSecret is required'); }
    var url = this.formURL(opts.clientSecret, mode, opts.locale);
    if (mode === 'redirect') {
      window.location.assign(url);
      return { unmount: function () {} };
    }
    var container = typeof target === 'string' ? document.querySelector(target) : target;
    if (mode === 'embedded' && !container) { throw new Error('Kassa: no element matches ' + target); }
    var self = this, delivered = false, ready = false, closeTimer = null, lastFocus = document.activeElement;
    var iframe = el('iframe', { width: '100%', height: '460px', border: '0', display: 'block', 'color-scheme': 'normal' },
      { src: url, title: opts.title || 'Secure payment form', allow: 'payment', scrolling: 'no' });
    var overlay = null, dialog = null, closeButton = null;

    function deliver(result) {
      if (delivered) { return; }
      delivered = true;
      if (typeof opts.onResult === 'function') { opts.onResult(result); }
    }
    function teardown() {
      window.removeEventListener('message', onMessage);
      document.removeEventListener('keydown', onKey, true);
      if (closeTimer) { clearTimeout(closeTimer); }
      if (overlay && overlay.parentNode) { overlay.parentNode.removeChild(overlay); }
      if (!overlay && iframe.parentNode) { iframe.parentNode.removeChild(iframe); }
      if (overlay && lastFocus && lastFocus.focus) { lastFocus.focus(); }
    }
    function onMessage(ev) {
      if (ev.origin !== self.origin || ev.source !== iframe.contentWindow) { return; }
      var d = ev.data || {};
      if (d.type === 'kassa.ready') {
        ready = true;
      } else if (d.type === 'kassa.resize' && mode === 'embedded' && d.height > 0 && d.height < 5000) {
        iframe.style.height = Math.ceil(d.height) + 'px';
      } else if (d.type === 'kassa.resize' && mode === 'popup' && d.height > 0 && d.height < 5000) {
        iframe.style.height = Math.min(Math.ceil(d.height), window.innerHeight - 80) + 'px';
      } else if (d.type === 'kassa.result') {
        var result = { type: 'kassa.result', payment_id: d.payment_id, status: d.status, signature: d.signature };
        if (d.error) { result.error = d.error; }
        deliver(result);
        if (mode === 'popup' && (closing || !d.error)) { teardown(); }
      }
    }
    var closing = false;
    // Closing the pop-up asks the form to cancel the payment, so that the
    // result the page receives is signed and true. If the form does not
    // answer (it never loaded), the page gets an unsigned canceled result.
    function close() {
      if (closing) { return; }
      closing = true;
      if (delivered || !ready) {
        if (!delivered) { deliver({ type: 'kassa.result', payment_id: null, status: 'canceled', signature: null, error: { code: 'form_not_loaded', message: 'The payment form did not load.' } }); }
        teardown();
        return;
      }
      iframe.contentWindow.postMessage({ type: 'kassa.cancel' }, self.origin);
      closeTimer = setTimeout(function () {
        deliver({ type: 'kassa.result', payment_id: null, status: 'canceled', signature: null, error: { code: 'no_response', message: 'The payment form did not answer.' } });
        teardown();
      }, 8000);
    }
    function onKey(ev) {
      if (ev.key === 'Escape') { ev.preventDefault(); close(); }
      if (ev.key === 'Tab' && dialog) { // keep focus inside the dialog
        if (ev.shiftKey && document.activeElement === closeButton) { ev.preventDefault(); iframe.focus(); }
        else if (!ev.shiftKey && document.activeElement === iframe) { ev.preventDefault(); closeButton.focus(); }
      }
    }

    window.addEventListener('message', onMessage);
    if (mode === 'embedded') {
      container.appendChild(iframe);
    } else {
      overlay = el('div', { position: 'fixed', inset: '0', background: 'rgba(15,18,30,.55)', 'z-index': '2147483000',
        display: 'flex', 'align-items': 'center', 'justify-content': 'center', padding: '12px', 'box-sizing': 'border-box' },
        { 'data-kassa-overlay': '' });
      dialog = el('div', { background: '#fff', 'border-radius': '12px', width: '100%', 'max-width': '460px',
        'max-height': '100%', overflow: 'auto', position: 'relative', 'box-shadow': '0 12px 40px rgba(0,0,0,.3)', padding: '36px 8px 8px', 'box-sizing': 'border-box' },
        { role: 'dialog', 'aria-modal': 'true', 'aria-label': opts.title || 'Secure payment form' });
      closeButton = el('button', { position: 'absolute', top: '4px', right: '6px', width: '36px', height: '36px', border: '0',
        background: 'transparent', 'font-size': '26px', 'line-height': '1', cursor: 'pointer', color: '#333' },
        { type: 'button', 'aria-label': opts.closeLabel || 'Close', 'data-kassa-close': '' });
      closeButton.textContent = '×';
      closeButton.addEventListener('click', close);
      dialog.appendChild(closeButton);
      dialog.appendChild(iframe);
      overlay.appendChild(dialog);
      overlay.addEventListener('click', function (ev) { if (ev.target === overlay) { close(); } });
      document.body.appendChild(overlay);
      document.addEventListener('keydown', onKey, true);
      iframe.focus();
    }
    var warn = setTimeout(function () {
      if (!ready && global.console) {
        global.console.warn('Kassa: the payment form has not loaded. Check that ' + window.location.origin +
          ' is in your allowed_origins (POST /v1/merchant/settings) and that the publishable key matches the payment.');
      }
    }, 10000);
    return {
      iframe: iframe,
      close: close,
      unmount: function () { clearTimeout(warn); teardown(); }
    };
  };

  global.Kassa = Kassa;
})(window);
