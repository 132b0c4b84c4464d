package api

import (
	"net/http"

	"github.com/kassa-pay/kassa"
	"github.com/kassa-pay/kassa/internal/engine"
)

// settingsObject is the merchant's checkout settings as the API shows them.
// The result-signing secret is included: only secret-key holders reach it,
// and they need it to verify checkout results.
type settingsObject struct {
	Object              string   `json:"object"`
	Merchant            string   `json:"merchant"`
	AllowedOrigins      []string `json:"allowed_origins"`
	DisplayName         string   `json:"display_name"`
	LogoURL             string   `json:"logo_url"`
	AccentColor         string   `json:"accent_color"`
	ResultSigningSecret string   `json:"result_signing_secret"`
	Updated             int64    `json:"updated"`
}

func settingsView(s *kassa.MerchantSettings) settingsObject {
	return settingsObject{Object: "merchant_settings", Merchant: s.MerchantID, AllowedOrigins: s.AllowedOrigins,
		DisplayName: s.DisplayName, LogoURL: s.LogoURL, AccentColor: s.AccentColor,
		ResultSigningSecret: s.ResultSigningSecret, Updated: s.Updated.Unix()}
}

func (s *Server) getSettings(w http.ResponseWriter, r *http.Request) {
	st, err := s.engine.MerchantSettings(r.Context(), principal(r.Context()).MerchantID)
	if err != nil {
		s.writeError(w, r, err, nil)
		return
	}
	writeJSON(w, http.StatusOK, settingsView(st))
}

// updateSettings changes the fields present in the body; absent fields keep
// their value, and an empty string clears a text field.
func (s *Server) updateSettings(w http.ResponseWriter, r *http.Request) {
	var req struct {
		AllowedOrigins *[]string `json:"allowed_origins"`
		DisplayName    *string   `json:"display_name"`
		LogoURL        *string   `json:"logo_url"`
		AccentColor    *string   `json:"accent_color"`
		RollSecret     bool      `json:"roll_result_signing_secret"`
	}
	if !s.decodeBody(w, r, &req, false) {
		return
	}
	st, err := s.engine.UpdateMerchantSettings(r.Context(), principal(r.Context()), engine.SettingsUpdate{
		AllowedOrigins: req.AllowedOrigins, DisplayName: req.DisplayName, LogoURL: req.LogoURL,
		AccentColor: req.AccentColor, RollResultSigningSecret: req.RollSecret})
	if err != nil {
		s.writeError(w, r, err, nil)
		return
	}
	writeJSON(w, http.StatusOK, settingsView(st))
}
