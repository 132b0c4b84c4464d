package dashboard

import (
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/kassa-pay/kassa"
	"github.com/kassa-pay/kassa/internal/engine"
	"github.com/kassa-pay/kassa/internal/notify"
)

// ---- webhooks

func (h *Handler) noNotify(w http.ResponseWriter, r *http.Request) bool {
	if h.notify == nil {
		h.fail(w, r, http.StatusNotFound, "Webhook delivery is not configured on this gateway.")
		return true
	}
	return false
}

func (h *Handler) webhookList(w http.ResponseWriter, r *http.Request, s *engine.Session) {
	h.showWebhooks(w, r, s, http.StatusOK, "", "", nil)
}

func (h *Handler) showWebhooks(w http.ResponseWriter, r *http.Request, s *engine.Session, status int, notice, errMsg string, created *notify.Endpoint) {
	if h.noNotify(w, r) {
		return
	}
	eps, _, err := h.notify.ListEndpoints(r.Context(), s.Principal(), kassa.Page{Limit: 100})
	if err != nil {
		h.userError(w, r, err)
		return
	}
	h.render(w, r, status, "webhooks", &view{Title: "Webhooks", Nav: "webhooks", Notice: notice, Error: errMsg,
		Data: map[string]any{"Endpoints": eps, "EventTypes": notify.EventTypes, "Created": created}})
}

func (h *Handler) webhookCreate(w http.ResponseWriter, r *http.Request, s *engine.Session) {
	if h.noNotify(w, r) {
		return
	}
	var events []string
	if r.PostForm.Get("all") == "" {
		events = r.PostForm["events"]
		if len(events) == 0 {
			h.showWebhooks(w, r, s, http.StatusUnprocessableEntity, "", "Choose the events to send, or all events.", nil)
			return
		}
	}
	e, err := h.notify.CreateEndpoint(r.Context(), s.Principal(), notify.EndpointParams{URL: strings.TrimSpace(r.PostForm.Get("url")),
		Events: events, Description: r.PostForm.Get("description")})
	if err != nil {
		if ke, ok := err.(*kassa.Error); ok {
			h.showWebhooks(w, r, s, statusOf(err), "", ke.Message, nil)
			return
		}
		h.serverError(w, r, err)
		return
	}
	h.showWebhooks(w, r, s, http.StatusOK, "Endpoint added. Its signing secret is shown below.", "", e)
}

func (h *Handler) webhookPage(w http.ResponseWriter, r *http.Request, s *engine.Session) {
	h.showWebhook(w, r, s, http.StatusOK, "", "")
}

func (h *Handler) showWebhook(w http.ResponseWriter, r *http.Request, s *engine.Session, status int, notice, errMsg string) {
	if h.noNotify(w, r) {
		return
	}
	ctx, pr, id := r.Context(), s.Principal(), r.PathValue("id")
	e, err := h.notify.Endpoint(ctx, pr, id)
	if err != nil {
		h.userError(w, r, err)
		return
	}
	after := r.URL.Query().Get("after")
	tries, more, err := h.notify.Attempts(ctx, pr, id, "", kassa.Page{Limit: 50, StartingAfter: after})
	if err != nil {
		h.userError(w, r, err)
		return
	}
	next := ""
	if more && len(tries) > 0 {
		next = Prefix + "webhooks/" + url.PathEscape(id) + "?after=" + url.QueryEscape(tries[len(tries)-1].ID)
	}
	if notice == "" && r.URL.Query().Get("done") == "redelivered" {
		notice = notices["redelivered"]
	}
	h.render(w, r, status, "webhook", &view{Title: "Webhook endpoint", Nav: "webhooks", Notice: notice, Error: errMsg,
		Data: map[string]any{"E": e, "Attempts": tries, "Next": next}})
}

func (h *Handler) webhookRoll(w http.ResponseWriter, r *http.Request, s *engine.Session) {
	if h.noNotify(w, r) {
		return
	}
	grace := 24 * time.Hour
	if r.PostForm.Get("grace") == "0" {
		grace = 0
	}
	if _, err := h.notify.RollEndpointSecret(r.Context(), s.Principal(), r.PathValue("id"), grace); err != nil {
		h.userError(w, r, err)
		return
	}
	h.showWebhook(w, r, s, http.StatusOK, "The signing secret was rolled.", "")
}

func (h *Handler) webhookDelete(w http.ResponseWriter, r *http.Request, s *engine.Session) {
	if h.noNotify(w, r) {
		return
	}
	if err := h.notify.DeleteEndpoint(r.Context(), s.Principal(), r.PathValue("id")); err != nil {
		h.userError(w, r, err)
		return
	}
	h.showWebhooks(w, r, s, http.StatusOK, "The endpoint was deleted.", "", nil)
}

// redeliver replays an event to its current destinations, then returns to
// where the button was (a payment page or an endpoint page).
func (h *Handler) redeliver(w http.ResponseWriter, r *http.Request, s *engine.Session) {
	if h.noNotify(w, r) {
		return
	}
	if _, err := h.notify.Redeliver(r.Context(), s.Principal(), r.PathValue("id")); err != nil {
		h.userError(w, r, err)
		return
	}
	back := safeNext(r.PostForm.Get("back"))
	sep := "?"
	if strings.Contains(back, "?") {
		sep = "&"
	}
	http.Redirect(w, r, back+sep+"done=redelivered", http.StatusSeeOther)
}

// ---- API keys

func (h *Handler) keysPage(w http.ResponseWriter, r *http.Request, s *engine.Session) {
	h.showKeys(w, r, s, http.StatusOK, "", "")
}

func (h *Handler) showKeys(w http.ResponseWriter, r *http.Request, s *engine.Session, status int, newKey, errMsg string) {
	keys, err := h.eng.APIKeys(r.Context(), s.MerchantID, s.Livemode)
	if err != nil {
		h.userError(w, r, err)
		return
	}
	h.render(w, r, status, "keys", &view{Title: "API keys", Nav: "keys", Error: errMsg, Data: map[string]any{"Keys": keys, "NewKey": newKey}})
}

func (h *Handler) rollKey(w http.ResponseWriter, r *http.Request, s *engine.Session) {
	if r.PostForm.Get("confirm") != "yes" {
		h.showKeys(w, r, s, http.StatusUnprocessableEntity, "", "Tick the box to confirm: the current secret key stops working at once.")
		return
	}
	sk, err := h.eng.RollSecretKey(r.Context(), s.MerchantID, s.Livemode)
	if err != nil {
		h.userError(w, r, err)
		return
	}
	h.showKeys(w, r, s, http.StatusOK, sk, "")
}

// ---- settings

func (h *Handler) settingsPage(w http.ResponseWriter, r *http.Request, s *engine.Session) {
	h.showSettings(w, r, s, http.StatusOK, "", "")
}

type panelView struct {
	Key, Title string
	HTML       template.HTML
}

func (h *Handler) showSettings(w http.ResponseWriter, r *http.Request, s *engine.Session, status int, notice, errMsg string) {
	h.showSettingsWith(w, r, s, status, notice, errMsg, &integrations{})
}

// showSettingsWith renders the settings page; in carries what a Shoplazza
// or Izipay POST wants shown (a refilled form, fresh credentials).
func (h *Handler) showSettingsWith(w http.ResponseWriter, r *http.Request, s *engine.Session, status int, notice, errMsg string, in *integrations) {
	if err := h.integrationsData(r, s, in); err != nil {
		h.serverError(w, r, err)
		return
	}
	st, err := h.eng.MerchantSettings(r.Context(), s.MerchantID)
	if err != nil {
		h.userError(w, r, err)
		return
	}
	var panels []panelView
	for _, p := range h.panels {
		html, err := p.Render(r.Context(), s)
		if err != nil {
			h.serverError(w, r, err)
			return
		}
		panels = append(panels, panelView{Key: p.Key, Title: p.Title, HTML: html})
	}
	h.render(w, r, status, "settings", &view{Title: "Settings", Nav: "settings", Notice: notice, Error: errMsg,
		Data: map[string]any{"S": st, "Origins": strings.Join(st.AllowedOrigins, "\n"), "Panels": panels, "In": in}})
}

func (h *Handler) saveSettings(w http.ResponseWriter, r *http.Request, s *engine.Session) {
	var origins []string
	for _, line := range strings.Split(r.PostForm.Get("allowed_origins"), "\n") {
		if line = strings.TrimSpace(line); line != "" {
			origins = append(origins, line)
		}
	}
	if origins == nil {
		origins = []string{}
	}
	name, logo, accent := r.PostForm.Get("display_name"), strings.TrimSpace(r.PostForm.Get("logo_url")), strings.TrimSpace(r.PostForm.Get("accent_color"))
	_, err := h.eng.UpdateMerchantSettings(r.Context(), s.Principal(), engine.SettingsUpdate{AllowedOrigins: &origins,
		DisplayName: &name, LogoURL: &logo, AccentColor: &accent, RollResultSigningSecret: r.PostForm.Get("roll_signing") == "yes"})
	if err != nil {
		if ke, ok := err.(*kassa.Error); ok {
			h.showSettings(w, r, s, statusOf(err), "", ke.Message)
			return
		}
		h.serverError(w, r, err)
		return
	}
	h.showSettings(w, r, s, http.StatusOK, "Settings saved.", "")
}

// ---- team

func (h *Handler) teamPage(w http.ResponseWriter, r *http.Request, s *engine.Session) {
	h.showTeam(w, r, s, http.StatusOK, "", "", "")
}

func (h *Handler) showTeam(w http.ResponseWriter, r *http.Request, s *engine.Session, status int, notice, errMsg, link string) {
	users, err := h.eng.ListUsers(r.Context(), s.MerchantID)
	if err != nil {
		h.userError(w, r, err)
		return
	}
	h.render(w, r, status, "team", &view{Title: "Team", Nav: "team", Notice: notice, Error: errMsg,
		Data: map[string]any{"Users": users, "InviteLink": link}})
}

func (h *Handler) invite(w http.ResponseWriter, r *http.Request, s *engine.Session) {
	_, token, err := h.eng.InviteUser(r.Context(), s.User, r.PostForm.Get("email"), engine.Role(r.PostForm.Get("role")))
	if err != nil {
		if ke, ok := err.(*kassa.Error); ok {
			h.showTeam(w, r, s, statusOf(err), "", ke.Message, "")
			return
		}
		h.serverError(w, r, err)
		return
	}
	link := strings.TrimRight(h.eng.Config().BaseURL, "/") + Prefix + "invite/" + token
	h.showTeam(w, r, s, http.StatusOK, "Invitation created. Send this link to your colleague; it is shown only once and works for 7 days.", "", link)
}

func (h *Handler) removeUser(w http.ResponseWriter, r *http.Request, s *engine.Session) {
	if err := h.eng.RemoveUser(r.Context(), s.User, r.PathValue("id")); err != nil {
		if ke, ok := err.(*kassa.Error); ok {
			h.showTeam(w, r, s, statusOf(err), "", ke.Message, "")
			return
		}
		h.serverError(w, r, err)
		return
	}
	h.showTeam(w, r, s, http.StatusOK, "The user was removed.", "", "")
}
