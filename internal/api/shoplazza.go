package api

import (
	"net/http"

	"github.com/kassa-pay/kassa/internal/engine"
)

// shoplazzaBindingObject is a Shoplazza shop binding as the API shows it:
// the secrets are write-only (stored sealed) and never shown.
type shoplazzaBindingObject struct {
	Object       string `json:"object"`
	ShopDomain   string `json:"shop_domain"`
	Merchant     string `json:"merchant"`
	AppID        string `json:"app_id"`
	AccountID    string `json:"account_id"`
	Model        string `json:"model"`
	IframeWidth  int    `json:"iframe_width"`
	IframeHeight int    `json:"iframe_height"`
	Livemode     bool   `json:"livemode"`
	Created      int64  `json:"created"`
	Updated      int64  `json:"updated"`
}

func shoplazzaBindingView(b *engine.ShoplazzaBinding) shoplazzaBindingObject {
	return shoplazzaBindingObject{Object: "shoplazza_binding", ShopDomain: b.ShopDomain, Merchant: b.MerchantID, AppID: b.AppID,
		AccountID: b.AccountID, Model: b.Model, IframeWidth: b.IframeWidth, IframeHeight: b.IframeHeight, Livemode: b.Livemode,
		Created: b.Created.Unix(), Updated: b.Updated.Unix()}
}

// bindShoplazza maps a Shoplazza shop to the caller's merchant, as
// `kassa shoplazza bind` does (see docs/shoplazza.md).
func (s *Server) bindShoplazza(w http.ResponseWriter, r *http.Request) {
	var req struct {
		AppID        string `json:"app_id"`
		ClientSecret string `json:"client_secret"`
		ShopDomain   string `json:"shop_domain"`
		AccessToken  string `json:"access_token"`
		AccountID    string `json:"account_id"`
		Model        string `json:"model"`
		IframeWidth  int    `json:"iframe_width"`
		IframeHeight int    `json:"iframe_height"`
		SignKey      string `json:"sign_key"`
	}
	if !s.decodeBody(w, r, &req, false) {
		return
	}
	sl, err := s.engine.Shoplazza()
	if err != nil {
		s.writeError(w, r, err, nil)
		return
	}
	pr := principal(r.Context())
	bd, err := sl.Bind(r.Context(), engine.ShoplazzaBindParams{MerchantID: pr.MerchantID, Livemode: pr.Livemode, AppID: req.AppID,
		ClientSecret: req.ClientSecret, ShopDomain: req.ShopDomain, AccessToken: req.AccessToken, AccountID: req.AccountID,
		Model: req.Model, IframeWidth: req.IframeWidth, IframeHeight: req.IframeHeight, SignKey: req.SignKey})
	if err != nil {
		s.writeError(w, r, err, nil)
		return
	}
	writeJSON(w, http.StatusOK, shoplazzaBindingView(bd))
}

// listShoplazzaBindings lists the caller's bound shops.
func (s *Server) listShoplazzaBindings(w http.ResponseWriter, r *http.Request) {
	sl, err := s.engine.Shoplazza()
	if err != nil {
		s.writeError(w, r, err, nil)
		return
	}
	bs, err := sl.Bindings(r.Context(), principal(r.Context()).MerchantID)
	if err != nil {
		s.writeError(w, r, err, nil)
		return
	}
	out := []shoplazzaBindingObject{}
	for _, b := range bs {
		out = append(out, shoplazzaBindingView(b))
	}
	writeJSON(w, http.StatusOK, map[string]any{"object": "list", "data": out, "has_more": false})
}
