"""The entry points that take ids or paths (`estimate_training`, `plan_training`, `estimate_inference`,
`rent_vs_buy`, ...): they resolve them through the catalog once and call the pure core."""
