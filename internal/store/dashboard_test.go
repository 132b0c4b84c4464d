package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/kassa-pay/kassa"
	"github.com/kassa-pay/kassa/internal/engine"
	"github.com/kassa-pay/kassa/internal/processor"
	"github.com/kassa-pay/kassa/internal/store"
	"github.com/kassa-pay/kassa/internal/store/storetest"
)

func dashEngine(t *testing.T, db *store.DB) (*engine.Engine, *engine.MerchantCredentials) {
	t.Helper()
	sim := processor.NewSimulator(db.SQL(), "http://127.0.0.1:1")
	eng := engine.New(db, sim, engine.Config{BaseURL: "http://127.0.0.1:1"}, nil)
	c, err := eng.CreateMerchant(context.Background(), "Dash", "")
	if err != nil {
		t.Fatal(err)
	}
	return eng, c
}

func dashPay(t *testing.T, eng *engine.Engine, pr kassa.Principal, amount int64, cur, order, email, number string) *engine.PaymentDetail {
	t.Helper()
	ctx := context.Background()
	d, err := eng.CreatePayment(ctx, pr, engine.PaymentParams{Amount: amount, Currency: cur, OrderID: order,
		Customer: &kassa.Customer{Email: email}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if number == "" {
		return d
	}
	d2, err := eng.ConfirmPayment(ctx, pr, d.Payment.ID, &kassa.Card{Number: number, ExpMonth: 12, ExpYear: 2040, CVC: "123"})
	if d2 == nil {
		t.Fatalf("confirm: %v", err)
	}
	return d2
}

func TestDashboardUsersAndSessions(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		eng, c := dashEngine(t, db)
		other, err := eng.CreateMerchant(ctx, "Other", "")
		if err != nil {
			t.Fatal(err)
		}
		admin, err := eng.CreateUser(ctx, c.Merchant.ID, "Admin@Shop.Example", "correct horse battery", engine.RoleAdmin)
		if err != nil {
			t.Fatal(err)
		}
		if admin.Email != "admin@shop.example" {
			t.Fatalf("email not normalized: %q", admin.Email)
		}
		if _, err := eng.CreateUser(ctx, other.Merchant.ID, "admin@shop.example", "another password!", engine.RoleAdmin); kassa.ErrorCode(err) != "email_taken" {
			t.Fatalf("duplicate email: %v", err)
		}
		if _, err := eng.CreateUser(ctx, c.Merchant.ID, "short@shop.example", "short", engine.RoleAdmin); kassa.ErrorCode(err) != "password_too_short" {
			t.Fatalf("short password: %v", err)
		}

		s, token, err := eng.Login(ctx, "ADMIN@shop.example", "correct horse battery")
		if err != nil {
			t.Fatal(err)
		}
		got, err := eng.SessionByToken(ctx, token)
		if err != nil || got.UserID != admin.ID || got.MerchantID != c.Merchant.ID || got.User.Role != engine.RoleAdmin || !got.CheckCSRF(s.CSRFToken) {
			t.Fatalf("session: %+v %v", got, err)
		}
		if got.CheckCSRF("") || got.CheckCSRF(s.CSRFToken+"x") {
			t.Fatal("CSRF check accepts a wrong token")
		}
		if err := eng.SetSessionMode(ctx, got, true); err != nil {
			t.Fatal(err)
		}
		if got, _ = eng.SessionByToken(ctx, token); !got.Livemode || !got.Principal().Livemode {
			t.Fatal("mode switch not stored")
		}
		if err := eng.Logout(ctx, got); err != nil {
			t.Fatal(err)
		}
		if _, err := eng.SessionByToken(ctx, token); kassa.ErrorCode(err) != "session_invalid" {
			t.Fatalf("session after logout: %v", err)
		}

		// Lockout: MaxLoginFailures wrong passwords lock the account, and
		// then even the right password is refused.
		for i := 1; i <= engine.MaxLoginFailures; i++ {
			_, _, err := eng.Login(ctx, "admin@shop.example", "wrong password")
			want := "login_failed"
			if i == engine.MaxLoginFailures {
				want = "account_locked"
			}
			if kassa.ErrorCode(err) != want {
				t.Fatalf("failure %d: %v, want %s", i, err, want)
			}
		}
		if _, _, err := eng.Login(ctx, "admin@shop.example", "correct horse battery"); kassa.ErrorCode(err) != "account_locked" {
			t.Fatalf("locked account accepted the right password: %v", err)
		}
		if _, _, err := eng.Login(ctx, "nobody@shop.example", "whatever"); kassa.ErrorCode(err) != "login_failed" {
			t.Fatalf("unknown email: %v", err)
		}

		// Invitations: the invited user logs in only after choosing a password.
		viewer, token2, err := eng.InviteUser(ctx, admin, "viewer@shop.example", engine.RoleViewer)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := eng.Login(ctx, "viewer@shop.example", ""); kassa.ErrorCode(err) != "login_failed" {
			t.Fatalf("pending user logged in: %v", err)
		}
		if _, _, err := eng.InviteUser(ctx, viewer, "x@shop.example", engine.RoleAdmin); kassa.ErrorCode(err) != "forbidden" {
			t.Fatalf("viewer invited: %v", err)
		}
		if _, err := eng.AcceptInvitation(ctx, token2, "viewer password 1"); err != nil {
			t.Fatal(err)
		}
		if _, err := eng.AcceptInvitation(ctx, token2, "viewer password 2"); kassa.ErrorCode(err) != "invitation_invalid" {
			t.Fatalf("invitation reused: %v", err)
		}
		vs, _, err := eng.Login(ctx, "viewer@shop.example", "viewer password 1")
		if err != nil || vs.User.CanWrite() {
			t.Fatalf("viewer login: %v", err)
		}
		users, err := eng.ListUsers(ctx, c.Merchant.ID)
		if err != nil || len(users) != 2 {
			t.Fatalf("users: %d %v", len(users), err)
		}
		if others, _ := eng.ListUsers(ctx, other.Merchant.ID); len(others) != 0 {
			t.Fatal("another merchant lists this merchant's users")
		}
		otherAdmin, err := eng.CreateUser(ctx, other.Merchant.ID, "boss@other.example", "other password 1", engine.RoleAdmin)
		if err != nil {
			t.Fatal(err)
		}
		if err := eng.RemoveUser(ctx, otherAdmin, viewer.ID); kassa.ErrorKind(err) != kassa.ENOTFOUND {
			t.Fatalf("removed another merchant's user: %v", err)
		}
		if err := eng.RemoveUser(ctx, admin, viewer.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := eng.SessionByToken(ctx, "ses_"+vs.IDHash); err == nil {
			t.Fatal("bogus token accepted")
		}
	})
}

func TestDashboardSearchOverviewAndKeys(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		eng, c := dashEngine(t, db)
		pr, err := eng.Authenticate(ctx, c.SecretKey)
		if err != nil {
			t.Fatal(err)
		}
		a := dashPay(t, eng, pr, 1250, "USD", "ord-1", "Ann@Example.com", "4242424242424242")
		b := dashPay(t, eng, pr, 5000, "USD", "ord-2", "bob@example.com", "5555555555554444")
		dashPay(t, eng, pr, 700, "USD", "ord-3", "cy@example.com", "4000000000009995") // declined
		j := dashPay(t, eng, pr, 300, "JPY", "ord-4", "", "")
		other, _ := eng.CreateMerchant(ctx, "Other", "")
		opr, _ := eng.Authenticate(ctx, other.SecretKey)
		dashPay(t, eng, opr, 999, "USD", "ord-1", "ann@example.com", "4242424242424242")

		search := func(f engine.PaymentSearch) []string {
			t.Helper()
			ds, _, err := eng.SearchPayments(ctx, pr, f)
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, d := range ds {
				ids = append(ids, d.Payment.ID)
			}
			return ids
		}
		one := func(name string, got []string, want string) {
			t.Helper()
			if len(got) != 1 || got[0] != want {
				t.Fatalf("%s: %v, want [%s]", name, got, want)
			}
		}
		one("by email", search(engine.PaymentSearch{Query: "ANN@example.com"}), a.Payment.ID)
		one("by order", search(engine.PaymentSearch{Query: "ord-2"}), b.Payment.ID)
		one("by id", search(engine.PaymentSearch{Query: j.Payment.ID}), j.Payment.ID)
		one("by last4", search(engine.PaymentSearch{Query: "4444"}), b.Payment.ID)
		one("by currency", search(engine.PaymentSearch{Currency: "JPY"}), j.Payment.ID)
		one("by amount", search(engine.PaymentSearch{Currency: "USD", AmountMin: 1000, AmountMax: 2000}), a.Payment.ID)
		if got := search(engine.PaymentSearch{Status: kassa.StatusSucceeded}); len(got) != 2 {
			t.Fatalf("succeeded: %v", got)
		}
		future := time.Now().Add(time.Hour)
		if got := search(engine.PaymentSearch{CreatedGTE: &future}); len(got) != 0 {
			t.Fatalf("created after now: %v", got)
		}
		if _, _, err := eng.SearchPayments(ctx, pr, engine.PaymentSearch{AmountMin: 5}); kassa.ErrorCode(err) != "parameter_missing" {
			t.Fatalf("amount without currency: %v", err)
		}
		// Cursor pagination walks all four, newest first, without repeats.
		var all []string
		after := ""
		for {
			ds, more, err := eng.SearchPayments(ctx, pr, engine.PaymentSearch{Page: kassa.Page{Limit: 3, StartingAfter: after}})
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range ds {
				all = append(all, d.Payment.ID)
			}
			if !more {
				break
			}
			after = ds[len(ds)-1].Payment.ID
		}
		if len(all) != 4 || all[0] != j.Payment.ID {
			t.Fatalf("pages: %v", all)
		}

		if _, err := eng.CreateRefund(ctx, pr, engine.RefundParams{PaymentID: a.Payment.ID, Amount: ptr(int64(250))}); err != nil {
			t.Fatal(err)
		}
		o, err := eng.Overview(ctx, pr)
		if err != nil {
			t.Fatal(err)
		}
		if len(o.Currencies) != 1 || o.Currencies[0].Currency != "USD" {
			t.Fatalf("currencies: %+v", o.Currencies)
		}
		usd := o.Currencies[0]
		for name, f := range map[string]engine.Figures{"today": usd.Today, "window": usd.Window, "last day": usd.Days[engine.OverviewDays-1]} {
			if f.Volume != 6250 || f.Payments != 2 || f.Attempts != 3 || f.Refunded != 250 ||
				len(f.Declines) != 1 || f.Declines[0].Code != "insufficient_funds" || f.Declines[0].Count != 1 {
				t.Fatalf("%s: %+v", name, f)
			}
		}
		if usd.Days[0].Attempts != 0 {
			t.Fatalf("first day: %+v", usd.Days[0])
		}

		// Rolling the secret key: the old key stops at once, the new works.
		sk, err := eng.RollSecretKey(ctx, c.Merchant.ID, false)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := eng.Authenticate(ctx, c.SecretKey); kassa.ErrorKind(err) != kassa.EUNAUTHORIZED {
			t.Fatalf("old key after roll: %v", err)
		}
		if p2, err := eng.Authenticate(ctx, sk); err != nil || p2.MerchantID != c.Merchant.ID {
			t.Fatalf("new key: %v", err)
		}
		keys, err := eng.APIKeys(ctx, c.Merchant.ID, false)
		if err != nil || len(keys) != 2 {
			t.Fatalf("keys: %d %v", len(keys), err)
		}
		live, err := eng.RollSecretKey(ctx, c.Merchant.ID, true)
		if err != nil {
			t.Fatal(err)
		}
		lp, err := eng.Authenticate(ctx, live)
		if err != nil || !lp.Livemode {
			t.Fatalf("live key: %+v %v", lp, err)
		}
		if lk, _ := eng.APIKeys(ctx, c.Merchant.ID, true); len(lk) != 2 {
			t.Fatalf("live keys: %d", len(lk))
		}
	})
}

func ptr[T any](v T) *T { return &v }
