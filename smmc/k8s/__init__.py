"""Kubernetes manifests and prometheus-operator resources generated from the repository's own sources.

`smmc k8s generate` writes deploy/kubernetes/ from rules/*.rules.yml, prometheus/prometheus.yml,
alertmanager/alertmanager.yml, alertmanager/actions.yml and alertmanager/templates/; `smmc k8s check`
fails when those files are stale or when a manifest does not validate against the Kubernetes and
prometheus-operator schemas.
"""
