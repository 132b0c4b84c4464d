package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strings"

	"github.com/kassa-pay/kassa"
)

// maxBody bounds request bodies; payments are small.
const maxBody = 64 << 10

// readBody reads the request body, refusing oversized ones.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return nil, kassa.Errorf(kassa.EINVALID, "body_too_large", "request body is larger than %d bytes", maxBody)
	}
	return body, err
}

// decode parses a JSON body strictly into v: right content type, one JSON
// object, no unknown fields, right types, each error naming its param. An
// empty body is allowed when emptyOK (endpoints whose fields are all optional).
func decode(r *http.Request, body []byte, v any, emptyOK bool) error {
	if len(bytes.TrimSpace(body)) == 0 {
		if emptyOK {
			return nil
		}
		return kassa.Errorf(kassa.EINVALID, "body_missing", "request body must be a JSON object")
	}
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		return kassa.Errorf(kassa.EINVALID, "unsupported_media_type",
			"Content-Type must be application/json (got %q)", r.Header.Get("Content-Type"))
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if strings.HasPrefix(err.Error(), "json: unknown field ") {
			// encoding/json names only the key, not where it is.
			if param := unknownField(body, reflect.TypeOf(v)); param != "" {
				return kassa.Invalid(param, "parameter_unknown", "Received unknown parameter: %s", param)
			}
		}
		return jsonError(err)
	}
	if dec.More() {
		return kassa.Errorf(kassa.EINVALID, "body_invalid", "request body must hold exactly one JSON object")
	}
	return nil
}

// decodeBody reads the request body (as idempotent left it) into v, as
// decode does; on a bad body it answers the error itself and returns false.
func (s *Server) decodeBody(w http.ResponseWriter, r *http.Request, v any, emptyOK bool) bool {
	b, err := body(w, r)
	if err == nil {
		err = decode(r, b, v, emptyOK)
	}
	if err != nil {
		s.writeError(w, r, err, nil)
		return false
	}
	return true
}

// jsonError turns encoding/json errors into errors that name the field.
func jsonError(err error) error {
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &te):
		param := bracketParam(te.Field)
		if param == "" {
			return kassa.Errorf(kassa.EINVALID, "body_invalid", "request body must be a JSON object")
		}
		return kassa.Invalid(param, "parameter_invalid_type", "%s must be %s, not a JSON %s", param, typeName(te.Type.Kind().String()), te.Value)
	case errors.As(err, &se):
		return kassa.Errorf(kassa.EINVALID, "body_invalid", "request body is not valid JSON: %v (at byte %d)", se, se.Offset)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return kassa.Errorf(kassa.EINVALID, "body_invalid", "request body is truncated JSON")
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return kassa.Invalid(bracketParam(name), "parameter_unknown", "Received unknown parameter: %s", bracketParam(name))
	}
	return kassa.Errorf(kassa.EINVALID, "body_invalid", "request body is not valid: %v", err)
}

// unknownField returns the bracketed path of the first key in body (in
// document order, as encoding/json meets them) that has no field in t, e.g.
// "payment_method[card][foo]" or "items[1][color]", or "" if there is none.
func unknownField(body []byte, t reflect.Type) string {
	dec := json.NewDecoder(bytes.NewReader(body))
	param, _ := findUnknown(dec, t, "")
	return param
}

// findUnknown reads one JSON value from dec, walking it along t; found
// reports an unknown key (and stops reading).
func findUnknown(dec *json.Decoder, t reflect.Type, prefix string) (param string, found bool) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	tok, err := dec.Token()
	if err != nil {
		return "", false
	}
	delim, ok := tok.(json.Delim)
	if !ok || delim == '}' || delim == ']' {
		return "", false // a scalar
	}
	for i := 0; dec.More(); i++ {
		elem, name := reflect.Type(nil), ""
		if delim == '{' {
			k, err := dec.Token()
			if err != nil {
				return "", false
			}
			name, _ = k.(string)
		}
		child := name
		if prefix != "" {
			child = prefix + "[" + name + "]"
		}
		switch {
		case delim == '{' && t.Kind() == reflect.Struct:
			f, ok := jsonField(t, name)
			if !ok {
				return child, true
			}
			elem = f.Type
		case delim == '{' && t.Kind() == reflect.Map:
			elem = t.Elem()
		case delim == '[' && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array):
			elem, child = t.Elem(), fmt.Sprintf("%s[%d]", prefix, i)
		}
		if elem == nil {
			if err := skipValue(dec); err != nil {
				return "", false
			}
			continue
		}
		if p, found := findUnknown(dec, elem, child); found {
			return p, found
		}
	}
	dec.Token() // the closing delimiter
	return "", false
}

// jsonField finds the struct field encoding/json decodes key into: an exact
// tag or name match first, then a case-insensitive one.
func jsonField(t reflect.Type, key string) (reflect.StructField, bool) {
	var fold *reflect.StructField
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		if name == key {
			return f, true
		}
		if fold == nil && strings.EqualFold(name, key) {
			fold = &f
		}
	}
	if fold != nil {
		return *fold, true
	}
	return reflect.StructField{}, false
}

// skipValue reads and discards one JSON value.
func skipValue(dec *json.Decoder) error {
	var raw json.RawMessage
	return dec.Decode(&raw)
}

func typeName(kind string) string {
	switch kind {
	case "int", "int64", "int32", "uint", "uint64":
		return "an integer"
	case "string":
		return "a string"
	case "bool":
		return "a boolean"
	case "map", "struct", "ptr":
		return "an object"
	case "slice":
		return "an array"
	}
	return "a " + kind
}

// bracketParam turns json's "payment_method.card.number" into Stripe's
// "payment_method[card][number]".
func bracketParam(dotted string) string {
	parts := strings.Split(dotted, ".")
	out := parts[0]
	for _, p := range parts[1:] {
		out += "[" + p + "]"
	}
	return out
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("api: encoding response: %v", err))
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	w.Write(append(b, '\n'))
}
