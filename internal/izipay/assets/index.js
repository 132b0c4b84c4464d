/*! Kassa — Izipay Web Core compatible SDK. Load it where Izipay's was:
 *
 *   <script src="https://GATEWAY/payments/v1/js/index.js"></script>
 *   const checkout = new Izipay({ config: iziConfig });   // throws {Errors, message, date} on a bad config
 *   checkout.LoadForm({ authorization: token, keyRSA: 'RSA', callbackResponse: fn });
 *
 * The shopper types the card into Kassa's own form (an iframe from the
 * gateway's origin, a pop-up overlay, or the hosted page); this script
 * never sees card data. callbackResponse receives Izipay's result shape
 * with payloadHttp and signature (base64 HMAC-SHA256 of payloadHttp with
 * your hash key): verify it on your server. keyRSA is accepted and unused.
 */
(function (global) {
  'use strict';
  var script = document.currentScript;
  var base = script && script.src ? script.src.replace(/\/payments\/v1\/js\/index\.js(\?.*)?$/, '') : '';

  function IzipayError(errors, message, code) {
    var e = new Error(message);
    e.name = 'IzipayError';
    e.code = code || 'V01';
    e.Errors = errors;
    e.date = new Date().toISOString();
    return e;
  }

  var enums = {
    typeForm: { EMBEDDED: 'embedded', POP_UP: 'pop-up', REDIRECT: 'redirect' },
    action: { PAY: 'pay', REGISTER: 'register', PAY_AND_REGISTER: 'pay_register', PAY_TOKEN: 'pay_token' },
    processType: { AUTHORIZATION: 'AT', PRE_AUTHORIZATION: 'PA' },
    language: { ESP: 'ESP', ENG: 'ENG' }
  };

  function str(v) { return v === undefined || v === null ? '' : String(v); }
  function absURL(u) { return /^https?:\/\/[^\s/]+/.test(str(u)); }

  // validate mirrors the gateway's checks (internal/izipay/form.go).
  function validate(c) {
    var errs = [];
    function add(field, message) { errs.push({ field: field, message: message }); }
    if (!c || typeof c !== 'object') { add('config', 'config is required: new Izipay({ config: {...} })'); return errs; }
    var order = c.order || {}, render = c.render || {}, lang = c.language || {};
    if (!/^[0-9a-zA-Z]{5,40}$/.test(str(c.transactionId))) { add('transactionId', 'must be 5 to 40 letters and digits, the same as the Token/Generate header'); }
    if (c.action && ['pay', 'pay_register'].indexOf(c.action) < 0) { add('action', 'action "' + c.action + '" is not supported by Kassa; use "pay"'); }
    if (!str(c.merchantCode)) { add('merchantCode', 'is required'); }
    if (!/^[0-9a-zA-Z]{5,15}$/.test(str(order.orderNumber))) { add('order.orderNumber', 'must be 5 to 15 letters and digits, the same as the token\'s'); }
    if (!/^[A-Za-z]{3}$/.test(str(order.currency))) { add('order.currency', 'must be an ISO 4217 code such as PEN or USD'); }
    if (!/^\d+(\.\d+)?$/.test(str(order.amount)) || !(parseFloat(order.amount) > 0)) { add('order.amount', 'must be a positive decimal string like "10.00", the same as the token\'s'); }
    var t = render.typeForm;
    if (['embedded', 'pop-up', 'redirect'].indexOf(t) < 0) { add('render.typeForm', 'must be embedded, pop-up or redirect'); }
    if (t === 'embedded' && !(render.container && document.querySelector(render.container))) {
      add('render.container', 'embedded mode needs render.container, a selector of an element on the page');
    }
    if (t === 'redirect') {
      var r = render.redirectUrls || {};
      ['onSuccess', 'onError', 'onCancel'].forEach(function (k) {
        if (!absURL(r[k])) { add('render.redirectUrls.' + k, 'redirect mode needs an absolute http(s) URL that accepts POST'); }
      });
    }
    if (c.urlIPN && !absURL(c.urlIPN)) { add('urlIPN', 'must be an absolute http(s) URL'); }
    if (lang.init && ['ESP', 'ENG'].indexOf(lang.init) < 0) { add('language.init', 'must be ESP or ENG'); }
    return errs;
  }

  function post(path, body) {
    return fetch(base + path, {
      method: 'POST', mode: 'cors', credentials: 'omit', cache: 'no-store',
      headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body)
    }).then(function (r) {
      return r.json().then(function (j) { return { ok: r.ok, body: j }; });
    });
  }

  var kassaLoading = null;
  function loadKassa() {
    if (global.Kassa) { return Promise.resolve(global.Kassa); }
    if (!kassaLoading) {
      kassaLoading = new Promise(function (resolve, reject) {
        var s = document.createElement('script');
        s.src = base + '/js/v1/kassa.js';
        s.onload = function () { resolve(global.Kassa); };
        s.onerror = function () { reject(new Error('Kassa form script did not load')); };
        document.head.appendChild(s);
      });
    }
    return kassaLoading;
  }

  function Izipay(opts) {
    if (!(this instanceof Izipay)) { return new Izipay(opts); }
    var config = opts && opts.config;
    var errs = validate(config);
    if (errs.length) {
      var unsupported = errs.some(function (e) { return e.field === 'action'; });
      throw IzipayError(errs, 'Izipay: invalid config: ' + errs.map(function (e) { return e.field + ' ' + e.message; }).join('; '),
        unsupported ? 'V02' : 'V01');
    }
    this.config = config;
    this.form = { events: { submit: function () {
      // Kassa's form always shows its own pay button (showButtonProcessForm is ignored).
      if (global.console) { global.console.warn('Izipay (Kassa): form.events.submit() is not supported; the form has its own pay button.'); }
    } } };
  }
  Izipay.enums = enums;

  // LoadForm shows the form. Errors (expired token, amount differing from
  // the token's …) reach callbackResponse as a result with code != "00" and
  // no signature, and reject the returned promise with an IzipayError.
  Izipay.prototype.LoadForm = function (p) {
    var self = this, c = this.config;
    p = p || {};
    var cb = typeof p.callbackResponse === 'function' ? p.callbackResponse : function () {};
    function failWith(code, message, fields) {
      var res = { code: code, message: message, messageUser: message, messageUserEng: message, transactionId: str(c.transactionId) };
      cb(res);
      return Promise.reject(IzipayError(fields || [], 'Izipay: ' + message, code));
    }
    var done;
    if (!p.authorization || typeof p.authorization !== 'string') {
      done = failWith('T09', 'authorization (the session token from Token/Generate) is required', [{ field: 'authorization', message: 'required' }]);
      done.catch(function () {});
      return done;
    }
    var delivered = false;
    function result() {
      return post('/payments/v1/result', { authorization: p.authorization }).then(function (r) {
        if (!delivered) { delivered = true; cb(r.body); }
        return r.body;
      });
    }
    done = post('/payments/v1/form', { authorization: p.authorization, config: c }).then(function (r) {
      if (!r.ok || r.body.code !== '00') {
        var b = r.body || {};
        var res = { code: b.code || '99', message: b.message || 'error', messageUser: b.messageUser || '', messageUserEng: b.messageUserEng || '',
          transactionId: str(c.transactionId) };
        cb(res);
        throw IzipayError(b.errors || [], 'Izipay: ' + (b.message || 'the form could not be loaded'), b.code);
      }
      var s = r.body.response;
      if (s.typeForm === 'redirect') {
        window.location.assign(s.formUrl);
        return s;
      }
      return loadKassa().then(function (Kassa) {
        // The form is authorized by the session token, not a publishable key.
        var k = Kassa('pk_izipay_session', { gatewayURL: base });
        var target = s.typeForm === 'embedded' ? c.render.container : null;
        self.handle = k.mount(target, {
          clientSecret: s.clientSecret, mode: s.typeForm === 'pop-up' ? 'popup' : 'embedded', locale: s.locale,
          onResult: function () { result(); }
        });
        return s;
      });
    }, function () {
      return failWith('COMMUNICATION_ERROR', 'the payment gateway could not be reached');
    });
    done.catch(function () {});
    return done;
  };

  global.Izipay = Izipay;
})(window);
