package dashboard

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/kassa-pay/kassa"
	"github.com/kassa-pay/kassa/internal/engine"
)

// Settings panels for the protocol adapters: Shoplazza shop bindings and
// Izipay Web Core credentials. Both services seal their secrets with the
// gateway's secret key; when the gateway runs without one (PostgreSQL
// without KASSA_SECRET_KEY) the panel says so instead of offering forms.
//
// Secrets written by the merchant (a shop's client secret, access token and
// signing key) are never shown back. The Izipay hash key is shown once, in
// the answer to the POST that created or rolled it, like the API secret key.

// shoplazza returns the Shoplazza service: the one given in Config, else
// the one the engine holds, else nil (not enabled).
func (h *Handler) shoplazza() *engine.Shoplazza {
	if h.shop != nil {
		return h.shop
	}
	s, err := h.eng.Shoplazza()
	if err != nil {
		return nil
	}
	return s
}

// shopBinding is a binding as the settings page shows it: no secrets.
type shopBinding struct {
	ShopDomain, AppID, AccountID, Model string
	IframeWidth, IframeHeight           int
	Livemode, HasSignKey                bool
	Updated                             string
}

// integrations is the settings page's data for the two panels.
type integrations struct {
	ShoplazzaOn bool
	Shops       []shopBinding
	ShopForm    map[string]string // the rejected form, refilled without its secrets

	IzipayOn     bool
	Izipay       *engine.IzipayCredentials // nil when none were created yet
	IzipayFresh  bool                      // Izipay was just created or rolled: show its hash key
	IzipayNoCred bool
}

func (h *Handler) integrationsData(r *http.Request, s *engine.Session, in *integrations) error {
	ctx := r.Context()
	if sl := h.shoplazza(); sl != nil {
		in.ShoplazzaOn = true
		bs, err := sl.Bindings(ctx, s.MerchantID)
		if err != nil {
			return err
		}
		for _, b := range bs {
			in.Shops = append(in.Shops, shopBinding{ShopDomain: b.ShopDomain, AppID: b.AppID, AccountID: b.AccountID,
				Model: b.Model, IframeWidth: b.IframeWidth, IframeHeight: b.IframeHeight, Livemode: b.Livemode,
				HasSignKey: b.SignKey != "", Updated: b.Updated.UTC().Format("2006-01-02 15:04 UTC")})
		}
	}
	if h.izipay != nil {
		in.IzipayOn = true
		if in.Izipay == nil {
			c, err := h.izipay.ExistingIzipayCredentials(ctx, s.MerchantID)
			switch {
			case kassa.ErrorKind(err) == kassa.ENOTFOUND:
				in.IzipayNoCred = true
			case err != nil:
				return err
			default:
				in.Izipay = c
			}
		}
		if in.Izipay != nil && !in.IzipayFresh {
			c := *in.Izipay
			c.HashKey = "" // shown only in the answer that made it
			if !s.User.CanWrite() {
				c.PublicKey = "" // a credential: viewers never see secrets
			}
			in.Izipay = &c
		}
	}
	return nil
}

// settingsResult shows the settings page with notice, or with err's
// message (engine errors) or a server error.
func (h *Handler) settingsResult(w http.ResponseWriter, r *http.Request, s *engine.Session, err error, in *integrations, notice string) {
	if err == nil {
		h.showSettingsWith(w, r, s, http.StatusOK, notice, "", in)
		return
	}
	var ke *kassa.Error
	if !errors.As(err, &ke) {
		h.serverError(w, r, err)
		return
	}
	h.showSettingsWith(w, r, s, statusOf(err), "", ke.Message, in)
}

// bindShop serves POST /dashboard/settings/shoplazza (admins only): binds
// a shop to the session's merchant in the session's mode, as
// POST /v1/shoplazza/bindings does, but never over another merchant's shop.
func (h *Handler) bindShop(w http.ResponseWriter, r *http.Request, s *engine.Session) {
	sl := h.shoplazza()
	if sl == nil {
		h.fail(w, r, http.StatusNotFound, "The Shoplazza payments app is not enabled on this gateway.")
		return
	}
	f := r.PostForm
	num := func(k string) (int, error) {
		v := strings.TrimSpace(f.Get(k))
		if v == "" {
			return 0, nil
		}
		n, err := strconv.Atoi(v)
		if err != nil {
			return 0, kassa.Invalid(k, "parameter_invalid", "the iframe size must be a whole number of pixels")
		}
		return n, nil
	}
	p := engine.ShoplazzaBindParams{MerchantID: s.MerchantID, Livemode: s.Livemode, AppID: f.Get("app_id"),
		ClientSecret: f.Get("client_secret"), ShopDomain: f.Get("shop_domain"), AccessToken: f.Get("access_token"),
		AccountID: f.Get("account_id"), Model: f.Get("model"), SignKey: f.Get("sign_key")}
	var err error
	if p.IframeWidth, err = num("iframe_width"); err == nil {
		p.IframeHeight, err = num("iframe_height")
	}
	if err == nil {
		_, err = sl.Bind(r.Context(), p)
	}
	in := &integrations{}
	if err != nil {
		// Refill what was typed, except the secrets.
		in.ShopForm = map[string]string{"app_id": p.AppID, "shop_domain": p.ShopDomain, "account_id": p.AccountID,
			"model": p.Model, "iframe_width": f.Get("iframe_width"), "iframe_height": f.Get("iframe_height")}
	}
	h.settingsResult(w, r, s, err, in, "The shop "+engine.NormalizeShopDomain(p.ShopDomain)+" is bound to this merchant.")
}

// izipayCredentials serves POST /dashboard/settings/izipay (admins only):
// creates the merchant's credentials (first time) or, with roll=yes and
// the confirmation ticked, replaces the public key and hash key. The
// answer is the only time the hash key is shown.
func (h *Handler) izipayCredentials(w http.ResponseWriter, r *http.Request, s *engine.Session) {
	if h.izipay == nil {
		h.fail(w, r, http.StatusNotFound, "Izipay Web Core is not enabled on this gateway.")
		return
	}
	var c *engine.IzipayCredentials
	var err error
	notice := "Izipay credentials created. Copy the hash key now: it is not shown again."
	if r.PostForm.Get("roll") == "yes" {
		if r.PostForm.Get("confirm") != "yes" {
			h.settingsResult(w, r, s, kassa.Invalid("confirm", "parameter_missing",
				"Tick the box to confirm: the current public key and hash key stop working at once."), &integrations{}, "")
			return
		}
		c, err = h.izipay.RollIzipayCredentials(r.Context(), s.MerchantID)
		notice = "Izipay keys rolled. Copy the new hash key now: it is not shown again."
	} else {
		// Created once: pressing the button again must not show the
		// existing hash key a second time.
		old, err := h.izipay.ExistingIzipayCredentials(r.Context(), s.MerchantID)
		if err == nil {
			h.settingsResult(w, r, s, nil, &integrations{Izipay: old},
				"This merchant already has Izipay credentials. Roll them to get a new hash key.")
			return
		} else if kassa.ErrorKind(err) != kassa.ENOTFOUND {
			h.settingsResult(w, r, s, err, &integrations{}, "")
			return
		}
		c, err = h.izipay.IzipayCredentials(r.Context(), s.MerchantID)
	}
	if err != nil {
		h.settingsResult(w, r, s, err, &integrations{}, "")
		return
	}
	h.settingsResult(w, r, s, nil, &integrations{Izipay: c, IzipayFresh: true}, notice)
}
