package izipay_test

import (
	"encoding/json"
	"fmt"
	"testing"
)

// config.appearance is never a reason to refuse the form: values of an
// unexpected type are ignored.
func TestLoadFormAppearanceLenient(t *testing.T) {
	dialects(t, func(t *testing.T, g *kassaGW) {
		for i, a := range []string{`"dark"`, `{"customize":"x","logo":5}`, `{"logo":null,"theme":["red"],"customize":{"visibility":[]}}`,
			`{"logo":"not a url","theme":"chartreuse","customize":{"visibility":{"hideLogo":"yes"}}}`} {
			tid, order := fmt.Sprintf("1688150082%04d", 700+i), fmt.Sprintf("ORD%06d", 700+i)
			token := g.token(t, tid, order, "10.50")
			var appearance any
			if err := json.Unmarshal([]byte(a), &appearance); err != nil {
				t.Fatal(err)
			}
			cfg := map[string]any{"transactionId": tid, "action": "pay", "merchantCode": g.creds.MerchantCode,
				"order":      map[string]any{"orderNumber": order, "currency": "PEN", "amount": "10.50"},
				"render":     map[string]any{"typeForm": "embedded", "container": "#x"},
				"appearance": appearance}
			b, _ := json.Marshal(map[string]any{"authorization": token, "config": cfg})
			if code, out := g.post(t, "/payments/v1/form", map[string]string{"Origin": g.shopURL}, string(b)); code != 200 || out["code"] != "00" {
				t.Errorf("appearance %s: %d %v", a, code, out)
			}
		}
	})
}
