package dashboard

import (
	"context"
	"html/template"
	"net/http"
	"strings"

	"github.com/kassa-pay/kassa/internal/engine"
)

// Extensions: protocol adapters (izi-style orders, Shoplazza bindings,
// Izipay credentials) bring their own dashboard pages without this package
// knowing them. An adapter's package builds a Section or SettingsPanel and
// the composition root (cmd/kassa) adds it before serving.
//
// The dashboard does the security work for them: a section's handler runs
// only for a logged-in user, with the session in the request's context
// (SessionFrom); every POST to it has passed the cross-origin check and the
// CSRF token check, and comes from an admin. Handlers must still act only
// for SessionFrom(ctx).Principal().

// Section is an extra page in the navigation, served at
// /dashboard/x/{Key} and below.
type Section struct {
	Key   string // URL segment: lower-case letters, digits and dashes
	Title string // navigation label
	// Handler serves the section. It can render inside the dashboard's
	// layout with Handler.RenderSection.
	Handler http.Handler
}

// SettingsPanel is an extra block on the settings page.
type SettingsPanel struct {
	Key   string
	Title string
	// Render returns the panel's HTML for the session's merchant. Forms in it
	// post to the panel's section (a Section with the same Key) and must
	// include CSRFField(ctx).
	Render func(ctx context.Context, s *engine.Session) (template.HTML, error)
}

func validKey(k string) bool {
	if k == "" || len(k) > 40 {
		return false
	}
	for _, c := range k {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// AddSection adds a navigation section. It panics on a malformed or
// duplicate key: that is a wiring bug found at start.
func (h *Handler) AddSection(s Section) {
	if !validKey(s.Key) || s.Handler == nil || s.Title == "" {
		panic("dashboard: invalid section " + s.Key)
	}
	for _, x := range h.sections {
		if x.Key == s.Key {
			panic("dashboard: duplicate section " + s.Key)
		}
	}
	h.sections = append(h.sections, s)
}

// AddSettingsPanel adds a block to the settings page.
func (h *Handler) AddSettingsPanel(p SettingsPanel) {
	if !validKey(p.Key) || p.Render == nil || p.Title == "" {
		panic("dashboard: invalid settings panel " + p.Key)
	}
	h.panels = append(h.panels, p)
}

// Sections returns the added navigation sections.
func (h *Handler) Sections() []Section { return append([]Section(nil), h.sections...) }

// CSRFField is the hidden form field that dashboard POSTs must carry.
func CSRFField(ctx context.Context) template.HTML {
	s := SessionFrom(ctx)
	if s == nil {
		return ""
	}
	return template.HTML(`<input type="hidden" name="csrf" value="` + template.HTMLEscapeString(s.CSRFToken) + `">`)
}

// RenderSection writes body (trusted HTML the section built with
// html/template) inside the dashboard's layout.
func (h *Handler) RenderSection(w http.ResponseWriter, r *http.Request, status int, key, title string, body template.HTML) {
	h.render(w, r, status, "section", &view{Title: title, Nav: "x/" + key, Content: body})
}

func (h *Handler) serveSection(w http.ResponseWriter, r *http.Request, s *engine.Session) {
	key := r.PathValue("section")
	for _, x := range h.sections {
		if x.Key == key {
			x.Handler.ServeHTTP(w, r)
			return
		}
	}
	h.fail(w, r, http.StatusNotFound, "There is no such page.")
}

// sectionPath is a section's URL.
func sectionPath(key string) string { return Prefix + "x/" + strings.ToLower(key) }
