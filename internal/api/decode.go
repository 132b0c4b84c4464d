package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
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
		return jsonError(err)
	}
	if dec.More() {
		return kassa.Errorf(kassa.EINVALID, "body_invalid", "request body must hold exactly one JSON object")
	}
	return nil
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
