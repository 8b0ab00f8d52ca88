"""Helpers of the infra checks: a Bicep reader, the wiring/security/alert checks, a KQL subset checker, checkov runs
and a fake Azure CLI."""
