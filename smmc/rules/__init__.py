"""Rules as code: Prometheus rules, promtool tests and alert docs generated from rules/thresholds.yml."""
