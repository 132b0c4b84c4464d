package store

// Test hooks: the dashboard's statements, for their query plans
// (dashboard_plan_test.go).
var (
	SearchPaymentsSQL   = searchPaymentsSQL
	LedgerAggregatesSQL = ledgerAggregatesSQL
)
