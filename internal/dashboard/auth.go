package dashboard

import (
	"crypto/subtle"
	"net/http"
	"strings"
	"time"

	"github.com/kassa-pay/kassa"
	"github.com/kassa-pay/kassa/internal/engine"
)

// The login form has no session yet, so its CSRF token is a double-submit
// pair: a random value in an HttpOnly cookie and the same value in the form.
// A cross-site page can make the browser send the cookie but cannot read it
// to fill the field (and CrossOriginProtection refuses it before that).
const loginCookie = "kassa_login"

func (h *Handler) loginPage(w http.ResponseWriter, r *http.Request) {
	h.showLogin(w, r, http.StatusOK, "")
}

func (h *Handler) showLogin(w http.ResponseWriter, r *http.Request, status int, msg string) {
	token := kassa.RandomToken(24)
	h.setCookie(w, r, loginCookie, token, 30*time.Minute)
	h.render(w, r, status, "login", &view{Title: "Log in", Bare: true, Error: msg, LoginCSRF: token,
		Data: map[string]string{"Next": safeNext(r.FormValue("next")), "Email": r.PostFormValue("email")}})
}

// safeNext keeps a post-login redirect inside the dashboard.
func safeNext(next string) string {
	if !strings.HasPrefix(next, Prefix) || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\r\n") {
		return Prefix
	}
	return next
}

func (h *Handler) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := r.ParseForm(); err != nil {
		h.fail(w, r, http.StatusBadRequest, "The form could not be read.")
		return
	}
	c, err := r.Cookie(h.cookieName(r, loginCookie))
	field := r.PostForm.Get("login_csrf")
	if err != nil || field == "" || subtle.ConstantTimeCompare([]byte(c.Value), []byte(field)) != 1 {
		h.showLogin(w, r, http.StatusForbidden, "The login form expired. Please try again.")
		return
	}
	_, token, err := h.eng.Login(r.Context(), r.PostForm.Get("email"), r.PostForm.Get("password"))
	if err != nil {
		if kassa.ErrorKind(err) != kassa.EUNAUTHORIZED {
			h.serverError(w, r, err)
			return
		}
		var msg string
		if ke, ok := err.(*kassa.Error); ok {
			msg = ke.Message
		}
		h.showLogin(w, r, http.StatusUnauthorized, msg)
		return
	}
	h.setCookie(w, r, loginCookie, "", 0)
	h.setCookie(w, r, sessionCookie, token, engine.SessionTTL)
	http.Redirect(w, r, safeNext(r.PostForm.Get("next")), http.StatusSeeOther)
}

func (h *Handler) logout(w http.ResponseWriter, r *http.Request, s *engine.Session) {
	if err := h.eng.Logout(r.Context(), s); err != nil {
		h.serverError(w, r, err)
		return
	}
	h.setCookie(w, r, sessionCookie, "", 0)
	http.Redirect(w, r, Prefix+"login", http.StatusSeeOther)
}

// switchMode is the test/live switch: it changes which data the session sees.
func (h *Handler) switchMode(w http.ResponseWriter, r *http.Request, s *engine.Session) {
	live := r.PostForm.Get("mode") == "live"
	if err := h.eng.SetSessionMode(r.Context(), s, live); err != nil {
		h.serverError(w, r, err)
		return
	}
	http.Redirect(w, r, Prefix, http.StatusSeeOther)
}

func (h *Handler) invitePage(w http.ResponseWriter, r *http.Request) {
	u, err := h.eng.Invitation(r.Context(), r.PathValue("token"))
	if err != nil {
		h.userError(w, r, err)
		return
	}
	token := kassa.RandomToken(24)
	h.setCookie(w, r, loginCookie, token, 30*time.Minute)
	h.render(w, r, http.StatusOK, "invite", &view{Title: "Accept invitation", Bare: true, LoginCSRF: token, Data: u})
}

func (h *Handler) acceptInvite(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := r.ParseForm(); err != nil {
		h.fail(w, r, http.StatusBadRequest, "The form could not be read.")
		return
	}
	c, err := r.Cookie(h.cookieName(r, loginCookie))
	field := r.PostForm.Get("login_csrf")
	if err != nil || field == "" || subtle.ConstantTimeCompare([]byte(c.Value), []byte(field)) != 1 {
		h.fail(w, r, http.StatusForbidden, "The form expired. Open the invitation link again.")
		return
	}
	if r.PostForm.Get("password") != r.PostForm.Get("password2") {
		h.fail(w, r, http.StatusUnprocessableEntity, "The two passwords differ.")
		return
	}
	if _, err := h.eng.AcceptInvitation(r.Context(), r.PathValue("token"), r.PostForm.Get("password")); err != nil {
		h.userError(w, r, err)
		return
	}
	http.Redirect(w, r, Prefix+"login", http.StatusSeeOther)
}
