package kassa_test

import (
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/kassa-pay/kassa"
)

var idPattern = regexp.MustCompile(`^pay_[0-9a-hjkmnp-tv-z]{26}$`)

func TestNewIDFormat(t *testing.T) {
	t.Parallel()
	before := time.Now().UnixMilli()
	id := kassa.NewID("pay")
	after := time.Now().UnixMilli()
	if !idPattern.MatchString(id) {
		t.Fatalf("NewID = %q, want pay_ + 26 Crockford base32 characters", id)
	}
	// The first 10 characters carry the 48-bit millisecond timestamp.
	var ms int64
	for _, c := range id[4:14] {
		ms = ms<<5 | int64(crockfordValue(c))
	}
	if ms < before || ms > after+1 {
		t.Errorf("timestamp in %s = %d, want within [%d, %d]", id, ms, before, after)
	}
}

func crockfordValue(c rune) int {
	const alphabet = "0123456789abcdefghjkmnpqrstvwxyz"
	for i, a := range alphabet {
		if a == c {
			return i
		}
	}
	return -1
}

// TestNewIDSortsByCreation: cursor pagination and event order read IDs as
// creation order, so IDs made one after another, even within one
// millisecond and from several goroutines, must be strictly increasing.
func TestNewIDSortsByCreation(t *testing.T) {
	t.Parallel()
	prev := kassa.NewID("evt")
	for i := 0; i < 20000; i++ {
		id := kassa.NewID("evt")
		if id <= prev {
			t.Fatalf("NewID #%d = %s, not after %s", i, id, prev)
		}
		prev = id
	}

	var wg sync.WaitGroup
	seen := make([][]string, 8)
	for g := range seen {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 2000; i++ {
				seen[g] = append(seen[g], kassa.NewID("txn"))
			}
		}()
	}
	wg.Wait()
	uniq := map[string]bool{}
	for _, ids := range seen {
		for i, id := range ids {
			if uniq[id] {
				t.Fatalf("duplicate ID %s", id)
			}
			uniq[id] = true
			if i > 0 && id <= ids[i-1] {
				t.Fatalf("IDs of one goroutine out of order: %s after %s", id, ids[i-1])
			}
		}
	}
}

func TestRandomToken(t *testing.T) {
	t.Parallel()
	tok := regexp.MustCompile(`^[0-9a-hjkmnp-tv-z]+$`)
	for n, want := range map[int]int{1: 2, 5: 8, 16: 26, 24: 39, 32: 52} {
		a, b := kassa.RandomToken(n), kassa.RandomToken(n)
		if len(a) != want || !tok.MatchString(a) {
			t.Errorf("RandomToken(%d) = %q (len %d), want %d Crockford characters", n, a, len(a), want)
		}
		if n >= 5 && a == b {
			t.Errorf("RandomToken(%d) repeated %q", n, a)
		}
	}
}
