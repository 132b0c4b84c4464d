package store_test

import (
	"testing"
	"time"

	"github.com/kassa-pay/kassa"
	"github.com/kassa-pay/kassa/internal/store"
	"github.com/kassa-pay/kassa/internal/store/storetest"
)

// The history entry written with a ledger row (in the same statement on
// PostgreSQL, queries.go) records the row's status, time, code and message
// at each change: the decline code of a failure, else the response code.
func TestTransactionHistoryEntries(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		seedMerchant(t, db, "mer_1")
		insert(t, db, func(tx kassa.Tx) error { return tx.InsertPayment(bg, newPayment("pay_1", "mer_1", false)) })
		x := txn("txn_1", "pay_1", kassa.TxnSale, kassa.TxnPending, 1000, at)
		x.Message = "sent"
		insert(t, db, func(tx kassa.Tx) error { return tx.InsertTransaction(bg, x) })

		x.Status, x.ResponseCode, x.DeclineCode, x.Message, x.Updated = kassa.TxnFailed, "05", "card_declined", "Declined", at.Add(time.Second)
		insert(t, db, func(tx kassa.Tx) error { return tx.UpdateTransaction(bg, x) })
		x.Status, x.DeclineCode, x.Message, x.Updated = kassa.TxnSucceeded, "", "Approved", at.Add(2*time.Second)
		insert(t, db, func(tx kassa.Tx) error { return tx.UpdateTransaction(bg, x) })

		all, err := db.Transactions(bg, []string{"pay_1"}, true)
		if err != nil || len(all["pay_1"]) != 1 {
			t.Fatalf("transactions: %v, %v", all, err)
		}
		want := []kassa.TxnStatusChange{
			{Status: kassa.TxnPending, At: at, Message: "sent"},
			{Status: kassa.TxnFailed, At: at.Add(time.Second), Code: "card_declined", Message: "Declined"},
			{Status: kassa.TxnSucceeded, At: at.Add(2 * time.Second), Code: "05", Message: "Approved"},
		}
		h := all["pay_1"][0].History
		if len(h) != len(want) {
			t.Fatalf("history %+v, want %+v", h, want)
		}
		for i := range want {
			if h[i].Status != want[i].Status || !h[i].At.Equal(want[i].At) || h[i].Code != want[i].Code || h[i].Message != want[i].Message {
				t.Errorf("history[%d] = %+v, want %+v", i, h[i], want[i])
			}
		}

		// A failed update leaves no history entry behind.
		err = db.Write(bg, func(tx kassa.Tx) error {
			return tx.UpdateTransaction(bg, txn("txn_none", "pay_1", kassa.TxnSale, kassa.TxnFailed, 1, at))
		})
		if kassa.ErrorKind(err) != kassa.ENOTFOUND {
			t.Errorf("update of a missing row: %v, want not found", err)
		}
		var n int
		if err := db.SQL().QueryRow(`SELECT COUNT(*) FROM transaction_history`).Scan(&n); err != nil || n != 3 {
			t.Errorf("%d history rows, %v; want 3", n, err)
		}
	})
}
